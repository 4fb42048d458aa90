"""Stream ids and the choice of decider (`events.rules`)."""

from __future__ import annotations

import re

import pytest

from events.errors import RuleViolation
from events.rules import STREAM_ID_PATTERN, check_stream_id, decider_for
from events.rules.agreement import AGREEMENT
from events.rules.delegation import DELEGATION

VALID = [
    "agreement-imec-rapidus-2022",
    "delegation-bem-japan-2022",
    "agreement-A",
    "agreement-2022_x-Y",
    "agreement-" + "a" * 127,
]
INVALID = [
    "",
    "agreement",
    "agreement-",
    "agreement--x",
    "agreement-_x",
    "Agreement-x",
    "agree ment-x",
    "agreement-a/b",
    "agreement-a.b",
    "agreement-a b",
    "agreement-../x",
    "agreement-x\n",
    "agreement-" + "a" * 128,
    "-x",
    "agreement2-x",
]


@pytest.mark.parametrize("stream_id", VALID)
def test_valid_stream_ids_pass(stream_id: str) -> None:
    check_stream_id(stream_id)
    assert re.fullmatch(STREAM_ID_PATTERN, stream_id)


@pytest.mark.parametrize("stream_id", INVALID)
def test_invalid_stream_ids_are_refused(stream_id: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_stream_id(stream_id)
    assert caught.value.rule == "invalid_stream_id"
    assert not re.fullmatch(STREAM_ID_PATTERN, stream_id)


def test_decider_by_category() -> None:
    assert decider_for("agreement-fit-jetro-2022") is AGREEMENT
    assert decider_for("delegation-bem-japan-2022") is DELEGATION


def test_unknown_stream_category() -> None:
    with pytest.raises(RuleViolation) as caught:
        decider_for("invoice-2022-001")
    assert caught.value.rule == "unknown_stream_category"


def test_decider_for_refuses_a_malformed_id() -> None:
    with pytest.raises(RuleViolation) as caught:
        decider_for("agreement-a/b")
    assert caught.value.rule == "invalid_stream_id"
