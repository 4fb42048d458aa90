"""Export, carry the file to another machine, verify it with nothing but the file, a kept
checkpoint and the public key; then tamper with the file and see verification fail."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest

from events import merkle, signed_checkpoints
from events.export import ExportFormatError, read_jsonl, write_jsonl
from events.verification import verify_against_checkpoint, verify_chain
from tests._log_builder import build_log, leaves


def _export(tmp_path: Path, size: int = 30) -> Path:
    path = tmp_path / "log.jsonl"
    with path.open("wb") as file:
        assert write_jsonl(build_log(size), file) == size
    return path


def test_each_line_is_one_event_in_the_api_shape() -> None:
    log = build_log(3)
    buffer = io.BytesIO()
    write_jsonl(log, buffer)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3
    first = msgspec.json.decode(lines[0])
    assert list(first) == [
        "position",
        "event_id",
        "stream_id",
        "version",
        "type",
        "schema_version",
        "occurred_at",
        "recorded_at",
        "data",
        "metadata",
        "prev_hash",
        "hash",
    ]
    assert first["metadata"]["actor"] == "clerk@example.org"
    assert first["data"]["note"] == "note number 1"


def test_round_trip_keeps_every_byte(tmp_path: Path) -> None:
    log = build_log(25)
    path = _export(tmp_path, 25)
    with path.open("rb") as file:
        restored = list(read_jsonl(file))
    assert restored == log
    assert [bytes(e.data) for e in restored] == [bytes(e.data) for e in log]


def test_export_verifies_offline_with_checkpoint_and_public_key(tmp_path: Path) -> None:
    # On the server: export, sign a checkpoint, publish the public key.
    key = signed_checkpoints.generate_key()
    log = build_log(30)
    checkpoint = signed_checkpoints.sign_checkpoint(key, 30, log[-1].hash, merkle.root(leaves(log)))
    with (tmp_path / "log.jsonl").open("wb") as file:
        write_jsonl(log, file)
    (tmp_path / "cp.json").write_bytes(signed_checkpoints.encode_checkpoint(checkpoint))
    (tmp_path / "key.pub").write_text(signed_checkpoints.public_key_pem(key))

    # On the auditor's machine: only the three files.
    kept = signed_checkpoints.decode_checkpoint((tmp_path / "cp.json").read_bytes())
    public = signed_checkpoints.load_public_key(tmp_path / "key.pub")
    with (tmp_path / "log.jsonl").open("rb") as file:
        report = verify_chain(read_jsonl(file), checkpoint=kept)
    assert report.ok and report.head_position == 30
    assert verify_against_checkpoint(report, kept, public).ok


def test_tampered_export_line_fails_at_its_position(tmp_path: Path) -> None:
    path = _export(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[11] = lines[11].replace(b"note number 12", b"note number 21")
    path.write_bytes(b"".join(lines))
    with path.open("rb") as file:
        report = verify_chain(read_jsonl(file))
    assert not report.ok
    assert report.first_broken_position == 12
    assert report.reason == "position 12: hash does not match its content (edited?)"


def test_reformatted_data_in_an_export_fails(tmp_path: Path) -> None:
    """Pretty-printing a line's data changes its bytes, so the export no longer verifies."""
    path = _export(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"lang":"fr"', b'"lang": "fr"')
    path.write_bytes(b"".join(lines))
    with path.open("rb") as file:
        assert verify_chain(read_jsonl(file)).first_broken_position == 5


def test_export_missing_its_last_lines_fails_against_the_checkpoint(tmp_path: Path) -> None:
    key = signed_checkpoints.generate_key()
    log = build_log(30)
    checkpoint = signed_checkpoints.sign_checkpoint(key, 30, log[-1].hash, merkle.root(leaves(log)))
    buffer = io.BytesIO()
    write_jsonl(log[:28], buffer)
    buffer.seek(0)
    report = verify_chain(read_jsonl(buffer), checkpoint=checkpoint)
    assert report.first_broken_position == 29
    result = verify_against_checkpoint(report, checkpoint, key.public_key())
    assert not result.ok
    assert result.reason == (
        "the log ends at position 28 but the checkpoint covers 30 events: "
        "positions 29..30 missing (deleted?)"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"position": 3\n', "line 3: not valid JSON"),
        (b'{"position": "x"}\n', "line 3: not an event"),
        (b"[1, 2]\n", "line 3: not an event"),
    ],
)
def test_malformed_line_names_its_line_number(line: bytes, message: str) -> None:
    buffer = io.BytesIO()
    write_jsonl(build_log(2), buffer)
    buffer.write(line)
    buffer.seek(0)
    events = read_jsonl(buffer)
    assert next(events).position == 1
    assert next(events).position == 2
    with pytest.raises(ExportFormatError, match=message) as caught:
        next(events)
    assert caught.value.line == 3


def test_blank_lines_are_ignored() -> None:
    buffer = io.BytesIO()
    write_jsonl(build_log(2), buffer)
    data = buffer.getvalue().replace(b"\n", b"\n\n")
    assert [e.position for e in read_jsonl(io.BytesIO(data))] == [1, 2]


def test_large_export_streams_in_chunks() -> None:
    log = build_log(5_000)
    buffer = io.BytesIO()
    assert write_jsonl(iter(log), buffer) == 5_000
    buffer.seek(0)
    assert verify_chain(read_jsonl(buffer)).head_position == 5_000
