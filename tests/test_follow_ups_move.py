"""Follow-ups that move: rescheduled, reassigned, reopened, and handed over with their
agreement (the mandate stays); a hand-over recorded before that (v1) still moves nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from events.catalogue import (
    AgreementSigned,
    AgreementTerminated,
    EventData,
    FollowUpCompleted,
    FollowUpOpened,
    FollowUpReassigned,
    FollowUpReopened,
    FollowUpRescheduled,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
    ResponsibilityTransferred,
)
from events.errors import RuleViolation
from events.rules.agreement import AGREEMENT
from events.upcasting import decode_stored
from projections.partnership_view import Partnership, apply
from tests.conftest import Api

SIGNED = AgreementSigned(
    kind="MoU",
    title="Tokyo MoU",
    parties=[Party(organisation="FIT"), Party(organisation="JETRO")],
    signed_on=dt.date(2026, 1, 10),
)
SATO = Owner(unit="FIT Tokyo office", person=Person(name="佐藤花子", name_latin="Hanako Sato"))
SUZUKI = Owner(unit="FIT Tokyo office", person=Person(name="鈴木一郎"))
OFFICE = Owner(unit="FIT Tokyo office")


def day(n: int) -> dt.date:
    return dt.date(2026, 1, n)


ASSIGNED = ResponsibilityAssigned(
    owner=SATO, assigned_by="FIT Brussels", assigned_on=day(11), scope="trade missions"
)

pytestmark = pytest.mark.usefixtures("folding_secret")


def opened(fid: str = "visit", owner: Owner = SATO) -> FollowUpOpened:
    return FollowUpOpened(
        follow_up_id=fid, title=fid, owner=owner, due_on=day(20), description="Plan it.\nBook it."
    )


def refusal(past: Sequence[EventData], new: Sequence[EventData]) -> str:
    state = AGREEMENT.fold(AGREEMENT.initial(), past)
    with pytest.raises(RuleViolation) as caught:
        AGREEMENT.check(state, new)
    return caught.value.rule


def accepts(past: Sequence[EventData], new: Sequence[EventData]) -> None:
    AGREEMENT.check(AGREEMENT.fold(AGREEMENT.initial(), past), new)


DONE = FollowUpCompleted(follow_up_id="visit", completed_on=day(15))
REOPEN = FollowUpReopened(follow_up_id="visit", reopened_on=day(16), reason="not done after all")


def test_rescheduling_or_reassigning_needs_an_open_follow_up() -> None:
    later = FollowUpRescheduled(follow_up_id="visit", due_on=day(30))
    other = FollowUpReassigned(follow_up_id="visit", owner=SUZUKI)
    for change in (later, other):
        assert refusal([SIGNED], [change]) == "follow_up_unknown"
        assert refusal([SIGNED, opened(), DONE], [change]) == "follow_up_not_open"
        accepts([SIGNED, opened()], [change])
        accepts([SIGNED, opened(), DONE, REOPEN], [change])


def test_rescheduling_before_signing_is_refused() -> None:
    early = FollowUpRescheduled(follow_up_id="visit", due_on=day(9))
    assert refusal([SIGNED, opened()], [early]) == "follow_up_due_before_signing"


def test_reopening_needs_a_closed_follow_up() -> None:
    assert refusal([SIGNED], [REOPEN]) == "follow_up_unknown"
    assert refusal([SIGNED, opened()], [REOPEN]) == "follow_up_already_open"
    accepts([SIGNED, opened(), DONE], [REOPEN])
    assert refusal([SIGNED, opened(), DONE, REOPEN], [REOPEN]) == "follow_up_already_open"
    # Reopened, it can be closed again.
    accepts([SIGNED, opened(), DONE, REOPEN], [DONE])
    early = FollowUpReopened(follow_up_id="visit", reopened_on=day(9), reason="x")
    assert refusal([SIGNED, opened(), DONE], [early]) == "follow_up_reopened_before_signing"


def test_after_termination_follow_ups_may_move_but_not_reopen() -> None:
    ended = AgreementTerminated(terminated_on=day(25), reason="merged")
    accepts([SIGNED, opened(), ended], [FollowUpReassigned(follow_up_id="visit", owner=OFFICE)])
    assert refusal([SIGNED, opened(), DONE, ended], [REOPEN]) == "agreement_ended"


def view_of(*events: EventData) -> Partnership:
    view: Partnership | None = None
    for version, data in enumerate(events, start=1):
        view = apply(view, data, "agreement-tokyo", version, version, "2026-01-10T00:00:00Z")
    assert view is not None
    return view


def test_a_hand_over_moves_the_open_follow_ups_and_keeps_the_mandate() -> None:
    hand_over = ResponsibilityTransferred(from_owner=SATO, to_owner=SUZUKI, transferred_on=day(12))
    view = view_of(
        SIGNED, ASSIGNED, opened("visit"), opened("call"), opened("memo", OFFICE), DONE, hand_over
    )
    assert view.owner is not None
    assert view.owner.person is not None and view.owner.person.name == "鈴木一郎"
    assert (view.owner.assigned_by, view.owner.scope) == ("FIT Brussels", "trade missions")
    owners = {
        f.follow_up_id: f.owner.unit + "/" + str(f.owner.person and f.owner.person.name)
        for f in view.follow_ups
    }
    assert owners == {
        "visit": "FIT Tokyo office/佐藤花子",  # completed: stays with who did it
        "call": "FIT Tokyo office/鈴木一郎",
        "memo": "FIT Tokyo office/None",  # someone else's
    }
    kept = msgspec.structs.replace(hand_over, move_open_follow_ups=False)
    view = view_of(SIGNED, ASSIGNED, opened("call"), kept)
    assert view.follow_ups[0].owner.person is not None
    assert view.follow_ups[0].owner.person.name == "佐藤花子"


def test_a_v1_hand_over_keeps_its_meaning() -> None:
    stored = b'{"from_owner":{"unit":"A"},"to_owner":{"unit":"B"},"transferred_on":"2026-01-12"}'
    old = decode_stored("ResponsibilityTransferred", 1, stored)
    assert isinstance(old, ResponsibilityTransferred)
    assert old.move_open_follow_ups is False
    new = decode_stored("ResponsibilityTransferred", 2, stored)
    assert isinstance(new, ResponsibilityTransferred) and new.move_open_follow_ups is True


def test_moves_and_reopening_show_in_the_view() -> None:
    view = view_of(
        SIGNED,
        opened(),
        FollowUpRescheduled(follow_up_id="visit", due_on=day(28)),
        FollowUpReassigned(follow_up_id="visit", owner=SUZUKI),
        DONE,
        REOPEN,
    )
    (visit,) = view.follow_ups
    assert (visit.state, visit.due_on, visit.reopened_on) == ("open", day(28), day(16))
    assert visit.completed_on is None
    assert visit.description == "Plan it.\nBook it."
    assert visit.owner.person is not None and visit.owner.person.name == "鈴木一郎"


# -- over HTTP, on both databases ----------------------------------------------------------

JSON_SATO = {"unit": "FIT Tokyo office", "person": {"name": "佐藤花子"}}
JSON_SUZUKI = {"unit": "FIT Tokyo office", "person": {"name": "鈴木一郎"}}


def _event(type_name: str, /, **data: Any) -> dict[str, Any]:
    return {"type": type_name, "data": data}


async def _post(api: Api, *events: dict[str, Any]) -> Any:
    return await api.client.post(
        "/streams/agreement-tokyo/events",
        json={"events": list(events)},
        headers=api.auth("recorder"),
    )


async def _get(api: Api, url: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get(url, params=params, headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_hand_over_between_two_japanese_owners_over_http(api: Api) -> None:
    response = await _post(
        api,
        _event(
            "AgreementSigned",
            kind="MoU",
            title="Tokyo MoU",
            parties=[{"organisation": "FIT"}, {"organisation": "JETRO"}],
            signed_on="2026-01-10",
        ),
        _event(
            "ResponsibilityAssigned",
            owner=JSON_SATO,
            assigned_by="FIT Brussels",
            assigned_on="2026-01-11",
            scope="trade missions",
        ),
        _event(
            "FollowUpOpened",
            follow_up_id="visit",
            title="Visit",
            owner=JSON_SATO,
            due_on="2026-02-01",
        ),
    )
    assert response.status_code == 201, response.text
    response = await _post(
        api,
        _event(
            "ResponsibilityTransferred",
            from_owner=JSON_SATO,
            to_owner=JSON_SUZUKI,
            transferred_on="2026-01-20",
        ),
    )
    assert response.status_code == 201, response.text
    head = response.json()["to_position"]
    doc = (await _get(api, "/partnerships/agreement-tokyo", wait_for_position=head))["partnership"]
    assert doc["owner"]["person"]["name"] == "鈴木一郎"
    assert (doc["owner"]["assigned_by"], doc["owner"]["scope"]) == (
        "FIT Brussels",
        "trade missions",
    )
    assert doc["follow_ups"][0]["owner"]["person"]["name"] == "鈴木一郎"
    owners = (await _get(api, "/owners", wait_for_position=head))["owners"]
    counts = {o["person"]["name"]: o["counts"]["open"] for o in owners if o["person"]}
    assert counts == {"鈴木一郎": 1}

    # Rescheduling a closed follow-up is refused, naming the rule; nothing changes.
    done = _event("FollowUpCompleted", follow_up_id="visit", completed_on="2026-01-21")
    assert (await _post(api, done)).status_code == 201
    late = _event("FollowUpRescheduled", follow_up_id="visit", due_on="2026-03-01")
    refused = await _post(api, late)
    assert refused.status_code == 422, refused.text
    assert "follow_up_not_open" in refused.text
    reopen = _event("FollowUpReopened", follow_up_id="visit", reopened_on="2026-01-22", reason="no")
    response = await _post(api, reopen, late)
    assert response.status_code == 201, response.text
    head = response.json()["to_position"]
    doc = (await _get(api, "/partnerships/agreement-tokyo", wait_for_position=head))["partnership"]
    assert (doc["follow_ups"][0]["state"], doc["follow_ups"][0]["due_on"]) == ("open", "2026-03-01")
    again = await _post(api, reopen)
    assert again.status_code == 422 and "follow_up_already_open" in again.text
