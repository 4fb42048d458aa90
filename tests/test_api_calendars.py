"""Owners' calendar feeds over HTTP, on both databases: parsed back with `icalendar` (DUE,
STATUS, a stable UID, SEQUENCE growing after a change), ETag and 304, and feed keys that
open one feed only, are stored hashed and stop working once revoked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar

from service import calendar_keys
from tests._owners import els_of
from tests.conftest import Api, signed

FIT_TOKYO = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}
OTHER = {"unit": "JETRO Brussels", "person": {"name": "佐藤花子"}}


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": "2023-01-10T09:00:00Z", "data": data}


async def record(api: Api, name: str, *events: dict[str, Any]) -> int:
    response = await api.client.post(
        f"/streams/agreement-{name}/events",
        json={"events": list(events)},
        headers=api.auth("recorder"),
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    await api.client.get(
        "/follow-ups", params={"wait_for_position": position}, headers=api.auth("viewer")
    )
    return position


async def register(api: Api) -> None:
    await record(
        api,
        "alpha",
        signed(title="Alpha MoC"),
        event(
            "FollowUpOpened",
            follow_up_id="visit",
            title="Visit, with 佐藤",
            owner=FIT_TOKYO,
            due_on="2023-02-01",
        ),
        event(
            "FollowUpOpened",
            follow_up_id="report",
            title="Report",
            owner=FIT_TOKYO,
            due_on="2023-05-01",
        ),
        event(
            "FollowUpOpened", follow_up_id="other", title="Other", owner=OTHER, due_on="2023-05-01"
        ),
    )


def todos(body: bytes) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(todo["uid"]): todo for todo in calendar.walk("VTODO")}


async def test_the_feed_lists_the_owners_follow_ups_and_sequence_grows(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await register(api)
    response = await api.client.get(f"/owners/{els}/calendar.ics", headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    before = todos(response.content)
    assert set(before) == {"agreement-alpha.visit@agreements", "agreement-alpha.report@agreements"}
    visit = before["agreement-alpha.visit@agreements"]
    assert str(visit["summary"]) == "Visit, with 佐藤"
    assert visit.decoded("due").isoformat() == "2023-02-01"
    assert str(visit["status"]) == "NEEDS-ACTION"

    await record(
        api,
        "alpha",
        event("FollowUpCompleted", follow_up_id="visit", completed_on="2023-01-30"),
    )
    again = await api.client.get(
        f"/owners/{els}/calendar.ics",
        headers={**api.auth("viewer"), "If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 200
    after = todos(again.content)
    done = after["agreement-alpha.visit@agreements"]
    assert str(done["status"]) == "COMPLETED"
    assert int(done["sequence"]) > int(visit["sequence"])

    unchanged = await api.client.get(
        f"/owners/{els}/calendar.ics",
        headers={**api.auth("viewer"), "If-None-Match": again.headers["etag"]},
    )
    assert unchanged.status_code == 304


async def test_a_feed_key_opens_its_one_feed_until_revoked(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await register(api)
    issued = await api.client.post(f"/owners/{els}/calendar-keys", headers=api.auth("recorder"))
    assert issued.status_code == 201, issued.text
    body = issued.json()
    key = body["key"]
    assert body["url"] == f"/owners/{els}/calendar.ics?key={key}"

    feed = await api.client.get(body["url"])
    assert feed.status_code == 200
    assert len(todos(feed.content)) == 2

    other_owner = (await api.client.get("/follow-ups", headers=api.auth("viewer"))).json()
    other_id = next(
        f["owner"]["owner_id"] for f in other_owner["follow_ups"] if f["follow_up_id"] == "other"
    )
    assert (
        await api.client.get(f"/owners/{other_id}/calendar.ics", params={"key": key})
    ).status_code == 401
    assert (await api.client.get("/follow-ups", params={"key": key})).status_code in (401, 422)
    assert (
        await api.client.get("/follow-ups", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 401

    stored = await api.services.store.read_stream(calendar_keys.STREAM)
    assert all(key.encode() not in bytes(event.data) for event in stored)
    assert calendar_keys.hash_key(key).encode() in bytes(stored[0].data)

    revoked = await api.client.delete(
        f"/owners/{els}/calendar-keys/{body['key_id']}", headers=api.auth("recorder")
    )
    assert revoked.status_code == 200, revoked.text
    assert (await api.client.get(body["url"])).status_code == 401
    twice = await api.client.delete(
        f"/owners/{els}/calendar-keys/{body['key_id']}", headers=api.auth("recorder")
    )
    assert twice.status_code == 404


async def test_keys_need_a_recorder_and_feeds_need_credentials(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await register(api)
    refused = await api.client.post(f"/owners/{els}/calendar-keys", headers=api.auth("viewer"))
    assert refused.status_code == 403
    missing = await api.client.post("/owners/nobody/calendar-keys", headers=api.auth("admin"))
    assert missing.status_code == 404
    assert (await api.client.get(f"/owners/{els}/calendar.ics")).status_code == 401
    wrong = await api.client.get(f"/owners/{els}/calendar.ics", params={"key": "cal_nope"})
    assert wrong.status_code == 401
    assert "cal_nope" not in wrong.text


def expiries(body: bytes) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(vevent["uid"]): vevent for vevent in calendar.walk("VEVENT")}


async def test_the_feed_has_an_all_day_event_per_expiry_that_moves_on_renewal(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await register(api)
    await record(
        api,
        "beta",
        signed(title="Beta MoU", expires_on="2026-03-31", renewal="by_decision"),
        event(
            "ResponsibilityAssigned", owner=FIT_TOKYO, assigned_by="Board", assigned_on="2023-01-10"
        ),
    )
    await record(
        api,
        "gamma",
        signed(title="Gamma MoU", expires_on="2026-03-31"),
        event("ResponsibilityAssigned", owner=OTHER, assigned_by="Board", assigned_on="2023-01-10"),
    )
    response = await api.client.get(f"/owners/{els}/calendar.ics", headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    found = expiries(response.content)
    assert set(found) == {"agreement-beta.expiry@agreements"}
    expiry = found["agreement-beta.expiry@agreements"]
    assert str(expiry["summary"]) == "Expires: Beta MoU"
    assert expiry.decoded("dtstart") == dt.date(2026, 3, 31)  # a date: an all-day event
    assert expiry.decoded("dtend") == dt.date(2026, 4, 1)
    assert len(todos(response.content)) == 2  # the follow-ups are still there

    unchanged = await api.client.get(
        f"/owners/{els}/calendar.ics",
        headers={**api.auth("viewer"), "If-None-Match": response.headers["etag"]},
    )
    assert unchanged.status_code == 304
    await record(
        api,
        "beta",
        event("AgreementRenewed", renewed_on="2023-02-01", expires_on="2029-03-31"),
    )
    again = await api.client.get(
        f"/owners/{els}/calendar.ics",
        headers={**api.auth("viewer"), "If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 200
    renewed = expiries(again.content)["agreement-beta.expiry@agreements"]
    assert renewed.decoded("dtstart") == dt.date(2029, 3, 31)
    assert int(renewed["sequence"]) > int(expiry["sequence"])
