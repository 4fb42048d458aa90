"""Hash version 2: framed fields, and personal values covered by their commitments."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable

import msgspec
import pytest

from events.catalogue import (
    AgreementSigned,
    AgreementWitnessed,
    NoteAttached,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
    TokenIssued,
)
from events.envelope import Disclosure, RecordedEvent
from events.hashing import DisclosureError, canonical_bytes, event_hash
from events.personal import find_personal, person_id, placeholder
from events.verification import verify_chain

_FIELDS = {
    "position": 1,
    "event_id": "e1",
    "stream_id": "agreement-a",
    "version": 1,
    "type": "NoteAttached",
    "schema_version": 1,
    "occurred_at": "2025-01-01T00:00:00.000000Z",
    "recorded_at": "2025-01-01T00:00:00.000000Z",
}
SALT = bytes(range(32))


def _witnessed(name: str) -> RecordedEvent:
    data = msgspec.json.encode({"witness": {"name": name}, "witnessed_on": "2025-01-01"})
    disclosure = Disclosure(path="/witness/name", person_id="ab" * 16, salt=SALT.hex())
    event = RecordedEvent(
        **_FIELDS,
        data=msgspec.Raw(data),
        metadata=msgspec.Raw(b'{"actor":"x"}'),
        prev_hash="0" * 64,
        hash="",
        personal=(disclosure,),
    )
    return msgspec.structs.replace(event, hash=event_hash(event))


def test_moving_the_boundary_between_data_and_metadata_changes_the_bytes() -> None:
    # Version 1 hashed these two alike (data and metadata side by side, unframed).
    one = canonical_bytes(**_FIELDS, data=b'{"a":1}', metadata=b'{"actor":"x","b":2}')
    other = canonical_bytes(**_FIELDS, data=b'{"a":1},{"actor":"x"', metadata=b'"b":2}')
    assert one != other


def test_the_canonical_bytes_are_as_documented() -> None:
    got = canonical_bytes(**_FIELDS, data=b"{}", metadata=b'{"actor":"x"}')
    fields = [
        b"agreements-event/v2",
        b"1",
        b"e1",
        b"agreement-a",
        b"1",
        b"NoteAttached",
        b"1",
        b"2025-01-01T00:00:00.000000Z",
        b"2025-01-01T00:00:00.000000Z",
        b"{}",
        b'{"actor":"x"}',
        b"[]",
    ]
    assert got == b"".join(len(f).to_bytes(8, "big") + f for f in fields)


def test_the_chain_covers_a_commitment_not_the_value() -> None:
    event = _witnessed("Aiko Tanaka")
    committed = hashlib.sha256(SALT + b"Aiko Tanaka").hexdigest()
    canonical = canonical_bytes(
        **_FIELDS, data=bytes(event.data), metadata=b'{"actor":"x"}', personal=event.personal
    )
    assert b"Aiko" not in canonical
    assert committed.encode() in canonical
    assert b'["/witness/name"]' in canonical


def test_an_erased_value_verifies_through_its_commitment() -> None:
    event = _witnessed("Aiko Tanaka")
    committed = hashlib.sha256(SALT + b"Aiko Tanaka").hexdigest()
    person = "ab" * 16
    erased_data = msgspec.json.encode(
        {"witness": {"name": placeholder("/witness/name", person)}, "witnessed_on": "2025-01-01"}
    )
    erased = msgspec.structs.replace(
        event,
        data=msgspec.Raw(erased_data),
        personal=(Disclosure(path="/witness/name", person_id=person, commitment=committed),),
    )
    assert event_hash(erased) == event.hash
    assert verify_chain([erased]).ok


@pytest.mark.parametrize(
    "why",
    ["name changed", "salt dropped", "path dropped", "erased without placeholder"],
)
def test_a_personal_value_that_does_not_fit_breaks_the_chain(why: str) -> None:
    event = _witnessed("Aiko Tanaka")
    committed = hashlib.sha256(SALT + b"Aiko Tanaka").hexdigest()
    match why:
        case "name changed":
            tampered = msgspec.structs.replace(
                event, data=msgspec.Raw(bytes(event.data).replace(b"Aiko", b"Eiko"))
            )
        case "salt dropped":
            tampered = msgspec.structs.replace(
                event, personal=(Disclosure(path="/witness/name", person_id="ab" * 16),)
            )
        case "path dropped":
            # the value swapped for its own commitment and left out of the list
            data = bytes(event.data).replace(b"Aiko Tanaka", committed.encode())
            tampered = msgspec.structs.replace(event, data=msgspec.Raw(data), personal=())
        case _:
            tampered = msgspec.structs.replace(
                event,
                personal=(
                    Disclosure(path="/witness/name", person_id="ab" * 16, commitment=committed),
                ),
            )
    report = verify_chain([tampered])
    assert not report.ok
    assert report.first_broken_position == 1


def test_a_disclosure_that_leads_nowhere_is_refused() -> None:
    event = _witnessed("Aiko Tanaka")
    lost = msgspec.structs.replace(
        event, personal=(Disclosure(path="/witness/title", salt=SALT.hex()),)
    )
    with pytest.raises(DisclosureError):
        event_hash(lost)
    assert "personal values do not fit" in (verify_chain([lost]).reason or "")


def test_personal_values_are_found_from_the_catalogue() -> None:
    aiko = Person(name="Aiko Tanaka", title="Counsellor", organisation="MOFA")
    signed = AgreementSigned(
        kind="MoU",
        title="Water",
        parties=[Party(organisation="A", signatory=aiko), Party(organisation="B")],
        signed_on=dt.date(2025, 1, 1),
    )
    assert [(v.path, v.value, v.name) for v in find_personal(signed)] == [
        ("/parties/0/signatory/name", "Aiko Tanaka", "Aiko Tanaka"),
        ("/parties/0/signatory/title", "Counsellor", "Aiko Tanaka"),
        ("/parties/0/signatory/organisation", "MOFA", "Aiko Tanaka"),
    ]
    assigned = ResponsibilityAssigned(
        owner=Owner(unit="Desk", person=Person(name="Ben")),
        assigned_by="Director",
        assigned_on=signed.signed_on,
    )
    assert [v.path for v in find_personal(assigned)] == ["/owner/person/name"]
    assert [v.path for v in find_personal(NoteAttached(text="Met Ben"))] == ["/text"]
    token = TokenIssued(token_id="t", name="ci", role="viewer", token_hash="0" * 64)
    assert find_personal(token) == []
    witnessed = AgreementWitnessed(witness=aiko, witnessed_on=signed.signed_on)
    assert len(find_personal(witnessed)) == 3


def test_a_person_id_is_stable_opaque_and_keyed() -> None:
    one, other = b"k" * 32, b"j" * 32
    assert person_id(one, "Zoë") == person_id(one, "Zoe\u0308")  # the same name, NFC
    assert person_id(one, "Zoë") != person_id(other, "Zoë")  # guessing needs the secret
    assert len(person_id(one, "Zoë")) == 32
    assert person_id(one, "Zoë") != hashlib.sha256("Zoë".encode()).hexdigest()[:32]


def _staged_events(salts: Callable[[int], bytes]) -> tuple[list[RecordedEvent], list[bytes]]:
    """A signing (two signatories), a witness and a note staged by the writer's bookkeeping,
    as the events a reader gets back (with their disclosures), and the salts used."""
    from events import _decisions as decisions
    from events.envelope import Metadata, Proposed
    from events.validation import encode_metadata, validate_batch

    aiko = Person(name="Aiko Tanaka", title="Counsellor", organisation="MOFA")
    ben = Person(name="Ben ~/ Okafor", name_latin="Ben")
    on = dt.date(2025, 1, 1)
    proposed = [
        Proposed(
            type="AgreementSigned",
            data=AgreementSigned(
                kind="MoU",
                title="Water",
                parties=[
                    Party(organisation="A", signatory=aiko),
                    Party(organisation="B"),
                    Party(organisation="C", signatory=ben),
                ],
                signed_on=on,
            ),
        ),
        Proposed(type="AgreementWitnessed", data=AgreementWitnessed(witness=ben, witnessed_on=on)),
        Proposed(type="NoteAttached", data=NoteAttached(text='Met Aiko \u00e9 "Ben"')),
        Proposed(
            type="ResponsibilityAssigned",
            data=ResponsibilityAssigned(owner=Owner(unit="Desk"), assigned_by="D", assigned_on=on),
        ),
    ]
    metadata = encode_metadata(Metadata(actor="x"))
    staged = decisions.Staged()
    stream = decisions.StreamState(key=1, version=0, decider_state=None, is_new=True)
    tip = decisions.Tip(0, "0" * 64, "")
    decisions.stage(
        "agreement-a",
        validate_batch(proposed, max_events=10),
        metadata,
        stream,
        tip,
        "2025-01-02T00:00:00.000000Z",
        staged,
        secret=b"k" * 32,
        salts=salts,
    )
    events = []
    for row in staged.rows:
        values = dict(zip(decisions.ROW_COLUMNS, row, strict=True))
        personal = tuple(
            Disclosure(path=path, person_id=person, salt=salt.hex())
            for position, path, person, salt, _ in staged.personal
            if position == values["position"]
        )
        fields = {k: v for k, v in values.items() if k not in ("stream_key", "data", "metadata")}
        events.append(
            RecordedEvent(
                **fields,
                data=msgspec.Raw(values["data"]),
                metadata=msgspec.Raw(values["metadata"]),
                personal=personal,
            )
        )
    return events, [salt for *_, salt, _ in staged.personal]


def test_the_writer_hashes_what_a_verifier_recomputes() -> None:
    events, salts = _staged_events(os.urandom)
    assert [len(e.personal) for e in events] == [5, 2, 1, 0]
    assert all(event_hash(event) == event.hash for event in events)
    assert verify_chain(events).ok
    assert len(set(salts)) == len(salts) == 8  # every value has its own salt


def test_the_writer_commits_to_each_value_with_its_own_salt() -> None:
    events, salts = _staged_events(lambda n: bytes(i % 251 for i in range(n)))
    note = events[2]
    assert note.personal[0].salt == salts[7].hex()
    text = 'Met Aiko \u00e9 "Ben"'
    erased = msgspec.structs.replace(
        note,
        data=msgspec.Raw(b'{"text":"[erased]"}'),
        personal=(
            Disclosure(
                path="/text", commitment=hashlib.sha256(salts[7] + text.encode()).hexdigest()
            ),
        ),
    )
    assert event_hash(erased) == note.hash


def test_an_append_that_fails_part_way_through_staging_stages_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The writer keeps staging the group's other appends after one fails (a decider or data
    # bug): the failed one must leave no rows behind and move neither the tip nor its stream.
    from events import _decisions as decisions
    from events.envelope import Metadata, Proposed
    from events.validation import encode_metadata, validate_batch

    calls = 0
    commit_values = decisions.commit_values

    def failing_second(data: bytes, values: object) -> tuple[bytes, bytes]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise DisclosureError("the values do not fit the data")
        return commit_values(data, values)  # type: ignore[arg-type]

    monkeypatch.setattr(decisions, "commit_values", failing_second)
    notes = [Proposed(type="NoteAttached", data=NoteAttached(text=t)) for t in ("a", "b")]
    staged = decisions.Staged()
    stream = decisions.StreamState(key=1, version=3, decider_state=None)
    tip = decisions.Tip(7, "0" * 64, "")
    with pytest.raises(DisclosureError):
        decisions.stage(
            "agreement-a",
            validate_batch(notes, max_events=10),
            encode_metadata(Metadata(actor="x")),
            stream,
            tip,
            "2025-01-02T00:00:00.000000Z",
            staged,
            secret=b"k" * 32,
        )
    assert (staged.rows, staged.personal, staged.leaves, staged.ids) == ([], [], [], {})
    assert (tip.position, tip.hash, stream.version) == (7, "0" * 64, 3)
