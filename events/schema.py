"""The log's tables. Nothing here is ever updated or deleted but `streams.version`, the
single row of `tree_verified`, and what an erasure rewrites (`events.erasure`): the personal
values in `events.data` and their salts in `personal_values`.

`stream_key` is a small integer standing for the stream id: the (stream_key, version) unique
index is far smaller than one keyed on text, which matters for write-ahead-log volume.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
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

personal_values = Table(
    "personal_values",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=False),
    Column("path", String(500), primary_key=True),
    Column("person_id", String(32), nullable=True),
    Column("salt", LargeBinary, nullable=True),
    Column("commitment", LargeBinary, nullable=False),
    Index("ix_personal_values_person", "person_id"),
)
"""One row for each personal value in the log (`events.personal`): the event's position, the
JSON pointer into its data, whose value it is (None: a note's text), the salt (None once
erased) and sha256(salt || value), the commitment the hash chain covers. Written with the
event; only an erasure changes a row (it clears the salt)."""

erasures_in_progress = Table(
    "erasures_in_progress",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=False),
)
"""The positions an erasure is rewriting, written and emptied within its own transaction: the
events table's update trigger lets through an UPDATE of `data` only at these positions, so
outside an erasure (and of any other column) the log stays append-only."""

log_secrets = Table(
    "log_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("secret", LargeBinary, nullable=False),
)
"""Secrets the log keeps about itself: `person_id`, the HMAC key of person ids
(`events.personal.person_id`), made at random when the table is created."""
