"""The baselines: the same work done with nothing but the driver, measured in the same run.

Raw SQLite baselines write into a file migrated by the store's own migration (same tables,
same indexes, same triggers) with the store's pragmas (WAL, `synchronous=FULL`), using plain
`sqlite3`. They insert the very rows the store wrote in the measured run, in the same order
and the same transaction sizes, so the only difference is the store's own work.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from events.catalogue import decoder_for
from events.database import create_engine
from events.migrate import migrate

COLUMNS = (
    "position, event_id, stream_key, stream_id, version, type, schema_version, data, metadata, "
    "occurred_at, recorded_at, prev_hash, hash"
)
_INSERT_SQLITE = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 13)})"
_INSERT_PG = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join(f'${n}' for n in range(1, 14))})"
_SELECT = f"SELECT {COLUMNS} FROM events ORDER BY position"

Rows = list[tuple[Any, ...]]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def migrated(url: str) -> None:
    """Create the log's schema with the store's migration, nothing else."""
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def connect_sqlite(path: Path) -> sqlite3.Connection:
    """A plain connection with the store's pragmas; transactions are explicit."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def read_rows(path: Path) -> Rows:
    """Every event row as stored, in position order (to replay into a baseline)."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(_SELECT).fetchall()
    finally:
        connection.close()


def chunked(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def sqlite_executemany(path: Path, rows: Rows, batch: int = 1000) -> float:
    """Seconds to insert `rows` with one `executemany` and one commit per `batch` rows."""
    connection = connect_sqlite(path)
    try:
        started = time.perf_counter()
        for chunk in chunked(rows, batch):
            connection.execute("BEGIN")
            connection.executemany(_INSERT_SQLITE, chunk)
            connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


def sqlite_row_transactions(path: Path, rows: Rows) -> float:
    """Seconds to insert `rows` one transaction (and one durable commit) each."""
    connection = connect_sqlite(path)
    try:
        started = time.perf_counter()
        for row in rows:
            connection.execute("BEGIN")
            connection.execute(_INSERT_SQLITE, row)
            connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


async def pg_read_rows(dsn: str) -> Rows:
    connection = await asyncpg.connect(dsn)
    try:
        return [tuple(record) for record in await connection.fetch(_SELECT)]
    finally:
        await connection.close()


async def pg_executemany(dsn: str, rows: Rows, batch: int = 1000) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for chunk in chunked(rows, batch):
            async with connection.transaction():
                await connection.executemany(_INSERT_PG, chunk)
        return time.perf_counter() - started
    finally:
        await connection.close()


async def pg_row_transactions(dsn: str, rows: Rows, clients: int) -> float:
    """`clients` connections inserting one row per transaction at once. Positions are
    precomputed, so there is no serialization: an upper bound a log cannot reach."""
    connections = [await asyncpg.connect(dsn) for _ in range(clients)]
    try:

        async def client(index: int) -> None:
            connection = connections[index]
            for row in rows[index::clients]:
                async with connection.transaction():
                    await connection.execute(_INSERT_PG, *row)

        started = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(clients)))
        return time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()


def scan_and_decode(path: Path, fetch: int = 5000) -> tuple[float, int]:
    """(seconds, events) to read the whole log in position order and decode every event's
    data into its typed Struct: the floor under any replay of the log."""
    connection = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        count = 0
        cursor = connection.execute("SELECT type, data FROM events ORDER BY position")
        while rows := cursor.fetchmany(fetch):
            for type_name, data in rows:
                decoder = decoder_for(type_name)
                assert decoder is not None, type_name
                decoder.decode(data)
            count += len(rows)
        return time.perf_counter() - started, count
    finally:
        connection.close()


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_TAG = b"agreements-event/v2"


def _committed(data: bytes, values: list[tuple[str, bytes | None, bytes]]) -> tuple[bytes, bytes]:
    """The data with each personal value replaced by its commitment, and the paths' JSON."""
    if not values:
        return data, b"[]"
    document = _decode(data)
    for pointer, salt, committed in values:
        *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
        node = document
        for token in parents:
            node = node[int(token)] if isinstance(node, list) else node[token]
        key = int(last) if isinstance(node, list) else last
        if salt is not None:
            committed = hashlib.sha256(salt + node[key].encode()).digest()
        node[key] = committed.hex()
    return _encode(document), _encode(sorted(pointer for pointer, _, _ in values))


def scan_and_hash(path: Path, limit: int, fetch: int = 5000) -> tuple[float, int]:
    """(seconds, events) to recompute the chain (hash version 2, `events.hashing`) of the first
    `limit` events with plain sqlite3, msgspec and hashlib, comparing links and hashes:
    verification without the framework. Personal values are committed from their salts."""
    connection = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        personal: dict[int, list[tuple[str, bytes | None, bytes]]] = {}
        for position, pointer, salt, committed in connection.execute(
            "SELECT position, path, salt, commitment FROM personal_values WHERE position <= ?",
            (limit,),
        ):
            personal.setdefault(position, []).append((pointer, salt, committed))
        cursor = connection.execute(
            "SELECT position, event_id, stream_id, version, type, schema_version, occurred_at, "
            "recorded_at, data, metadata, prev_hash, hash FROM events WHERE position <= ? "
            "ORDER BY position",
            (limit,),
        )
        count, prev = 0, "0" * 64
        while rows := cursor.fetchmany(fetch):
            for row in rows:
                data, paths = _committed(row[8], personal.get(row[0], []))
                fields = [_TAG, *(str(v).encode() for v in row[:8]), data, row[9], paths]
                digest = hashlib.sha256(bytes.fromhex(prev))
                for field in fields:
                    digest.update(len(field).to_bytes(8, "big"))
                    digest.update(field)
                if row[10] != prev or digest.hexdigest() != row[11]:
                    raise AssertionError(f"the chain breaks at position {row[0]}")
                prev = row[11]
            count += len(rows)
        return time.perf_counter() - started, count
    finally:
        connection.close()
