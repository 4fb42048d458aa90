"""An owner's document stays bounded: counts of everything, agreements and open and overdue
follow-ups up to `owner_follow_ups_shown`, completed and cancelled ones only counted."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from projections import owners
from projections.schema import LIVE
from service.cli import record_demo
from service.settings import Settings
from tests._owners import els_of, owner_of
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


ANNA = {"unit": "IMEC Leuven", "person": {"name": "Anna Peeters"}}
JAN = {"unit": "IMEC Leuven", "person": {"name": "Jan Smet"}}


async def kept_and_recounted(api: Api) -> tuple[dict[str, tuple[int, ...]], dict[str, Any]]:
    """The owners' counts as `owner_counts` keeps them, and as counted from their rows."""
    items = LIVE.owner_items
    kept = owners.counts_table(items)
    async with api.services.store.engine.connect() as connection:
        stored = {
            row[0]: tuple(row[1:])
            for row in await connection.execute(
                select(kept.c.owner_id, *(kept.c[name] for name in owners.COUNTS))
            )
        }
        recounted: dict[str, list[int]] = {}
        rows = await connection.execute(
            select(items.c.owner_id, items.c.state, func.count()).group_by(
                items.c.owner_id, items.c.state
            )
        )
        for owner_id, state, number in rows:
            counts = recounted.setdefault(owner_id, [0] * len(owners.COUNTS))
            counts[0 if state is None else owners.COUNTS.index(f"{state}_count")] += number
    return stored, {owner_id: tuple(counts) for owner_id, counts in recounted.items()}


async def documents(api: Api, owner_ids: Any = None, **params: Any) -> dict[str, Any]:
    """The documents of `owner_ids` (default: every owner listed now), as of `params` when
    given, by owner id."""
    if owner_ids is None:
        owner_ids = ids(await fetch(api, "/owners", limit=1000), "owners", "owner_id")
    found = {}
    for owner_id in owner_ids:
        response = await api.client.get(
            f"/owners/{owner_id}", params=params or None, headers=api.auth("viewer")
        )
        if response.status_code == 200:
            found[owner_id] = response.json()["owner"]
    return found


async def test_an_owners_kept_counts_follow_every_change_rebuild_and_the_past(api: Api) -> None:
    """The counts an owner's document reads from `owner_counts` are its rows' counts after
    each live batch (follow-ups opened, completed, cancelled, reopened and reassigned, the
    agreement handed to another owner, an owner left with nothing), after a rebuild, and
    equal to a replay as of the same position and of an earlier one."""
    await record_demo(api.services.store)
    imec = "imec-rapidus-2022"
    opened = [
        event(
            "FollowUpOpened",
            follow_up_id=f"k-{n}",
            title=f"task {n}",
            owner=FIT_TOKYO,
            due_on=f"2023-0{n}-01",
        )
        for n in range(1, 7)
    ]
    await applied(api, await append(api, imec, *opened))
    closed = [
        event("FollowUpCompleted", follow_up_id="k-1", completed_on="2023-02-15"),
        event("FollowUpCompleted", follow_up_id="k-2", completed_on="2023-02-15"),
        event("FollowUpCancelled", follow_up_id="k-3", cancelled_on="2023-02-16", reason="moot"),
        event("FollowUpReassigned", follow_up_id="k-4", owner=ANNA),
    ]
    earlier = await append(api, imec, *closed)
    await applied(api, earlier)
    stored, recounted = await kept_and_recounted(api)
    assert stored == recounted
    els = await els_of(api.services.store.engine)
    anna = await owner_of(api.services.store.engine, "IMEC Leuven", "Anna Peeters")
    before = await documents(api)
    assert before[els]["counts"] == {"open": 2, "overdue": 0, "completed": 2, "cancelled": 1}
    assert before[anna]["counts"] == {"open": 1, "overdue": 0, "completed": 0, "cancelled": 0}

    later = [
        event("FollowUpReopened", follow_up_id="k-1", reopened_on="2023-03-01", reason="again"),
        event("FollowUpReassigned", follow_up_id="k-4", owner=FIT_TOKYO),
        event("ResponsibilityAssigned", owner=JAN, assigned_by="IMEC", assigned_on="2023-03-02"),
    ]
    await applied(api, await append(api, imec, *later))
    stored, recounted = await kept_and_recounted(api)
    assert stored == recounted
    assert anna not in stored  # her one follow-up went back: no rows, no counts
    now = await documents(api)
    assert anna not in now
    assert now[els]["counts"] == {"open": 4, "overdue": 1, "completed": 1, "cancelled": 1}
    head = await api.head()
    assert await documents(api, as_of_position=head) == now
    assert await documents(api, before, as_of_position=earlier) == before

    assert api.services.projections is not None
    await api.services.projections.rebuild()
    stored_after, _ = await kept_and_recounted(api)
    assert stored_after == stored
    assert await documents(api) == now
