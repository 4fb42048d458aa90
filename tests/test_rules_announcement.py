"""AgreementAnnounced in the agreement decider: a stream may start with an announcement, the
agreement may be endorsed or called off before its signing, and nothing else waits."""

from __future__ import annotations

import datetime as dt

import pytest

from events.catalogue import AgreementAnnounced, EventData, Party
from events.errors import RuleViolation
from events.rules.agreement import AGREEMENT
from tests.test_rules_agreement import (
    NOTE,
    amended,
    assigned,
    endorsed,
    opened,
    signed,
    terminated,
    witnessed,
)


def announced(
    on: int = 4, parties: tuple[str, ...] = ("SettleMint", "Fujitsu")
) -> AgreementAnnounced:
    return AgreementAnnounced(
        kind="partnership",
        title="SettleMint and Fujitsu partnership",
        parties=[Party(organisation=p) for p in parties],
        announced_on=dt.date(2022, 12, on),
    )


def refusal(*events: EventData) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        AGREEMENT.check(AGREEMENT.initial(), events)
    return caught.value


def test_an_announcement_starts_a_stream_and_may_be_endorsed_then_signed() -> None:
    state = AGREEMENT.check(
        AGREEMENT.initial(), [announced(4), endorsed(5), NOTE, signed(6), witnessed(6)]
    )
    assert state.announced_on == dt.date(2022, 12, 4)
    assert state.signed_on == dt.date(2022, 12, 6)


def test_a_signing_may_predate_its_announcement() -> None:
    AGREEMENT.check(AGREEMENT.initial(), [announced(9), signed(5)])


@pytest.mark.parametrize("event", [witnessed(6), assigned(on=6), opened(), amended(8)])
def test_what_needs_a_signing_waits_for_it(event: EventData) -> None:
    error = refusal(announced(4), event)
    assert (error.rule, error.index) == ("not_yet_signed", 1)


def test_announcing_twice_is_refused() -> None:
    assert refusal(announced(4), announced(5)).rule == "already_announced"


def test_an_announcement_after_a_signing_is_refused() -> None:
    assert refusal(signed(5), announced(6)).rule == "announcement_after_signing"
    assert refusal(announced(4), signed(5), announced(6)).rule == "announcement_after_signing"


def test_an_announcement_names_each_party_once() -> None:
    error = refusal(announced(parties=("Fujitsu", "FUJITSU")))
    assert error.rule == "duplicate_party"


def test_dates_before_the_announcement_are_refused() -> None:
    assert refusal(announced(4), endorsed(3)).rule == "endorsed_before_announcement"
    assert refusal(announced(4), terminated(3)).rule == "terminated_before_announcement"


def test_an_announced_agreement_called_off_cannot_be_signed() -> None:
    assert refusal(announced(4), terminated(5), signed(6)).rule == "agreement_ended"


def test_a_signing_after_an_announcement_keeps_the_signing_rules() -> None:
    assert refusal(announced(4), signed(5, parties=("imec", "IMEC"))).rule == "duplicate_party"
    assert refusal(announced(4), signed(5), signed(6)).rule == "already_signed"
