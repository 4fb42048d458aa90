"""Personal values outside the hash chain: `personal_values`, `erasures_in_progress`,
`log_secrets`, and an update trigger on `events` that lets an erasure rewrite `data` and
nothing else (see `events.erasure`).

Revision ID: 0004
Revises: 0003
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_UNCHANGED = (
    "position",
    "event_id",
    "stream_key",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "metadata",
    "occurred_at",
    "recorded_at",
    "prev_hash",
    "hash",
)

_SQLITE_GUARD = """
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
WHEN NOT EXISTS (SELECT 1 FROM erasures_in_progress WHERE position = OLD.position)
  OR {changed}
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"""

_PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION events_erasure_only() RETURNS trigger AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM erasures_in_progress WHERE position = OLD.position)
     OR ({old}) IS DISTINCT FROM ({new}) THEN
    RAISE EXCEPTION 'events are append-only';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql"""
_PG_GUARD = """CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
       FOR EACH ROW EXECUTE FUNCTION events_erasure_only()"""


def upgrade() -> None:
    position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "personal_values",
        sa.Column("position", position, primary_key=True, autoincrement=False),
        sa.Column("path", sa.String(500), primary_key=True),
        sa.Column("person_id", sa.String(32), nullable=True),
        sa.Column("salt", sa.LargeBinary, nullable=True),
        sa.Column("commitment", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_personal_values_person", "personal_values", ["person_id"])
    op.create_table(
        "erasures_in_progress",
        sa.Column("position", position, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "log_secrets",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("secret", sa.LargeBinary, nullable=False),
    )
    op.execute(
        sa.text("INSERT INTO log_secrets (name, secret) VALUES ('person_id', :secret)").bindparams(
            sa.bindparam("secret", secrets.token_bytes(32), type_=sa.LargeBinary)
        )
    )
    op.execute("DROP TRIGGER events_append_only_update" + _on_events())
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            _PG_GUARD_FUNCTION.format(
                old=", ".join(f"OLD.{c}" for c in _UNCHANGED),
                new=", ".join(f"NEW.{c}" for c in _UNCHANGED),
            )
        )
        op.execute(_PG_GUARD)
    else:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _UNCHANGED)
        op.execute(_SQLITE_GUARD.format(changed=changed))


def _on_events() -> str:
    return " ON events" if op.get_bind().dialect.name == "postgresql" else ""


def downgrade() -> None:
    op.execute("DROP TRIGGER events_append_only_update" + _on_events())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION events_erasure_only()")
        op.execute(
            "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
        )
    op.drop_table("log_secrets")
    op.drop_table("erasures_in_progress")
    op.drop_index("ix_personal_values_person", "personal_values")
    op.drop_table("personal_values")
