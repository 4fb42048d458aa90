"""The Merkle tree stored in the database: kept in step by the writer (group commit included) on
both databases, the same roots and proofs as the in-memory tree, filled by the migration for an
existing log, answered after a restart without reading the log, checked by verification, and
carried by backups."""

from __future__ import annotations

import asyncio
import math
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from benchmarks import data
from events import merkle, signed_checkpoints
from events.audit import LogBroken
from events.backup import backup
from events.envelope import RecordedEvent
from events.errors import WrongExpectedVersion
from events.schema import merkle_nodes
from events.store import EventStore, open_store
from events.stored_tree import Frontier, StoredTree, stream_nodes
from events.tree_audit import StoredLogTree, verify_stored_tree
from service.app import create_app
from service.audit_commands import verify as verify_command
from service.routes import ENDPOINTS
from service.routes.audit import AUDIT_ROUTES
from service.settings import Settings
from tests._databases import ADMIN_DSN, fresh_postgres
from tests.test_audit_http import Auditor, _WithState

META = data.METADATA


async def append_notes(store: EventStore, stream: int, count: int, *, first: int = 0) -> None:
    """`count` valid events of partnership `stream`, its versions `first + 1` on."""
    await store.append(
        data.stream_id("tree", stream), data.proposed(stream, first + 1, count), metadata=META
    )


async def everything(store: EventStore) -> list[RecordedEvent]:
    return await store.read_all(limit=1_000_000)


def leaves_of(events: list[RecordedEvent]) -> list[bytes]:
    return [bytes.fromhex(e.hash) for e in events]


async def stored_rows(store: EventStore) -> set[tuple[int, int, bytes]]:
    async with store.engine.connect() as connection:
        rows = await connection.execute(select(merkle_nodes))
        return {(level, index, bytes(node)) for level, index, node in rows}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()


# --- kept in step by the writer --------------------------------------------------------------


async def test_group_commits_and_refusals_keep_the_stored_tree_exactly_the_logs(
    store: EventStore,
) -> None:
    await append_notes(store, 0, 5)
    # Many appends at once share transactions; one of them is refused inside its group.
    refused = store.append(
        data.stream_id("tree", 0),
        data.proposed(0, 6, 1),
        expected_version="no_stream",
        metadata=META,
    )
    results = await asyncio.gather(
        *(append_notes(store, s, 1 + s % 4) for s in range(1, 40)), refused, return_exceptions=True
    )
    assert isinstance(results[-1], WrongExpectedVersion)
    assert not any(isinstance(r, BaseException) for r in results[:-1])
    await append_notes(store, 0, 300, first=5)  # one big batch completes high levels at once

    events = await everything(store)
    expected = set(stream_nodes(leaves_of(events)))
    assert await stored_rows(store) == expected
    assert len(expected) == len(events) - bin(len(events)).count("1")  # n - popcount(n) nodes


async def test_a_failed_transaction_leaves_no_nodes_and_the_next_carries_on(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await append_notes(store, 0, 5)
    extend = Frontier.extend
    failures = [RuntimeError("the disk went away after the tree was written")]

    def failing(self: Frontier, *args: Any) -> None:
        extend(self, *args)
        if failures:
            raise failures.pop()

    monkeypatch.setattr(Frontier, "extend", failing)
    with pytest.raises(RuntimeError):
        await append_notes(store, 1, 6)
    await append_notes(store, 2, 7)
    events = await everything(store)
    assert len(events) == 12
    assert await stored_rows(store) == set(stream_nodes(leaves_of(events)))


async def test_two_stores_writing_one_database_keep_one_tree(database_url: str) -> None:
    # Two instances (two writers) on one database: each group reads the peaks the other left.
    first, second = await open_store(database_url), await open_store(database_url)
    try:
        await asyncio.gather(
            *(append_notes(first, s, 3) for s in range(0, 30, 2)),
            *(append_notes(second, s, 2) for s in range(1, 30, 2)),
        )
        events = await everything(first)
        assert len(events) == 15 * 3 + 15 * 2
        assert await stored_rows(first) == set(stream_nodes(leaves_of(events)))
    finally:
        await first.close()
        await second.close()


async def test_roots_and_proofs_from_storage_equal_the_in_memory_trees(store: EventStore) -> None:
    for stream in range(7):
        await append_notes(store, stream, 3 + stream * 5)
    events = await everything(store)
    n = len(events)
    memory = merkle.MerkleTree(leaves_of(events))
    stored = StoredTree(store.engine)
    for size in range(n + 1):
        assert await stored.root(size) == memory.root(size)
    for size in (1, 2, 3, 7, 8, 33, n - 1, n):
        for position in sorted({p for p in (1, 2, size // 2 + 1, size) if p <= size}):
            assert await stored.inclusion(position, size) == memory.inclusion_proof(
                position - 1, size
            )
        for m in sorted({0, 1, size // 3, size - 1, size}):
            assert await stored.consistency(m, size) == memory.consistency_proof(m, size)


# --- a restart -------------------------------------------------------------------------------


class _CountingReads:
    """Counts the events `read_all` hands back: reading the whole log shows up here."""

    def __init__(self, store: EventStore) -> None:
        self.events = 0
        self._read_all = store.read_all
        store.read_all = self  # type: ignore[method-assign]

    async def __call__(self, **query: Any) -> list[RecordedEvent]:
        found = await self._read_all(**query)
        self.events += len(found)
        return found


async def test_after_a_restart_a_checkpoint_and_proofs_read_log_n_hashes_not_the_log(
    database_url: str,
) -> None:
    key = signed_checkpoints.generate_key()
    first = await open_store(database_url)
    try:
        for stream in range(20):
            await append_notes(first, stream, 50)
        tree = StoredLogTree(first)
        await tree.refresh()
        before = await tree.checkpoint(key)
        events = await everything(first)
    finally:
        await first.close()
    n = len(events)
    assert before.size == n == 1000

    restarted = await open_store(database_url)
    try:
        reads = _CountingReads(restarted)
        tree = StoredLogTree(restarted)
        assert await tree.refresh() == n
        after = await tree.checkpoint(key)
        inclusion = await tree.inclusion(617, n)
        consistency = await tree.consistency(333, n)
        leaf = await tree.leaf(617)
    finally:
        await restarted.close()

    assert (after.size, after.head_hash, after.merkle_root) == (
        before.size,
        before.head_hash,
        before.merkle_root,
    )
    root = bytes.fromhex(after.merkle_root)
    assert merkle.verify_inclusion(leaf, 616, n, inclusion, root)
    assert merkle.verify_consistency(
        333, n, merkle.root(leaves_of(events)[:333]), root, consistency
    )
    assert reads.events == 1  # the leaf of the inclusion proof; nothing else of the log
    # A root and two proofs: each at most two hashes a level (a sibling, or the peaks of a
    # ragged right edge), against the log's 1,000 leaves.
    bound = 5 * (math.ceil(math.log2(n)) + 1)
    assert tree.hashes_read <= bound


async def test_a_checkpoint_verifies_only_what_came_since_the_last_one(store: EventStore) -> None:
    await append_notes(store, 0, 40)
    await StoredLogTree(store).refresh()
    await append_notes(store, 1, 7)
    fresh = StoredLogTree(store)  # another process, or this one restarted
    reads = _CountingReads(store)
    assert await fresh.refresh() == 47
    assert reads.events == 7


# --- tampering -------------------------------------------------------------------------------


async def _unguard_nodes(store: EventStore) -> None:
    """Remove what stops UPDATE and DELETE on the stored tree, as an attacker would."""
    async with store.engine.begin() as connection:
        if store.dialect == "sqlite":
            for op in ("update", "delete"):
                await connection.execute(text(f"DROP TRIGGER merkle_nodes_append_only_{op}"))
        else:
            await connection.execute(text("ALTER TABLE merkle_nodes DISABLE TRIGGER ALL"))


async def _forge_node(store: EventStore, level: int, index: int) -> None:
    await _unguard_nodes(store)
    async with store.engine.begin() as connection:
        await connection.execute(
            merkle_nodes.update()
            .where(merkle_nodes.c.level == level, merkle_nodes.c.idx == index)
            .values(hash=b"\x42" * 32)
        )


async def test_the_stored_tree_refuses_updates_and_deletes(store: EventStore) -> None:
    await append_notes(store, 0, 8)
    before = await stored_rows(store)
    for change in (
        merkle_nodes.update().where(merkle_nodes.c.level == 1).values(hash=b"\x42" * 32),
        merkle_nodes.delete().where(merkle_nodes.c.level == 3),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with store.engine.begin() as connection:
                await connection.execute(change)
    assert await stored_rows(store) == before
    await append_notes(store, 1, 9)  # appends still store their nodes
    assert await stored_rows(store) == set(stream_nodes(leaves_of(await everything(store))))


async def test_a_tampered_stored_hash_is_found_by_verification_and_before_signing(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = await open_store(database_url)
    try:
        await append_notes(store, 0, 40)
        # Level 2, index 5 covers positions 21..24: inside the log, not one of its peaks, so
        # the root at the head alone would not show it.
        await _forge_node(store, 2, 5)
        report = await verify_stored_tree(store, batch_size=16)
        assert not report.ok
        assert report.first_broken_position == 24
        assert "level 2, index 5" in (report.reason or "")
        with pytest.raises(LogBroken) as caught:
            await StoredLogTree(store).refresh(batch_size=16)
        assert caught.value.report.first_broken_position == 24
    finally:
        await store.close()
    assert await asyncio.to_thread(verify_command, database_url, None, None, None) == 1
    assert "position 24: the node of level 2, index 5" in capsys.readouterr().err


async def test_a_deleted_stored_hash_is_named_by_level_and_index(store: EventStore) -> None:
    await append_notes(store, 0, 40)
    await _unguard_nodes(store)
    async with store.engine.begin() as connection:
        await connection.execute(
            merkle_nodes.delete().where(merkle_nodes.c.level == 3, merkle_nodes.c.idx == 1)
        )
    report = await verify_stored_tree(store, batch_size=7)
    assert (report.ok, report.first_broken_position) == (False, 16)
    assert "level 3, index 1 (positions 9..16)" in (report.reason or "")


async def test_a_clean_stored_tree_verifies(store: EventStore) -> None:
    await append_notes(store, 0, 37)
    report = await verify_stored_tree(store, batch_size=8)
    assert report.ok and report.checked == 37


# --- the migration ---------------------------------------------------------------------------


async def test_the_migration_builds_the_tree_of_an_existing_log(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        for stream in range(9):
            await append_notes(store, stream, 11)
        expected = await stored_rows(store)
        async with store.engine.begin() as connection:  # back to the schema before the tree
            await connection.execute(text("DROP TABLE merkle_nodes"))
            await connection.execute(text("DROP TABLE tree_verified"))
            for table in ("personal_values", "erasures_in_progress", "log_secrets"):  # 0004's
                await connection.execute(text(f"DROP TABLE {table}"))
            await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    finally:
        await store.close()

    migrated = await open_store(database_url)
    try:
        assert await stored_rows(migrated) == expected
        assert len(expected) == 99 - bin(99).count("1")
        await append_notes(migrated, 0, 5, first=11)  # the writer carries on from it
        events = await everything(migrated)
        assert await stored_rows(migrated) == set(stream_nodes(leaves_of(events)))
    finally:
        await migrated.close()


# --- backups ---------------------------------------------------------------------------------


async def test_a_restored_sqlite_backup_answers_from_its_stored_tree(tmp_path: Path) -> None:
    original = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}")
    try:
        await append_notes(original, 0, 77)
        result = await backup(original.engine.url.render_as_string(), tmp_path / "copy.db")
        await append_notes(original, 1, 5)  # after the copy: not in it
    finally:
        await original.close()
    await _assert_tree_served(f"sqlite+aiosqlite:///{result.path}", result.head)


@pytest.mark.postgres
async def test_a_restored_postgres_backup_answers_from_its_stored_tree(tmp_path: Path) -> None:
    if shutil.which("pg_restore") is None:
        pytest.skip("pg_restore not installed")
    dump = tmp_path / "agreements.dump"
    async with fresh_postgres() as url, fresh_postgres() as restored_url:
        original = await open_store(url)
        try:
            await append_notes(original, 0, 77)
        finally:
            await original.close()
        result = await backup(url, dump)
        dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + restored_url.rsplit("/", 1)[1]
        process = await asyncio.create_subprocess_exec(
            "pg_restore", "--no-owner", f"--dbname={dsn}", str(dump), stderr=asyncio.subprocess.PIPE
        )
        _, errors = await process.communicate()
        assert process.returncode == 0, errors.decode()
        await _assert_tree_served(restored_url, result.head)


async def _assert_tree_served(url: str, head: int) -> None:
    store = await open_store(url)
    try:
        events = await everything(store)
        assert len(events) == head == 77
        assert (await verify_stored_tree(store)).ok
        tree = StoredLogTree(store)
        await tree.refresh()
        assert await tree.root() == merkle.root(leaves_of(events))
        async with store.engine.connect() as connection:
            count = (
                await connection.execute(select(func.count()).select_from(merkle_nodes))
            ).scalar()
        assert count == head - bin(head).count("1")
    finally:
        await store.close()


# --- over HTTP -------------------------------------------------------------------------------


async def test_a_restarted_server_signs_a_checkpoint_without_reading_the_log(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_store(database_url)
    try:
        for stream in range(12):
            await append_notes(store, stream, 50)
    finally:
        await store.close()
    read: list[int] = []
    read_all = EventStore.read_all

    async def counting(self: EventStore, **query: Any) -> list[RecordedEvent]:
        found = await read_all(self, **query)
        read.append(len(found))
        return found

    monkeypatch.setattr(EventStore, "read_all", counting)

    token, first = await _serve(database_url, None, ("/audit/checkpoint", {}))
    assert sum(read) >= 600  # the first checkpoint verifies the log once
    read.clear()
    _, again = await _serve(
        database_url, token, ("/audit/checkpoint", {}), ("/audit/inclusion", {"position": 300})
    )
    assert sum(read) <= 1  # the proof's leaf: the restart reads nothing else of the log
    assert again[0]["size"] == first[0]["size"]
    assert again[0]["merkle_root"] == first[0]["merkle_root"]
    assert merkle.verify_inclusion(
        bytes.fromhex(again[1]["leaf"]),
        299,
        first[0]["size"],
        [bytes.fromhex(node) for node in again[1]["proof"]],
        bytes.fromhex(first[0]["merkle_root"]),
    )


async def test_audit_verify_names_a_tampered_stored_node_in_the_window_that_completes_it(
    database_url: str,
) -> None:
    store = await open_store(database_url)
    try:
        await append_notes(store, 0, 40)
        await _forge_node(store, 2, 5)  # positions 21..24
    finally:
        await store.close()
    _, (whole, before, window) = await _serve(
        database_url,
        None,
        ("/audit/verify", {}),
        ("/audit/verify", {"limit": 16}),
        ("/audit/verify", {"from": 17, "limit": 16}),
    )
    for broken in (whole, window):
        assert broken["report"]["ok"] is False
        assert broken["report"]["first_broken_position"] == 24
        assert "level 2, index 5 (positions 21..24)" in broken["report"]["reason"]
        assert broken["next"] is None
    assert before["report"]["ok"] is True
    assert before["next"]["from"] == 17


async def _serve(
    database_url: str, token: str | None, *requests: tuple[str, dict[str, Any]]
) -> tuple[str, list[Any]]:
    """Start the app on the database, GET each path as an auditor (made with the first admin
    token when `token` is None), stop it: the auditor's token and the answers."""
    announced: list[str] = []
    settings = Settings(
        database_url=database_url, start_projections=False, announce_token=announced.append
    )
    app = create_app(settings, endpoints=(*ENDPOINTS, *AUDIT_ROUTES))
    answers = []
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        transport = httpx.ASGITransport(app=_WithState(app, dict(state)))
        async with httpx.AsyncClient(transport=transport, base_url="http://agreements") as client:
            auditor = Auditor(client, announced[0] if announced else "")
            if token is None:
                await auditor.start()
            else:
                auditor.auditor = token
            for path, query in requests:
                answers.append(await auditor.ok(path, **query))
    return auditor.auditor, answers
