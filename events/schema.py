"""The log's tables. Nothing here is ever updated or deleted but `streams.version`.

`stream_key` is a small integer standing for the stream id: the (stream_key, version) unique
index is far smaller than one keyed on text, which matters for write-ahead-log volume.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only treats "INTEGER PRIMARY KEY" as the rowid; BIGINT would add a second index.
_Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_key", Integer, nullable=False),
    Column("stream_id", String(160), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("schema_version", SmallInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("metadata", LargeBinary, nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("stream_key", "version", name="uq_events_stream_version"),
)

streams = Table(
    "streams",
    metadata,
    Column("stream_key", Integer, primary_key=True, autoincrement=False),
    Column("stream_id", String(160), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
)
