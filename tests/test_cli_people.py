"""`agreements people` and `agreements erase`, as an operator runs them."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from events.export import read_jsonl
from events.store import open_store
from service.audit_commands import verify_async
from tests.test_cli import _events, run
from tests.test_erasure import ERASED_NAME, OTHER_NAME, id_of, record_history

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A register naming two people, given the way a user would: in the environment."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AGREEMENTS_DATABASE_URL", database_url)
    asyncio.run(_fill(database_url))
    return database_url


async def _fill(url: str) -> None:
    store = await open_store(url)
    try:
        await record_history(store)
    finally:
        await store.close()


def ids(url: str) -> tuple[str, str]:
    async def look_up() -> tuple[str, str]:
        store = await open_store(url)
        try:
            return await id_of(store, ERASED_NAME), await id_of(store, OTHER_NAME)
        finally:
            await store.close()

    return asyncio.run(look_up())


def test_people_lists_each_person_with_their_streams(url: str, capsys: Capture) -> None:
    helene, other = ids(url)
    code, out, _ = run(capsys, "people")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == {helene, other}
    assert lines[helene].endswith("agreement-a agreement-b") and "held" in lines[helene]
    assert ERASED_NAME not in out


def test_people_finds_a_person_by_name_for_a_request_that_names_them(
    url: str, capsys: Capture
) -> None:
    helene, _ = ids(url)
    code, out, _ = run(capsys, "people", "--name", ERASED_NAME)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [helene]
    code, out, _ = run(capsys, "people", "--name", "Nobody Named This")
    assert (code, out) == (0, "")


def test_erase_from_the_command_line(url: str, tmp_path: Path, capsys: Capture) -> None:
    helene, _ = ids(url)
    code, out, _ = run(
        capsys, "erase", helene, "--legal-basis", "GDPR Art. 17(1)(a)", "--reason", "asked"
    )
    assert code == 0
    assert "erased: PersonalDataErased at position 6" in out
    assert "streams to refold: agreement-a agreement-b" in out

    code, out, _ = run(capsys, "erase", helene, "--legal-basis", "x", "--reason", "again")
    assert (code, out.splitlines()[0]) == (0, "already erased: PersonalDataErased at position 6")

    _, out, _ = run(capsys, "people")
    assert "erased" in next(line for line in out.splitlines() if line.startswith(helene))

    export = tmp_path / "log.jsonl"
    assert run(capsys, "export", "--output", str(export))[0] == 0
    assert ERASED_NAME.encode() not in export.read_bytes()
    assert len(list(read_jsonl(io.BytesIO(export.read_bytes())))) == 6
    assert asyncio.run(verify_async(None, str(export), None, None)) == 0
    assert asyncio.run(verify_async(url, None, None, None)) == 0


def test_erase_refuses_what_it_cannot_do(url: str, capsys: Capture) -> None:
    assert run(capsys, "erase", "0" * 32, "--legal-basis", "x", "--reason", "y")[0] == 1
    assert run(capsys, "erase", "not-an-id", "--legal-basis", "x", "--reason", "y")[0] == 2
    code, _, err = run(capsys, "erase", ids(url)[0], "--legal-basis", "", "--reason", "y")
    assert code == 2 and "legal_basis" in err


def test_erase_a_note_from_the_command_line(url: str, capsys: Capture) -> None:
    note = next(e for e in _events(url) if e.type == "NoteAttached")
    args = ("--legal-basis", "Art. 17", "--reason", "named a visitor")
    code, out, _ = run(capsys, "erase", "--note", note.event_id, *args)
    assert (code, out.strip()) == (0, "erased: NoteErased at position 6")
    assert b"harbour master" not in b"".join(bytes(e.data) for e in _events(url))
    assert run(capsys, "erase", "--note", "no-such-event", *args)[0] == 1
    assert run(capsys, "erase", "0" * 32, "--note", note.event_id, *args)[0] == 2
