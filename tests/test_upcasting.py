"""Old events stay readable: upcasters bring stored JSON to the current schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from events import upcasting
from events.catalogue import (
    AgreementAmended,
    AgreementEndorsed,
    DelegationFormed,
    Person,
    encode_data,
)
from events.upcasting import UnreadableEvent, decode_stored


@pytest.fixture
def amended_v2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend AgreementAmended v1 stored `text`, renamed `summary` in v2."""
    monkeypatch.setattr(AgreementAmended, "schema_version", 2)

    def rename(document: dict[str, Any]) -> dict[str, Any]:
        document["summary"] = document.pop("text")
        return document

    monkeypatch.setitem(upcasting.UPCASTERS, ("AgreementAmended", 1), rename)
    yield


def test_current_version_decodes_directly() -> None:
    data = encode_data(AgreementAmended(amended_on=dt.date(2023, 1, 1), summary="x"))
    decoded = decode_stored("AgreementAmended", 1, data)
    assert isinstance(decoded, AgreementAmended)
    assert decoded.summary == "x"


def test_old_version_is_upcast(amended_v2: None) -> None:
    decoded = decode_stored("AgreementAmended", 1, b'{"amended_on":"2023-01-01","text":"scope"}')
    assert isinstance(decoded, AgreementAmended)
    assert decoded.summary == "scope"


def test_newer_than_code_or_missing_step_is_an_error(amended_v2: None) -> None:
    with pytest.raises(UnreadableEvent):
        decode_stored("AgreementAmended", 3, b"{}")
    del upcasting.UPCASTERS[("AgreementAmended", 1)]
    with pytest.raises(UnreadableEvent):
        decode_stored("AgreementAmended", 1, b'{"amended_on":"2023-01-01","text":"x"}')


def test_unknown_type_is_none() -> None:
    assert decode_stored("SomethingElse", 1, b"{}") is None


def test_a_v1_endorsement_reads_as_v2_with_its_endorser() -> None:
    stored = (
        b'{"endorser":{"name":"Jan Jambon"},"on_behalf_of":"Flanders","endorsed_on":"2022-12-06"}'
    )
    decoded = decode_stored("AgreementEndorsed", 1, stored)
    assert decoded == AgreementEndorsed(
        endorser=Person(name="Jan Jambon"),
        on_behalf_of="Flanders",
        endorsed_on=dt.date(2022, 12, 6),
    )
    assert AgreementEndorsed.schema_version == 2
    unnamed = decode_stored("AgreementEndorsed", 2, b'{"endorsed_on":"2022-12-05"}')
    assert isinstance(unnamed, AgreementEndorsed) and unnamed.endorser is None


def test_a_v1_delegation_reads_as_v2_with_its_organiser() -> None:
    stored = (
        b'{"name":"BEM","leader":{"name":"Jan Jambon"},"organiser":"FIT","member_count":258,'
        b'"starts_on":"2022-12-05","ends_on":"2022-12-09","destinations":["Tokyo"],"country":"Japan"}'
    )
    decoded = decode_stored("DelegationFormed", 1, stored)
    assert isinstance(decoded, DelegationFormed) and decoded.organiser == "FIT"
    assert DelegationFormed.schema_version == 2
