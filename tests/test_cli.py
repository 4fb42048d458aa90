"""The `agreements` command line: tokens, demo, export, rebuild, and how it finds its database."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from events.envelope import RecordedEvent
from events.export import read_jsonl
from events.hashing import event_hash
from events.store import open_store
from projections.facade import Projections
from service.cli import main
from service.demo import SEED
from service.settings import Settings
from service.tokens import TokenTable


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The database, given the way a user would: in AGREEMENTS_DATABASE_URL."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AGREEMENTS_DATABASE_URL", database_url)
    return database_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _events(url: str) -> list[RecordedEvent]:
    async def read() -> list[RecordedEvent]:
        store = await open_store(url)
        try:
            return await store.read_all(limit=100_000)
        finally:
            await store.close()

    return asyncio.run(read())


def test_settings_come_from_the_environment_and_flags_win() -> None:
    env = {
        "AGREEMENTS_DATABASE_URL": "sqlite+aiosqlite:///from-env.db",
        "AGREEMENTS_MAX_BODY_BYTES": "2048",
        "AGREEMENTS_MAX_EVENTS_PER_BATCH": "50",
    }
    settings = Settings.from_env(env)
    assert settings.database_url == "sqlite+aiosqlite:///from-env.db"
    assert (settings.max_body_bytes, settings.max_events_per_batch) == (2048, 50)
    flagged = Settings.from_env(
        env, database_url="sqlite+aiosqlite:///flag.db", max_body_bytes=None
    )
    assert flagged.database_url == "sqlite+aiosqlite:///flag.db"
    assert flagged.max_body_bytes == 2048
    assert Settings.from_env({}).max_body_bytes == 1024 * 1024


def test_token_create_list_revoke(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "token", "create", "--role", "recorder", "--name", "Desk A")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    token_id = re.fullmatch(r"agr_([0-9a-f]{16})_[A-Za-z0-9_-]{43}", secret)
    assert token_id is not None

    code, out, _ = run(capsys, "token", "list")
    assert code == 0
    assert token_id[1] in out and "recorder" in out and "Desk A" in out and "active" in out
    assert secret not in out

    assert run(capsys, "token", "revoke", token_id[1], "--reason", "lost")[0] == 0
    assert "revoked" in run(capsys, "token", "list")[1]
    code, _, err = run(capsys, "token", "revoke", token_id[1])
    assert code == 1
    assert token_id[1] in err

    (issued, revoked) = _events(url)
    assert issued.type == "TokenIssued" and revoked.type == "TokenRevoked"
    assert secret.encode() not in bytes(issued.data)
    assert msgspec.json.decode(issued.metadata)["actor"].startswith("cli:")


def test_the_database_url_flag_wins_over_the_environment(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    run(capsys, "token", "create", "--role", "viewer", "--name", "x", "--database-url", other)
    assert _events(url) == []
    assert len(_events(other)) == 1


def test_demo_records_the_seed_once(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert out.count("already recorded") == 0
    expected = sum(len(events) for _, events in SEED)
    assert len(_events(url)) == expected

    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert out.count("already recorded") == len(SEED)
    assert len(_events(url)) == expected


def test_export_writes_json_lines_that_verify(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "demo")
    output = tmp_path / "log.jsonl"

    code, _, err = run(capsys, "export", "--output", str(output))

    assert code == 0
    lines = output.read_bytes().splitlines()
    events = list(read_jsonl(io.BytesIO(output.read_bytes())))
    assert len(lines) == len(events) == len(_events(url))
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert all(event_hash(e) == e.hash for e in events)
    assert f"exported {len(events)} events" in err

    run(capsys, "export", "--after", "5", "--output", str(output))
    positions = [e.position for e in read_jsonl(io.BytesIO(output.read_bytes()))]
    assert positions == list(range(6, len(events) + 1))


def test_export_to_standard_output(url: str) -> None:
    subprocess.run([sys.executable, "-m", "service", "demo"], check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, "-m", "service", "export", "--after", "3"],
        check=True,
        capture_output=True,
    )
    positions = [msgspec.json.decode(line)["position"] for line in done.stdout.splitlines()]
    assert positions[0] == 4
    assert len(positions) == sum(len(events) for _, events in SEED) - 3


def test_rebuild_reaches_the_head(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "demo")
    code, _, err = run(capsys, "rebuild")
    assert code == 0
    assert f"up to position {len(_events(url))}" in err

    async def partnerships() -> int:
        store = await open_store(url)
        try:
            found, _ = await Projections(store).list_partnerships()
            return len(found)
        finally:
            await store.close()

    assert asyncio.run(partnerships()) == 3


def test_serve_prepares_the_database_and_prints_the_first_admin_token_once(url: str) -> None:
    from service.cli import _prepare

    shown: list[str] = []
    settings = Settings(database_url=url, announce_token=shown.append)
    asyncio.run(_prepare(settings, demo_first=True))
    asyncio.run(_prepare(settings, demo_first=False))

    assert len(shown) == 1

    async def authenticate() -> bool:
        store = await open_store(url)
        try:
            tokens = TokenTable(store)
            await tokens.refresh()
            record = tokens.authenticate(shown[0])
            return record is not None and record.role == "admin"
        finally:
            await store.close()

    assert asyncio.run(authenticate())
