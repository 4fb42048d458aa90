"""An owner's document stays bounded: counts of everything, agreements and open and overdue
follow-ups up to `owner_follow_ups_shown`, completed and cancelled ones only counted."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.cli import record_demo
from service.settings import Settings
from tests._owners import els_of
from tests.conftest import Api
from tests.test_paging import FIT_TOKYO, append, applied, event, fetch, ids, sign


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, owner_follow_ups_shown=1)


async def test_an_owner_document_lists_open_follow_ups_up_to_its_limit(api: Api) -> None:
    await record_demo(api.services.store)
    imec = "imec-rapidus-2022"
    opened = [
        event(
            "FollowUpOpened",
            follow_up_id=f"f-{n}",
            title=f"task {n}",
            owner=FIT_TOKYO,
            due_on=f"2023-0{n}-01",
        )
        for n in range(1, 4)
    ]
    await append(api, imec, *opened)
    done = event("FollowUpCompleted", follow_up_id="f-3", completed_on="2023-02-15")
    await applied(api, await append(api, imec, done))

    els = await els_of(api.services.store.engine)
    owner = (await fetch_one(api, f"/owners/{els}"))["owner"]
    assert owner["counts"] == {"open": 2, "overdue": 2, "completed": 1, "cancelled": 0}
    assert [f["follow_up_id"] for f in owner["open"]] == ["f-1"]
    assert [f["follow_up_id"] for f in owner["overdue"]] == ["f-1"]
    assert "completed" not in owner and "/follow-ups" in owner["elsewhere"]
    head = await api.head()
    replayed = await api.client.get(
        f"/owners/{els}", params={"as_of_position": head}, headers=api.auth("viewer")
    )
    assert replayed.json()["owner"] == owner  # the tables' bounded read equals a replay
    listed = await fetch(api, "/owners")
    summary = next(o for o in listed["owners"] if o["owner_id"] == els)
    assert summary["counts"] == owner["counts"] and summary["next_due_on"] == "2023-01-01"


async def test_an_owner_document_lists_agreements_up_to_its_limit_and_counts_them_all(
    api: Api,
) -> None:
    await record_demo(api.services.store)
    await sign(api, "another-moc")
    assigned = event(
        "ResponsibilityAssigned", owner=FIT_TOKYO, assigned_by="FIT", assigned_on="2023-01-02"
    )
    await applied(api, await append(api, "another-moc", assigned))

    els = await els_of(api.services.store.engine)
    owner = (await fetch_one(api, f"/owners/{els}"))["owner"]
    assert owner["agreement_count"] == 2
    assert [a["agreement_id"] for a in owner["agreements"]] == ["agreement-another-moc"]
    assert "/partnerships?owner=" in owner["elsewhere"]
    replayed = await api.client.get(
        f"/owners/{els}", params={"as_of_position": await api.head()}, headers=api.auth("viewer")
    )
    assert replayed.json()["owner"] == owner
    everyone = ids(await fetch(api, "/partnerships", owner=els))
    assert len(everyone) == 2 and "agreement-another-moc" in everyone


async def fetch_one(api: Api, url: str) -> dict[str, Any]:
    response = await api.client.get(url, headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
