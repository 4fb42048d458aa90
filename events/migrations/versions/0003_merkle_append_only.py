"""The stored Merkle tree is evidence like the events it is built from: `merkle_nodes` refuses
UPDATE and DELETE by trigger, as `events` does (0001). A node is written once, by the append
that completes its subtree, and never changes; an edit would let a tampered tree sign.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OPERATIONS = ("update", "delete")
_SQLITE_GUARD = """CREATE TRIGGER merkle_nodes_append_only_{op} BEFORE {OP} ON merkle_nodes
       BEGIN SELECT RAISE(ABORT, 'merkle_nodes are append-only'); END"""
_PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION merkle_nodes_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'merkle_nodes are append-only'; END $$ LANGUAGE plpgsql"""
_PG_GUARD = """CREATE TRIGGER merkle_nodes_append_only_{op} BEFORE {OP} ON merkle_nodes
       FOR EACH STATEMENT EXECUTE FUNCTION merkle_nodes_append_only()"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_GUARD_FUNCTION)
    template = _PG_GUARD if dialect == "postgresql" else _SQLITE_GUARD
    for name in _OPERATIONS:
        op.execute(template.format(op=name, OP=name.upper()))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    on_table = " ON merkle_nodes" if postgres else ""
    for name in _OPERATIONS:
        op.execute(f"DROP TRIGGER merkle_nodes_append_only_{name}{on_table}")
    if postgres:
        op.execute("DROP FUNCTION merkle_nodes_append_only()")
