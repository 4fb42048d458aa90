"""The log's Merkle tree in the database (`merkle_nodes`) and the audit's verified size
(`tree_verified`); the tree is filled for the events already in the log.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from events.stored_tree import stream_nodes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 10_000
_GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tree_verified",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO tree_verified (id, size, head_hash) VALUES (1, 0, :genesis)"
        ).bindparams(genesis="0" * 64)
    )
    _fill(op.get_bind())


def _fill(connection: Connection) -> None:
    """Stream the log's hashes in position order and store every node they complete, a batch
    at a time: memory stays O(batch + log n) whatever the log's size."""
    nodes = sa.table(
        "merkle_nodes", sa.column("level"), sa.column("idx"), sa.column("hash", sa.LargeBinary)
    )
    batch: list[dict[str, object]] = []
    for level, index, node in stream_nodes(_leaves(connection)):
        batch.append({"level": level, "idx": index, "hash": node})
        if len(batch) >= _BATCH:
            connection.execute(nodes.insert(), batch)
            batch = []
    if batch:
        connection.execute(nodes.insert(), batch)


def _leaves(connection: Connection) -> Iterator[bytes]:
    query = sa.text(
        "SELECT position, hash FROM events WHERE position > :after ORDER BY position LIMIT :n"
    )
    after = 0
    while True:
        rows = connection.execute(query, {"after": after, "n": _BATCH}).all()
        if not rows:
            return
        for _, leaf in rows:
            yield bytes.fromhex(leaf)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_table("tree_verified")
    op.drop_table("merkle_nodes")
