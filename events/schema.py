"""The log's tables. Nothing here is ever updated or deleted but `streams.version` and the
single row of `tree_verified`.

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

merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)
"""The log's Merkle tree: the hash of leaves [idx·2^level, (idx+1)·2^level) for every complete
subtree of level 1 and up (level 0, the leaf hashes, is computed from `events.hash`). Written
by the writer in each append's transaction; see `events.stored_tree`."""

tree_verified = Table(
    "tree_verified",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
)
"""One row (id 1): how much of the log the audit routes have chain-verified against the stored
tree, so a checkpoint verifies only what came since; see `events.tree_audit`."""
