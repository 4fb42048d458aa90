"""An agreement's term: expiry, automatic and decided renewals, and the status they give on a
day (`expired` is judged when read, in the agency's time zone, never stored)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from msgspec.structs import replace

from events.catalogue import (
    AgreementRenewed,
    AgreementSigned,
    AgreementTerminated,
    EventData,
    NoteAttached,
    Party,
)
from events.errors import RuleViolation
from events.rules.agreement import AGREEMENT
from projections.partnership_view import Partnership, apply
from projections.term import add_months, next_expiry, status_on
from service.settings import Settings
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("folding_secret")

SIGNED_ON = dt.date(2022, 12, 5)


def signed(**term: Any) -> AgreementSigned:
    return AgreementSigned(
        kind="MoC",
        title="MoC on semiconductors",
        parties=[Party(organisation="imec"), Party(organisation="Rapidus")],
        signed_on=SIGNED_ON,
        **term,
    )


THREE_YEARS = signed(expires_on=dt.date(2025, 12, 4), renewal="by_decision")


def renewed(on: dt.date = dt.date(2025, 11, 1), until: dt.date = dt.date(2028, 12, 4)) -> Any:
    return AgreementRenewed(renewed_on=on, expires_on=until, reason="both parties agreed")


def refusal(past: Sequence[EventData], new: Sequence[EventData]) -> str:
    state = AGREEMENT.fold(AGREEMENT.initial(), past)
    with pytest.raises(RuleViolation) as caught:
        AGREEMENT.check(state, new)
    return caught.value.rule


def accepts(past: Sequence[EventData], new: Sequence[EventData]) -> None:
    AGREEMENT.check(AGREEMENT.fold(AGREEMENT.initial(), past), new)


# -- rules ---------------------------------------------------------------------------------


def test_an_expiry_must_follow_the_start_of_the_term() -> None:
    assert refusal([], [signed(expires_on=SIGNED_ON)]) == "expiry_not_after_start"
    late_start = signed(effective_on=dt.date(2023, 1, 1), expires_on=dt.date(2022, 12, 31))
    assert refusal([], [late_start]) == "expiry_not_after_start"
    accepts([], [signed(expires_on=SIGNED_ON + dt.timedelta(days=1))])
    accepts([], [signed()])  # no term: runs until terminated


def test_a_renewal_needs_an_expiry_and_an_automatic_one_a_term() -> None:
    assert refusal([], [signed(renewal="automatic")]) == "renewal_without_expiry"
    assert refusal([], [signed(renewal="by_decision")]) == "renewal_without_expiry"
    auto = signed(expires_on=dt.date(2023, 12, 4), renewal="automatic")
    assert refusal([], [auto]) == "renewal_term_missing"
    accepts([], [signed(renewal="none")])
    accepts([], [replace(auto, renewal_term_months=12)])


def test_renewing_needs_an_expiry_that_moves_later() -> None:
    assert refusal([signed()], [renewed()]) == "no_expiry_to_renew"
    same = renewed(until=dt.date(2025, 12, 4))
    assert refusal([THREE_YEARS], [same]) == "renewal_expiry_not_later"
    assert refusal([THREE_YEARS, renewed()], [renewed()]) == "renewal_expiry_not_later"
    accepts([THREE_YEARS, renewed()], [renewed(until=dt.date(2031, 12, 4))])


def test_renewing_before_signing_is_refused() -> None:
    assert refusal([THREE_YEARS], [renewed(on=dt.date(2022, 12, 4))]) == "renewed_before_signing"


def test_an_expired_agreement_may_be_renewed_a_terminated_one_not() -> None:
    accepts([THREE_YEARS], [renewed(on=dt.date(2026, 3, 1), until=dt.date(2029, 3, 1))])
    ended = AgreementTerminated(terminated_on=dt.date(2024, 1, 1), reason="merged")
    assert refusal([THREE_YEARS, ended], [renewed()]) == "agreement_ended"


# -- status on a day -----------------------------------------------------------------------


def view_of(*events: EventData) -> Partnership:
    view: Partnership | None = None
    for version, data in enumerate(events, start=1):
        at = "2022-12-05T00:00:00Z"
        view = apply(view, data, "agreement-x", version, version, at)
    assert view is not None
    return view


def test_status_turns_expired_after_the_expiry_day() -> None:
    view = view_of(THREE_YEARS)
    assert status_on(view, dt.date(2025, 12, 4)) == "active"  # its last day
    assert status_on(view, dt.date(2025, 12, 5)) == "expired"
    assert status_on(view_of(signed()), dt.date(2099, 1, 1)) == "active"


def test_a_decided_renewal_moves_the_expiry() -> None:
    view = view_of(THREE_YEARS, renewed())
    assert view.expires_on == dt.date(2028, 12, 4)
    assert status_on(view, dt.date(2026, 1, 1)) == "active"
    assert status_on(view, dt.date(2028, 12, 5)) == "expired"


def test_an_automatic_renewal_rolls_the_expiry_forward_by_its_term() -> None:
    view = view_of(
        signed(expires_on=dt.date(2023, 1, 31), renewal="automatic", renewal_term_months=12)
    )
    assert next_expiry(view, dt.date(2023, 1, 31)) == dt.date(2023, 1, 31)
    assert next_expiry(view, dt.date(2023, 2, 1)) == dt.date(2024, 1, 31)
    assert next_expiry(view, dt.date(2026, 7, 1)) == dt.date(2027, 1, 31)
    assert status_on(view, dt.date(2040, 1, 1)) == "active"
    monthly = view_of(
        signed(expires_on=dt.date(2023, 1, 31), renewal="automatic", renewal_term_months=1)
    )
    assert next_expiry(monthly, dt.date(2023, 2, 15)) == dt.date(2023, 2, 28)
    assert next_expiry(monthly, dt.date(2023, 3, 1)) == dt.date(2023, 3, 31)  # no drift


def test_termination_is_not_expiry() -> None:
    ended = AgreementTerminated(terminated_on=dt.date(2023, 1, 1), reason="merged")
    view = view_of(THREE_YEARS, ended, NoteAttached(text="archived"))
    assert status_on(view, dt.date(2030, 1, 1)) == "terminated"


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2022, 12, 5), 13) == dt.date(2024, 1, 5)


# -- over HTTP, on both databases ----------------------------------------------------------

# The day of the reads: 2026-02-02 in Tokyo (still the 1st in UTC).
INSTANT = dt.datetime(2026, 2, 1, 23, 30, tzinfo=dt.UTC)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, today=None, time_zone="Asia/Tokyo", clock=lambda: INSTANT)


def _signed_json(**term: Any) -> dict[str, Any]:
    data = {
        "kind": "MoU",
        "title": "Cooperation",
        "parties": [{"organisation": "FIT"}, {"organisation": "JETRO"}],
        "signed_on": "2023-02-01",
        **term,
    }
    return {"type": "AgreementSigned", "data": data}


async def _post(api: Api, stream: str, *events: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/streams/{stream}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )


async def _get(api: Api, url: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get(url, params=params, headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_status_expiry_and_list_filters_over_http(api: Api) -> None:
    streams = {
        # Lapsed at the end of 1 February in Tokyo: expired on the 2nd there.
        "agreement-lapsed": _signed_json(expires_on="2026-02-01", renewal="by_decision"),
        "agreement-rolling": _signed_json(
            expires_on="2024-02-01", renewal="automatic", renewal_term_months=12, notice_days=90
        ),
        "agreement-soon": _signed_json(expires_on="2026-03-01"),
        "agreement-open-ended": _signed_json(),
    }
    head = 0
    for stream, event in streams.items():
        response = await _post(api, stream, event)
        assert response.status_code == 201, response.text
        head = response.json()["to_position"]

    lapsed = await _get(api, "/partnerships/agreement-lapsed", wait_for_position=head)
    assert lapsed["partnership"]["status"] == "expired"
    assert lapsed["partnership"]["renewal"] == "by_decision"
    rolling = (await _get(api, "/partnerships/agreement-rolling"))["partnership"]
    assert rolling["status"] == "active"
    assert rolling["expires_on"] == "2024-02-01"
    assert rolling["next_expires_on"] == "2027-02-01"
    assert rolling["notice_days"] == 90

    async def ids(**params: Any) -> set[str]:
        body = await _get(api, "/partnerships", wait_for_position=head, **params)
        return {p["agreement_id"] for p in body["partnerships"]}

    assert await ids(status="expired") == {"agreement-lapsed"}
    assert await ids(status="active") == {
        "agreement-rolling",
        "agreement-soon",
        "agreement-open-ended",
    }
    assert await ids(expiring_within_days=30) == {"agreement-soon"}
    assert await ids(expiring_within_days=10) == set()
    summaries = (await _get(api, "/partnerships"))["partnerships"]
    by_id = {s["agreement_id"]: s for s in summaries}
    assert by_id["agreement-lapsed"]["status"] == "expired"
    assert by_id["agreement-rolling"]["next_expires_on"] == "2027-02-01"

    # A decided renewal makes it active again, in the document and the lists.
    response = await _post(
        api,
        "agreement-lapsed",
        {
            "type": "AgreementRenewed",
            "data": {"renewed_on": "2026-02-02", "expires_on": "2029-02-01"},
        },
    )
    assert response.status_code == 201, response.text
    head = response.json()["to_position"]
    doc = await _get(api, "/partnerships/agreement-lapsed", wait_for_position=head)
    assert doc["partnership"]["status"] == "active"
    assert doc["partnership"]["next_expires_on"] == "2029-02-01"
    assert await ids(status="expired") == set()

    # As of before the renewal, it was expired (judged today).
    before = await _get(api, "/partnerships/agreement-lapsed", as_of_position=head - 1)
    assert before["partnership"]["status"] == "expired"


async def test_bad_terms_are_refused_naming_the_rule_or_field(api: Api) -> None:
    response = await _post(api, "agreement-bad", _signed_json(expires_on="2023-01-01"))
    assert response.status_code == 422, response.text
    assert "expiry_not_after_start" in response.text
    response = await _post(api, "agreement-bad", _signed_json(renewal="sometimes"))
    assert response.status_code == 422, response.text
    assert "renewal" in response.text
    response = await _post(api, "agreement-bad", _signed_json())
    assert response.status_code == 201, response.text
    renewal = {
        "type": "AgreementRenewed",
        "data": {"renewed_on": "2024-01-01", "expires_on": "2030-01-01"},
    }
    response = await _post(api, "agreement-bad", renewal)
    assert response.status_code == 422, response.text
    assert "no_expiry_to_renew" in response.text
    bad_filter = await api.client.get(
        "/partnerships", params={"expiring_within_days": -1}, headers=api.auth("viewer")
    )
    assert bad_filter.status_code == 422
    assert "expiring_within_days" in bad_filter.text
