"""The projection routes asked about the past on both time axes: what the system knew at a
record time (`as_of_recorded_at`) and what had happened by a business date (`in_force_on`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx

from events.envelope import format_timestamp
from service.cli import record_demo
from tests._owners import els_of
from tests.conftest import Api

IMEC = "agreement-imec-rapidus-2022"
LAST_YEAR = dt.datetime.now(dt.UTC).year - 1


async def get(api: Api, url: str, **params: Any) -> httpx.Response:
    return await api.client.get(url, params=params, headers=api.auth("viewer"))


async def record(api: Api, *events: dict[str, Any]) -> int:
    response = await api.client.post(
        f"/streams/{IMEC}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    return position


def amended(on: dt.date, summary: str) -> dict[str, Any]:
    return {
        "type": "AgreementAmended",
        "occurred_at": f"{on.isoformat()}T09:00:00Z",
        "data": {"amended_on": on.isoformat(), "summary": summary},
    }


def amendments(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["summary"] for a in response.json()["partnership"]["amendments"]]


async def test_a_late_recorded_fact_is_in_force_last_year_but_was_not_known_then(
    api: Api,
) -> None:
    await record_demo(api.services.store)  # signed 2022-12-06 (business time), recorded now
    await asyncio.sleep(0.01)
    known_before = format_timestamp(dt.datetime.now(dt.UTC))
    await asyncio.sleep(0.01)
    last_year = dt.date(LAST_YEAR, 3, 1)
    late = await record(api, amended(last_year, "scope widened to photonics"))
    url = f"/partnerships/{IMEC}"

    # In force on a day of last year: the fact had happened by then, as far as we know now.
    in_force = await get(api, url, in_force_on=f"{LAST_YEAR}-06-30")
    assert amendments(in_force) == ["scope widened to photonics"]
    assert in_force.json()["position"] == late
    # ... but not on the day before it happened.
    assert amendments(await get(api, url, in_force_on=f"{LAST_YEAR}-02-28")) == []

    # Known at a time before it was recorded: not there, however early its business date.
    assert amendments(await get(api, url, as_of_recorded_at=known_before)) == []
    both = await get(api, url, as_of_recorded_at=known_before, in_force_on=f"{LAST_YEAR}-06-30")
    assert amendments(both) == []
    # Known at a time last year: nothing of this register had been recorded yet.
    then = await get(api, url, as_of_recorded_at=f"{LAST_YEAR}-06-30T00:00:00Z")
    assert then.status_code == 404
    # Known now: there.
    now = format_timestamp(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert amendments(await get(api, url, as_of_recorded_at=now)) == ["scope widened to photonics"]


async def test_a_record_time_answers_at_the_last_position_recorded_by_then(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await record_demo(api.services.store)
    head = await api.head()
    await asyncio.sleep(0.01)
    between = format_timestamp(dt.datetime.now(dt.UTC))
    await asyncio.sleep(0.01)
    await record(api, amended(dt.date(2023, 1, 5), "later"))

    for url in (
        f"/partnerships/{IMEC}",
        "/partnerships",
        "/owners",
        f"/owners/{els}",
        "/delegations",
    ):
        response = await get(api, url, as_of_recorded_at=between)
        assert response.status_code == 200, (url, response.text)
        assert response.json()["position"] == head, url
        by_position = await get(api, url, as_of_position=head)
        assert response.content == by_position.content, url


async def test_in_force_on_filters_every_read_model(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await record_demo(api.services.store)
    # imec-Rapidus was signed on 2022-12-06, the demo's two others before.
    early = await get(api, "/partnerships", in_force_on="2022-12-05")
    assert [p["agreement_id"] for p in early.json()["partnerships"]] == [
        "agreement-fit-jetro-2022",
        "agreement-settlemint-fujitsu-2022",
    ]
    head = await api.head()
    assert early.json()["position"] == head
    signed = await get(api, "/partnerships", in_force_on="2022-12-06")
    assert len(signed.json()["partnerships"]) == 3
    assert (await get(api, f"/partnerships/{IMEC}", in_force_on="2022-12-05")).status_code == 404
    owners = await get(api, "/owners", in_force_on="2022-12-05")
    assert els not in [o["owner_id"] for o in owners.json()["owners"]]
    (mission,) = (await get(api, "/delegations", in_force_on="2022-12-31")).json()["delegations"]
    assert (await get(api, "/delegations", in_force_on="2020-01-01")).json()["delegations"] == []
    live = await get(api, f"/delegations/{mission['delegation_id']}", wait_for_position=head)
    document = live.json()["delegation"]
    assert {key: document[key] for key in mission} == mission


async def test_bad_times_and_dates_are_refused(api: Api) -> None:
    for params in (
        {"as_of_recorded_at": "yesterday"},
        {"as_of_recorded_at": "2023-01-01T00:00:00"},  # no zone: ambiguous
        {"in_force_on": "2023-02-30"},
    ):
        response = await get(api, "/partnerships", **params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["path"] == f"query.{next(iter(params))}"


async def test_a_record_time_is_an_rfc3339_string_in_the_logs_years(api: Api) -> None:
    """What the document says: a number is not a time, and a time without a UTC equivalent
    (year 1 at +14:00) is refused by name, not answered with a server error."""
    for route in ("/partnerships", "/owners", "/delegations", f"/partnerships/{IMEC}"):
        for value in (
            "0.5",
            "1700000000",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2023-02-30T00:00:00Z",
        ):
            response = await get(api, route, as_of_recorded_at=value)
            assert response.status_code == 422, (route, value, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["errors"][0]["path"] == "query.as_of_recorded_at"
    accepted = await get(api, "/owners", as_of_recorded_at="1900-01-01T00:00:00+14:00")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["owners"] == []


async def test_an_event_recorded_without_business_time_is_in_force_from_its_record_day(
    api: Api,
) -> None:
    await record_demo(api.services.store)
    event = {
        k: v for k, v in amended(dt.date(2023, 1, 1), "photonics").items() if k != "occurred_at"
    }
    position = await record(api, event)
    (stored,) = [
        e
        for e in (
            await api.client.get(f"/streams/{IMEC}/events", headers=api.auth("auditor"))
        ).json()["events"]
        if e["position"] == position
    ]
    day = dt.date.fromisoformat(stored["recorded_at"][:10])
    url = f"/partnerships/{IMEC}"
    assert amendments(await get(api, url, in_force_on=day.isoformat())) == ["photonics"]
    assert (
        amendments(await get(api, url, in_force_on=(day - dt.timedelta(days=1)).isoformat())) == []
    )
