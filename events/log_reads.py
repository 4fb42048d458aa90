"""Reading the log for folds at the database driver's speed: plain rows, one round trip.

Replays (rebuilds, the projection runner, as-of answers) need only a few columns of each
event and no `RecordedEvent` around them. These reads go to the driver (aiosqlite or
asyncpg) under the pooled connection with one statement each, so a page of thousands of
events costs one hop to the driver instead of SQLAlchemy's several, and no per-row objects
beyond the driver's own tuples. One statement is one consistent snapshot on both databases.

A log row is `(position, stream_id, version, type, schema_version, occurred_at, recorded_at,
data)`; a stream row leaves out the stream id the caller named and the record time (a cut by
record time is a cut by position: see `last_recorded_by`). Unpack them in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

Row = Sequence[Any]
"""position, stream_id, version, type, schema_version, occurred_at, recorded_at, data."""
StreamRow = Sequence[Any]
"""position, version, type, schema_version, occurred_at, data."""

_STREAM_COLUMNS = "position, version, type, schema_version, occurred_at, data"
_COLUMNS = "position, stream_id, version, type, schema_version, occurred_at, recorded_at, data"

_LOG = (
    f"SELECT {_COLUMNS} FROM events WHERE position > :after AND position <= :until "
    "ORDER BY position LIMIT :limit"
)
_STREAM = (
    f"SELECT {_STREAM_COLUMNS} FROM events WHERE stream_key = "
    "(SELECT stream_key FROM streams WHERE stream_id = :stream_id) "
    "AND position <= :until ORDER BY version"
)
_STREAM_LOG = (
    f"SELECT {_COLUMNS} FROM events WHERE stream_key = "
    "(SELECT stream_key FROM streams WHERE stream_id = :stream_id) "
    "AND position <= :until ORDER BY version"
)
_STREAM_HISTORY = _STREAM_LOG.replace(" FROM events", ", event_id FROM events", 1)
_RECORDED_AT = "SELECT recorded_at FROM events WHERE position = :position"
_HEAD = "SELECT max(position) FROM events"

_NO_LIMIT = 2**63 - 1


async def log_rows(
    engine: AsyncEngine, *, after: int = 0, limit: int = 5000, until: int | None = None
) -> list[Row]:
    """The events at positions in (`after`, `until`], in position order, at most `limit`."""
    until = _NO_LIMIT if until is None else until
    return await _fetch(engine, _LOG, after=after, until=until, limit=limit)


async def stream_rows(
    engine: AsyncEngine, stream_id: str, *, until: int | None = None
) -> list[StreamRow]:
    """One stream's events at positions <= `until`, in version order ([] if no such stream)."""
    until = _NO_LIMIT if until is None else until
    return await _fetch(engine, _STREAM, stream_id=stream_id, until=until)


async def stream_log_rows(
    engine: AsyncEngine, stream_id: str, *, until: int | None = None, event_ids: bool = False
) -> list[Row]:
    """One stream's events at positions <= `until` as log rows, in version order; with
    `event_ids`, each row ends with the event's id (what a correction names)."""
    until = _NO_LIMIT if until is None else until
    sql = _STREAM_HISTORY if event_ids else _STREAM_LOG
    return await _fetch(engine, sql, stream_id=stream_id, until=until)


async def log_head(engine: AsyncEngine) -> int:
    """The last position in the log (0 when empty)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        head = await _one(raw.driver_connection, connection.dialect.name == "postgresql", _HEAD, {})
    return int(head or 0)


async def last_recorded_by(engine: AsyncEngine, instant: str) -> int:
    """The last position recorded at or before `instant` (a stored timestamp string), 0 if
    none. Record times never decrease along positions, and positions have no gaps, so a
    binary search over the primary key finds it in about twenty point reads."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        postgres = connection.dialect.name == "postgresql"
        head = await _one(driver, postgres, _HEAD, {})
        low, high = 0, head or 0  # invariant: recorded_at(low) <= instant < recorded_at(high+1)
        while low < high:
            middle = (low + high + 1) // 2
            stamp = await _one(driver, postgres, _RECORDED_AT, {"position": middle})
            if stamp is not None and stamp <= instant:
                low = middle
            else:
                high = middle - 1
        return low


async def _fetch(engine: AsyncEngine, sql: str, **params: Any) -> list[Row]:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        if connection.dialect.name == "postgresql":
            text, values = _numbered(sql, params)
            return list(await driver.fetch(text, *values))
        return list(await driver.execute_fetchall(sql, params))


async def _one(driver: Any, postgres: bool, sql: str, params: dict[str, Any]) -> Any:
    if postgres:
        text, values = _numbered(sql, params)
        return await driver.fetchval(text, *values)
    rows = await driver.execute_fetchall(sql, params)
    return rows[0][0] if rows else None


_NUMBERED: dict[str, tuple[str, tuple[str, ...]]] = {}


def _numbered(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """`:name` placeholders (SQLite's named style) as asyncpg's `$n`, with the values in order."""
    if sql not in _NUMBERED:
        found: list[str] = []
        text = sql
        for name in sorted(params, key=len, reverse=True):
            if f":{name}" in text:
                found.append(name)
                text = text.replace(f":{name}", f"${len(found)}")
        _NUMBERED[sql] = (text, tuple(found))
    text, names = _NUMBERED[sql]
    return text, [params[name] for name in names]
