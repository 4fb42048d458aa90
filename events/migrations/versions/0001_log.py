"""The log: events and streams, append-only by trigger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_GUARDS = [
    """CREATE TRIGGER events_append_only_{op} BEFORE {OP} ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"""
]
_PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'events are append-only'; END $$ LANGUAGE plpgsql"""
_PG_GUARD = """CREATE TRIGGER events_append_only_{op} BEFORE {OP} ON events
       FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"""


def upgrade() -> None:
    position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "events",
        sa.Column("position", position, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("stream_key", sa.Integer, nullable=False),
        sa.Column("stream_id", sa.String(160), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("metadata", sa.LargeBinary, nullable=False),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("stream_key", "version", name="uq_events_stream_version"),
    )
    op.create_table(
        "streams",
        sa.Column("stream_key", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stream_id", sa.String(160), nullable=False, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_GUARD_FUNCTION)
    for name in ("update", "delete"):
        template = _PG_GUARD if dialect == "postgresql" else _SQLITE_GUARDS[0]
        op.execute(template.format(op=name, OP=name.upper()))


def downgrade() -> None:
    op.drop_table("streams")
    op.drop_table("events")
