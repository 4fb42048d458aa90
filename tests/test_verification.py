"""Tamper with a log the ways someone with write access to the database could, and see the
scan stop at the right position with a reason a person can act on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import merkle, signed_checkpoints
from events.envelope import GENESIS_HASH, RecordedEvent
from events.verification import (
    ChainVerifier,
    verify_against_checkpoint,
    verify_chain,
    verify_chain_async,
)
from tests._log_builder import build_log, leaves, rechain, rehash

KEY = signed_checkpoints.generate_key()
PUBLIC = KEY.public_key()


def _checkpoint(events: Sequence[RecordedEvent]) -> signed_checkpoints.Checkpoint:
    head = events[-1].hash if events else GENESIS_HASH
    return signed_checkpoints.sign_checkpoint(KEY, len(events), head, merkle.root(leaves(events)))


def _edit(event: RecordedEvent, **changes: object) -> RecordedEvent:
    """Change columns without touching the stored hash: a plain UPDATE."""
    return msgspec.structs.replace(event, **changes)


def _rewrite_from(events: Sequence[RecordedEvent], index: int) -> list[RecordedEvent]:
    """Edit events[index] and recompute every later hash: a chain with no visible seam."""
    edited = list(events)
    edited[index] = _edit(edited[index], data=msgspec.Raw(b'{"note":"rewritten"}'))
    return rechain(edited, start=index)


# --- a clean log ---------------------------------------------------------------------------


def test_clean_log_verifies() -> None:
    log = build_log(40)
    report = verify_chain(log)
    assert report.ok
    assert (report.checked, report.head_position, report.head_hash) == (40, 40, log[-1].hash)
    assert report.first_broken_position is None and report.reason is None
    assert report.merkle_root == merkle.root(leaves(log)).hex()


def test_empty_log_verifies() -> None:
    report = verify_chain([])
    assert report.ok
    assert (report.checked, report.head_position, report.head_hash) == (0, 0, GENESIS_HASH)
    assert report.merkle_root == merkle.EMPTY_ROOT.hex()


# --- what the chain alone catches ----------------------------------------------------------


def test_edited_data_is_caught_at_its_position() -> None:
    log = build_log(30)
    log[16] = _edit(log[16], data=msgspec.Raw(b'{"note":"nothing to see"}'))
    report = verify_chain(log)
    assert not report.ok
    assert report.first_broken_position == 17
    assert report.reason == "position 17: hash does not match its content (edited?)"
    assert (report.head_position, report.checked) == (16, 16)


@pytest.mark.parametrize(
    "change",
    [
        {"data": msgspec.Raw(b'{"note":"note number 17","lang":"fr","\xc3\xa9":"\xc3\xbc"} ')},
        {"metadata": msgspec.Raw(b'{"actor":"someone-else@example.org"}')},
        {"recorded_at": "2024-01-01T09:17:00.000001Z"},
        {"occurred_at": "2023-01-01T00:00:00.000000Z"},
        {"event_id": "00000000-0000-0000-0000-000000000099"},
        {"stream_id": "partnership-9"},
        {"version": 99},
        {"type": "AgreementTerminated"},
        {"schema_version": 2},
        {"hash": "f" * 64},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_edited_envelope_field_is_caught(change: dict[str, object]) -> None:
    log = build_log(30)
    log[16] = _edit(log[16], **change)
    report = verify_chain(log)
    assert report.first_broken_position == 17
    assert report.reason == "position 17: hash does not match its content (edited?)"


def test_edited_prev_hash_is_caught_as_a_broken_link() -> None:
    log = build_log(30)
    log[16] = _edit(log[16], prev_hash="0" * 64)
    report = verify_chain(log)
    assert report.first_broken_position == 17
    assert report.reason is not None
    assert report.reason.startswith("position 17: prev_hash does not link to position 16")


def test_edit_with_recomputed_hash_is_caught_at_the_next_row() -> None:
    log = build_log(30)
    log[16] = rehash(log[16], metadata=msgspec.Raw(b'{"actor":"forger"}'))
    report = verify_chain(log)
    assert report.first_broken_position == 18
    assert report.reason is not None
    assert report.reason.startswith("position 18: prev_hash does not link to position 17")


def test_deleted_middle_row_is_caught() -> None:
    log = build_log(30)
    del log[17]
    report = verify_chain(log)
    assert report.first_broken_position == 18
    assert report.reason == ("position 18 missing (deleted or moved?): the next row is position 19")


def test_several_deleted_rows_are_named_as_a_range() -> None:
    log = build_log(30)
    del log[17:20]
    report = verify_chain(log)
    assert report.first_broken_position == 18
    assert report.reason is not None
    assert report.reason.startswith("positions 18..20 missing")


def test_deleted_first_row_is_caught() -> None:
    report = verify_chain(build_log(5)[1:])
    assert report.first_broken_position == 1
    assert report.head_position == 0


def test_deleted_row_with_later_rows_renumbered_is_caught() -> None:
    log = build_log(30)
    del log[17]
    log[17:] = [_edit(e, position=e.position - 1) for e in log[17:]]
    report = verify_chain(log)
    assert report.first_broken_position == 18
    assert report.reason is not None
    assert report.reason.startswith("position 18: prev_hash does not link to position 17")


def test_swapped_rows_are_caught() -> None:
    # Two lines of an export swapped.
    log = build_log(20)
    log[8], log[9] = log[9], log[8]
    report = verify_chain(log)
    assert report.first_broken_position == 9
    assert report.reason == "position 9 missing (deleted or moved?): the next row is position 10"


def test_swapped_rows_with_positions_rewritten_are_caught() -> None:
    # In the database: two rows exchange contents but keep their position keys.
    log = build_log(20)
    a, b = log[8], log[9]
    log[8], log[9] = _edit(b, position=9), _edit(a, position=10)
    assert verify_chain(log).first_broken_position == 9
    # Even when the forger recomputes both hashes, the links give it away.
    log[8], log[9] = rehash(b, position=9), rehash(a, position=10)
    report = verify_chain(log)
    assert report.first_broken_position == 9
    assert report.reason is not None
    assert "prev_hash does not link to position 8" in report.reason


def test_a_row_out_of_order_is_caught() -> None:
    log = build_log(20)
    moved = log.pop(3)
    log.insert(10, moved)
    report = verify_chain(log)
    assert report.first_broken_position == 4


def test_inserted_forged_row_is_caught_at_the_next_row() -> None:
    log = build_log(20)
    forged = rehash(log[4], event_id="forged", metadata=msgspec.Raw(b'{"actor":"forger"}'))
    # A correct-looking row at position 5; the originals move up one position.
    tampered = [*log[:4], forged, *(_edit(e, position=e.position + 1) for e in log[4:])]
    report = verify_chain(tampered)
    assert verify_chain(tampered[:5]).ok  # the forged row itself is well formed
    assert report.first_broken_position == 6
    assert report.reason is not None
    # The displaced row still links to the real position 4, not to the forged position 5.
    assert report.reason.startswith("position 6: prev_hash does not link to position 5")


def test_duplicated_position_is_caught() -> None:
    log = build_log(10)
    log.insert(5, log[4])
    report = verify_chain(log)
    assert report.first_broken_position == 6
    assert report.reason == "position 5 appears twice (a row inserted or duplicated?)"


@given(
    position=st.integers(1, 25),
    field=st.sampled_from(["data", "metadata", "recorded_at", "occurred_at", "stream_id", "type"]),
)
def test_any_single_edit_is_caught_at_its_position(position: int, field: str) -> None:
    log = build_log(25)
    values: dict[str, object] = {
        "data": msgspec.Raw(b'{"x":1}'),
        "metadata": msgspec.Raw(b'{"actor":"x"}'),
        "recorded_at": "1999-01-01T00:00:00.000000Z",
        "occurred_at": "1999-01-01T00:00:00.000000Z",
        "stream_id": "owner-x",
        "type": "NoteAttached2",
    }
    log[position - 1] = _edit(log[position - 1], **{field: values[field]})
    report = verify_chain(log)
    assert report.first_broken_position == position
    assert report.head_position == position - 1


# --- what needs a kept checkpoint ----------------------------------------------------------


def test_deleted_last_row_is_caught_only_against_a_checkpoint() -> None:
    log = build_log(30)
    checkpoint = _checkpoint(log)
    truncated = log[:-1]
    # The remaining chain is self-consistent: nothing in it says a row is missing.
    assert verify_chain(truncated).ok
    report = verify_chain(truncated, checkpoint=checkpoint)
    assert not report.ok
    assert report.first_broken_position == 30
    assert report.reason == (
        "the log ends at position 29 but the checkpoint covers 30 events: "
        "position 30 missing (deleted?)"
    )


def test_rewritten_history_is_caught_only_against_a_checkpoint() -> None:
    log = build_log(30)
    checkpoint = _checkpoint(log[:25])
    # Insert a forged row at 10 and recompute every later hash: a perfect chain.
    forged = rehash(log[9], metadata=msgspec.Raw(b'{"actor":"forger"}'))
    rewritten = rechain([*log[:9], forged, *log[9:]], start=9)
    assert verify_chain(rewritten).ok
    report = verify_chain(rewritten, checkpoint=checkpoint)
    assert not report.ok
    assert report.first_broken_position == 25
    assert report.reason == (
        "position 25: hash differs from the checkpoint's head hash "
        "(history rewritten since the checkpoint?)"
    )


def test_rewritten_last_row_is_caught_only_against_a_checkpoint() -> None:
    log = build_log(10)
    checkpoint = _checkpoint(log)
    log[-1] = rehash(log[-1], data=msgspec.Raw(b'{"note":"rewritten"}'))
    assert verify_chain(log).ok
    assert verify_chain(log, checkpoint=checkpoint).first_broken_position == 10


def test_log_that_grew_after_the_checkpoint_matches_it() -> None:
    log = build_log(40)
    checkpoint = _checkpoint(log[:25])
    report = verify_chain(log, checkpoint=checkpoint)
    assert report.ok and report.head_position == 40
    assert report.checkpoint == checkpoint
    assert verify_against_checkpoint(report, checkpoint, PUBLIC).ok


def test_checkpoint_with_a_wrong_merkle_root_is_reported() -> None:
    log = build_log(10)
    bad = signed_checkpoints.sign_checkpoint(KEY, 10, log[-1].hash, b"\x00" * 32)
    report = verify_chain(log, checkpoint=bad)
    assert report.first_broken_position == 10
    assert report.reason is not None
    assert report.reason.startswith("the Merkle root of positions 1..10 differs")


def test_verify_from_a_kept_checkpoint_only_reads_what_came_after() -> None:
    log = build_log(40)
    checkpoint = _checkpoint(log[:25])
    report = verify_chain(
        log[25:], start_position=checkpoint.size + 1, start_prev_hash=checkpoint.head_hash
    )
    assert report.ok and report.checked == 15 and report.head_position == 40
    assert report.merkle_root is None  # the prefix was not read
    # A rewrite of the checkpointed prefix shows up as a broken link at the first new row.
    rewritten = _rewrite_from(log, 20)
    report = verify_chain(rewritten[25:], start_position=26, start_prev_hash=checkpoint.head_hash)
    assert report.first_broken_position == 26


def test_checkpoint_before_the_start_is_refused() -> None:
    checkpoint = _checkpoint(build_log(3))
    with pytest.raises(ValueError, match="before the scan's start"):
        verify_chain([], start_position=10, start_prev_hash="a" * 64, checkpoint=checkpoint)


def test_empty_checkpoint_matches_an_empty_log() -> None:
    checkpoint = _checkpoint([])
    report = verify_chain([], checkpoint=checkpoint)
    assert report.ok
    assert verify_against_checkpoint(report, checkpoint, PUBLIC).ok


# --- verify_against_checkpoint -------------------------------------------------------------


def test_against_checkpoint_from_leaves() -> None:
    log = build_log(30)
    checkpoint = _checkpoint(log[:20])
    assert verify_against_checkpoint(leaves(log), checkpoint, PUBLIC).ok
    short = verify_against_checkpoint(leaves(log[:19]), checkpoint, PUBLIC)
    assert not short.ok and short.reason is not None and "covers 20" in short.reason
    rewritten = verify_against_checkpoint(leaves(_rewrite_from(log, 5)), checkpoint, PUBLIC)
    assert not rewritten.ok
    assert rewritten.reason is not None and rewritten.reason.startswith("position 20: hash differs")


def test_against_checkpoint_requires_its_signature() -> None:
    log = build_log(10)
    checkpoint = _checkpoint(log)
    report = verify_chain(log, checkpoint=checkpoint)
    other = signed_checkpoints.generate_key().public_key()
    wrong_key = verify_against_checkpoint(report, checkpoint, other)
    assert not wrong_key.ok and wrong_key.reason is not None and "names key" in wrong_key.reason
    altered = msgspec.structs.replace(checkpoint, size=9, head_hash=log[8].hash)
    result = verify_against_checkpoint(leaves(log), altered, PUBLIC)
    assert not result.ok
    assert result.reason == "the checkpoint's signature does not verify (altered or forged?)"


def test_against_checkpoint_with_a_report_made_without_it() -> None:
    log = build_log(10)
    checkpoint = _checkpoint(log)
    assert verify_against_checkpoint(verify_chain(log), checkpoint, PUBLIC).ok
    longer = verify_against_checkpoint(verify_chain(build_log(12)), checkpoint, PUBLIC)
    assert not longer.ok and longer.reason is not None and "checkpoint=" in longer.reason
    broken = build_log(10)
    broken[3] = _edit(broken[3], version=0)
    failed = verify_against_checkpoint(verify_chain(broken), checkpoint, PUBLIC)
    assert failed.reason == "position 4: hash does not match its content (edited?)"


# --- incremental and async -----------------------------------------------------------------


def test_bounded_scans_resume_where_they_stopped() -> None:
    log = build_log(50)
    first = ChainVerifier(checkpoint=_checkpoint(log[:45]))
    assert first.feed(log[:20])
    partial = first.report(at_end=False)
    assert partial.ok and partial.head_position == 20
    # The client continues from the head it was given.
    rest = verify_chain(
        log[20:], start_position=partial.head_position + 1, start_prev_hash=partial.head_hash
    )
    assert rest.ok and rest.head_position == 50
    # At the end of the log, the same partial scan would fall short of the checkpoint.
    assert first.report().first_broken_position == 21


async def _batches(
    events: Sequence[RecordedEvent], size: int, seen: list[int]
) -> AsyncIterator[Sequence[RecordedEvent]]:
    for start in range(0, len(events), size):
        seen.append(start)
        yield events[start : start + size]


async def test_async_twin_agrees_and_stops_reading_at_the_break() -> None:
    log = build_log(100)
    seen: list[int] = []
    assert await verify_chain_async(_batches(log, 10, seen)) == verify_chain(log)
    assert len(seen) == 10
    log[24] = _edit(log[24], recorded_at="2020-01-01T00:00:00.000000Z")
    seen.clear()
    report = await verify_chain_async(_batches(log, 10, seen))
    assert report == verify_chain(log)
    assert report.first_broken_position == 25
    assert len(seen) == 3


async def test_async_twin_checks_the_checkpoint() -> None:
    log = build_log(30)
    checkpoint = _checkpoint(log)
    report = await verify_chain_async(_batches(log[:-2], 7, []), checkpoint=checkpoint)
    assert report.first_broken_position == 29
