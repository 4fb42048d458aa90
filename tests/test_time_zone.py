"""Today in the agency's time zone: for the Tokyo office a follow-up due on the 1st is
overdue once the 2nd has begun in Tokyo, while it is still the 1st in UTC."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from service.settings import Settings
from tests.conftest import Api

# 23:30 UTC on 1 February is 08:30 on 2 February in Tokyo.
INSTANT = dt.datetime(2026, 2, 1, 23, 30, tzinfo=dt.UTC)
OWNER = {"unit": "FIT Tokyo office"}


@pytest.fixture(params=["UTC", "Asia/Tokyo"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return dataclasses.replace(settings, today=None, time_zone=request.param, clock=lambda: INSTANT)


def test_today_is_the_date_in_the_agency_s_time_zone() -> None:
    base = Settings(database_url="sqlite+aiosqlite://", clock=lambda: INSTANT)
    assert base.current_date() == dt.date(2026, 2, 1)
    assert dataclasses.replace(base, time_zone="Asia/Tokyo").current_date() == dt.date(2026, 2, 2)
    assert Settings.from_env(
        {"AGREEMENTS_TIME_ZONE": "Asia/Tokyo"}, clock=lambda: INSTANT
    ).current_date() == dt.date(2026, 2, 2)


def test_an_unknown_time_zone_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="AGREEMENTS_TIME_ZONE"):
        Settings.from_env({"AGREEMENTS_TIME_ZONE": "Mars/Olympus"})


async def test_overdue_turns_at_midnight_in_the_agency_s_zone(api: Api) -> None:
    def event(type_name: str, /, **data: Any) -> dict[str, Any]:
        return {"type": type_name, "data": data}

    response = await api.client.post(
        "/streams/agreement-tokyo-2026/events",
        json={
            "events": [
                event(
                    "AgreementSigned",
                    kind="MoU",
                    title="Tokyo MoU",
                    parties=[{"organisation": "FIT"}, {"organisation": "JETRO"}],
                    signed_on="2026-01-10",
                ),
                event(
                    "FollowUpOpened",
                    follow_up_id="visit",
                    title="Visit",
                    owner=OWNER,
                    due_on="2026-02-01",
                ),
            ]
        },
        headers=api.auth("recorder"),
    )
    assert response.status_code == 201, response.text
    head = response.json()["to_position"]
    got = await api.client.get(
        "/owners/fit-tokyo-office",
        params={"wait_for_position": head},
        headers=api.auth("viewer"),
    )
    assert got.status_code == 200, got.text
    overdue = got.json()["owner"]["counts"]["overdue"]
    assert overdue == (1 if api.services.settings.time_zone == "Asia/Tokyo" else 0)
