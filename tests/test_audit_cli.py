"""`agreements verify`, `checkpoint` and `public-key`: exit statuses and what they say, over a
database and offline over an export file."""

from __future__ import annotations

import argparse
import asyncio
import stat
from pathlib import Path

import msgspec
import pytest

from events.audit import DEFAULT_KEY_FILE
from events.export import write_jsonl
from events.signed_checkpoints import (
    decode_checkpoint,
    generate_key,
    public_key_pem,
    verify_checkpoint,
)
from events.signed_checkpoints import load_public_key as load_public
from events.store import open_store
from service import audit_commands
from service.audit_commands import add_audit_commands, checkpoint, public_key, verify
from tests.test_audit_store import add_notes, fill_store
from tests.test_audit_tamper import delete_rows, edit_data, unguard

Capture = pytest.CaptureFixture[str]


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}"


async def _filled(url: str, notes: int = 4) -> int:
    store = await open_store(url)
    try:
        return await fill_store(store, notes=notes)
    finally:
        await store.close()


async def _more(url: str, count: int) -> None:
    store = await open_store(url)
    try:
        await add_notes(store, count, start=200)
    finally:
        await store.close()


async def _tamper_edit(url: str, position: int) -> None:
    store = await open_store(url)
    try:
        await unguard(store)
        await edit_data(store, position)
    finally:
        await store.close()


async def _tamper_cut(url: str, first: int) -> None:
    store = await open_store(url)
    try:
        await unguard(store)
        await delete_rows(store, first)
    finally:
        await store.close()


async def _export(url: str, path: Path) -> None:
    store = await open_store(url)
    try:
        events = await store.read_all(limit=1_000_000)
    finally:
        await store.close()
    with path.open("wb") as file:
        write_jsonl(events, file)


@pytest.fixture(autouse=True)
def _no_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGREEMENTS_SIGNING_KEY", raising=False)


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = _url(tmp_path)
    asyncio.run(_filled(database))
    return database


@pytest.fixture
def signed(url: str, tmp_path: Path, capsys: Capture) -> tuple[Path, Path]:
    """A checkpoint of the current log and the public key, as an auditor keeps them."""
    kept, key = tmp_path / "kept.json", tmp_path / "operator.pub"
    assert checkpoint(url, None, str(kept)) == 0
    assert public_key(None, database_url=url) == 0
    key.write_text(capsys.readouterr().out)
    return kept, key


# --- verify over the database ----------------------------------------------------------------


def test_a_clean_database_verifies(url: str, capsys: Capture) -> None:
    assert verify(url, None, None, None) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: positions 1..")
    assert "Merkle root" in out


def test_an_edited_row_fails_naming_its_position(url: str, capsys: Capture) -> None:
    asyncio.run(_tamper_edit(url, 5))
    assert verify(url, None, None, None) == 1
    err = capsys.readouterr().err
    assert "verification FAILED at position 5" in err
    assert "hash does not match its content" in err


def test_the_log_still_extends_a_checkpoint_after_more_appends(
    url: str, signed: tuple[Path, Path], capsys: Capture
) -> None:
    kept, key = signed
    asyncio.run(_more(url, 3))
    assert verify(url, None, str(kept), str(key)) == 0
    assert "the log extends the checkpoint of" in capsys.readouterr().out


def test_a_cut_tail_fails_against_the_checkpoint(
    url: str, signed: tuple[Path, Path], capsys: Capture
) -> None:
    kept, key = signed
    size = decode_checkpoint(kept.read_bytes()).size
    asyncio.run(_tamper_cut(url, size - 1))
    assert verify(url, None, None, None) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert verify(url, None, str(kept), str(key)) == 1
    assert f"FAILED at position {size - 1}" in capsys.readouterr().err


def test_from_checkpoint_checks_only_what_came_after(
    url: str, signed: tuple[Path, Path], capsys: Capture
) -> None:
    kept, key = signed
    asyncio.run(_more(url, 3))
    capsys.readouterr()
    assert verify(url, None, str(kept), str(key), from_checkpoint=True) == 0
    assert "(3 events)" in capsys.readouterr().out


# --- checkpoint and public-key ---------------------------------------------------------------


def test_checkpoint_signs_the_log_with_a_key_created_beside_the_database(
    url: str, tmp_path: Path, capsys: Capture
) -> None:
    assert checkpoint(url, None, None) == 0
    made = decode_checkpoint(capsys.readouterr().out)
    key_file = tmp_path / DEFAULT_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert public_key(None, database_url=url) == 0
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert verify_checkpoint(made, load_public(pem))


def test_checkpoint_of_a_broken_log_signs_nothing(
    url: str, tmp_path: Path, capsys: Capture
) -> None:
    asyncio.run(_tamper_edit(url, 3))
    output = tmp_path / "cp.json"
    assert checkpoint(url, str(tmp_path / "k.pem"), str(output)) == 1
    assert "FAILED at position 3" in capsys.readouterr().err
    assert not output.exists()


# --- offline ---------------------------------------------------------------------------------


def test_export_verifies_offline_then_fails_once_the_file_is_tampered(
    url: str, signed: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    kept, key = signed
    export = tmp_path / "export.jsonl"
    asyncio.run(_export(url, export))

    assert verify(None, str(export), None, None) == 0
    assert verify(None, str(export), str(kept), str(key)) == 0
    assert "whose signature verifies" in capsys.readouterr().out

    lines = export.read_bytes().splitlines(keepends=True)
    event = msgspec.json.decode(lines[6])
    assert event["position"] == 7
    lines[6] = msgspec.json.encode({**event, "recorded_at": "2030-01-01T00:00:00.000000Z"}) + b"\n"
    export.write_bytes(b"".join(lines))

    assert verify(None, str(export), None, None) == 1
    assert "FAILED at position 7" in capsys.readouterr().err
    assert verify(None, str(export), str(kept), str(key)) == 1


def test_a_truncated_export_fails_only_against_the_checkpoint(
    url: str, signed: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    kept, key = signed
    export = tmp_path / "export.jsonl"
    asyncio.run(_export(url, export))
    lines = export.read_bytes().splitlines(keepends=True)
    export.write_bytes(b"".join(lines[:-2]))
    assert verify(None, str(export), None, None) == 0
    assert verify(None, str(export), str(kept), str(key)) == 1
    assert f"FAILED at position {len(lines) - 1}" in capsys.readouterr().err


def test_an_export_line_that_is_not_an_event_fails(
    url: str, tmp_path: Path, capsys: Capture
) -> None:
    export = tmp_path / "export.jsonl"
    asyncio.run(_export(url, export))
    lines = export.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"position": 3, "oops"\n'
    export.write_bytes(b"".join(lines))
    assert verify(None, str(export), None, None) == 1
    assert "line 3 is not an event" in capsys.readouterr().err


def test_a_forged_checkpoint_or_the_wrong_key_fails(
    url: str, signed: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    kept, key = signed
    export = tmp_path / "export.jsonl"
    asyncio.run(_export(url, export))

    other = tmp_path / "other.pub"
    other.write_text(public_key_pem(generate_key()))
    assert verify(None, str(export), str(kept), str(other)) == 1
    assert "not the given public key" in capsys.readouterr().err

    original = decode_checkpoint(kept.read_bytes())
    forged = tmp_path / "forged.json"
    events = export.read_bytes().splitlines()
    head = msgspec.json.decode(events[-2])
    forged.write_bytes(
        msgspec.json.encode(
            msgspec.structs.replace(original, size=original.size - 1, head_hash=head["hash"])
        )
    )
    assert verify(None, str(export), str(forged), str(key)) == 1
    assert "signature does not verify" in capsys.readouterr().err


# --- usage errors ----------------------------------------------------------------------------


def test_misuse_exits_with_status_2(
    url: str, signed: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    kept, key = signed
    export = tmp_path / "export.jsonl"
    asyncio.run(_export(url, export))
    not_json = tmp_path / "not-a-checkpoint.json"
    not_json.write_text("hello")

    assert verify(url, str(export), None, None) == 2  # both sources
    assert verify(url, None, None, str(key)) == 2  # a key without a checkpoint
    assert verify(url, None, None, None, from_checkpoint=True) == 2
    assert verify(None, str(tmp_path / "missing.jsonl"), None, None) == 2
    assert verify(_url(tmp_path / "nowhere"), None, None, None) == 2
    assert verify(None, str(export), str(not_json), str(key)) == 2
    assert verify(None, str(export), str(kept), str(not_json)) == 2
    err = capsys.readouterr().err
    assert "either --database-url or --file" in err
    assert "no database at" in err
    assert "is not a checkpoint" in err
    assert not (tmp_path / "nowhere").exists()  # verifying never creates a database


# --- argparse --------------------------------------------------------------------------------


def test_the_commands_plug_into_a_parser(url: str, tmp_path: Path, capsys: Capture) -> None:
    parser = argparse.ArgumentParser(prog="agreements")
    add_audit_commands(parser.add_subparsers(dest="command", required=True))
    key = tmp_path / "custom.pem"

    def run(*argv: str) -> int:
        args = parser.parse_args(argv)
        result: int = asyncio.run(args.run(args, None))
        return result

    assert run("verify", "--database-url", url) == 0
    kept = tmp_path / "cp.json"
    assert run("checkpoint", "--database-url", url, "--key", str(key), "-o", str(kept)) == 0
    assert run("public-key", "--database-url", url, "--key", str(key)) == 0
    capsys.readouterr()
    export = tmp_path / "export.jsonl"
    asyncio.run(_export(url, export))
    pub = tmp_path / "custom.pub"
    assert public_key(str(key), database_url=url) == 0
    pub.write_text(capsys.readouterr().out)
    assert (
        run("verify", "--file", str(export), "--checkpoint", str(kept), "--public-key", str(pub))
        == 0
    )
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["verify", "--no-such-option"])
    assert exited.value.code == 2
    assert audit_commands.USAGE == 2
