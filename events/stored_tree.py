"""The log's Merkle tree kept in the database, so roots and proofs read O(log n) stored hashes.

The table `merkle_nodes` holds, by (level, index), the hash of every complete aligned subtree
of level 1 and up: about one row per event. Level 0 (a leaf's hash) is computed from the
event's `hash` column, the leaf itself, rather than stored twice. This is the layout of Go's
`sumdb/tlog` (`StoredHashIndex`, `ReadHashes`) in rows instead of a flat file.

The writer's `Frontier` stores the nodes each append completes inside the append's own
transaction, after inserting the events: the new nodes commit or roll back with them, so the
tree never disagrees with the log it was written with, on SQLite or PostgreSQL, whatever the
group size. `StoredTree` answers roots and proofs by asking `events.merkle` which subtrees a
call needs and reading exactly those, so it costs the same in a fresh process as in an old
one and keeps nothing that grows with the log.
`stream_nodes` recomputes the nodes from the leaves, for the migration that fills the table
for an existing log and for verification, in bounded batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events import merkle
from events.schema import events as events_table
from events.schema import merkle_nodes

_N, _E = merkle_nodes.c, events_table.c
_INSERT = merkle_nodes.insert()
_DRIVER_SQL: dict[str, str] = {}

T = TypeVar("T")


class TreeIncomplete(LookupError):
    """A hash the tree needs is not stored (the database was not migrated, or was edited)."""


# --- writing ---------------------------------------------------------------------------------


class Frontier:
    """Stores the nodes each append completes; kept by the writer for its life.

    It remembers the tree's peaks as of its last commit, so a group does not read them again;
    they are read from the table (O(log n) rows) when the log moved without it: another
    instance appended, or a transaction failed and `forget` was called.
    """

    def __init__(self) -> None:
        self._committed: tuple[int, list[bytes]] | None = None
        self._staged: tuple[int, list[bytes]] | None = None

    def extend(
        self, connection: Connection, size: int, last_leaf: str, leaves: Sequence[bytes]
    ) -> None:
        """Store the subtrees that appending `leaves` (events' hashes, 32 raw bytes each, in
        position order) to a log of `size` events completes; `last_leaf` is the hash (hex) of
        the event at `size`. Runs on the caller's connection, inside its transaction."""
        if not leaves:
            return
        if self._committed is not None and self._committed[0] == size:
            peaks = self._committed[1]
        else:
            peaks = _read_peaks(connection, size, last_leaf)
        rows, new_peaks = merkle.append_leaves(size, peaks, leaves)
        if rows:
            connection.exec_driver_sql(_insert_sql(connection), rows)
        self._staged = (size + len(leaves), new_peaks)

    def committed(self) -> None:
        """The transaction that called `extend` committed: its peaks are the tree's now."""
        if self._staged is not None:
            self._committed, self._staged = self._staged, None

    def forget(self) -> None:
        """A transaction failed or its outcome is unknown: read the peaks next time."""
        self._committed = self._staged = None


def _read_peaks(connection: Connection, size: int, last_leaf: str) -> list[bytes]:
    peaks = merkle.peaks(size)
    stored = _read_sync(connection, [key for key in peaks if key[0] > 0])
    if size & 1:
        stored[(0, size - 1)] = merkle.leaf_hash(bytes.fromhex(last_leaf))
    try:
        return [stored[key] for key in peaks]
    except KeyError as missing:
        raise TreeIncomplete(f"the stored tree lacks node {missing} of a log of {size}") from None


def stream_nodes(
    leaves: Iterable[bytes], *, size: int = 0, peak_hashes: Sequence[bytes] = ()
) -> Iterator[tuple[int, int, bytes]]:
    """(level, index, hash) of every stored node (level 1 and up) that the leaves complete, in
    the order they complete; O(log n) memory."""
    for level, index, node in merkle.completed_nodes(size, peak_hashes, leaves):
        if level > 0:
            yield level, index, node


def _insert_sql(connection: Connection) -> str:
    name = connection.dialect.name
    if name not in _DRIVER_SQL:
        compiled = _INSERT.compile(dialect=connection.dialect)
        assert tuple(compiled.positiontup or ()) == ("level", "idx", "hash"), compiled.positiontup
        _DRIVER_SQL[name] = str(compiled)
    return _DRIVER_SQL[name]


def _read_sync(connection: Connection, keys: Sequence[tuple[int, int]]) -> dict[Any, bytes]:
    if not keys:
        return {}
    rows = connection.execute(_nodes_query(keys))
    return {(level, index): bytes(node) for level, index, node in rows}


def _nodes_query(keys: Sequence[tuple[int, int]]) -> Any:
    return select(_N.level, _N.idx, _N.hash).where(
        or_(*(and_(_N.level == level, _N.idx == index) for level, index in keys))
    )


# --- reading ---------------------------------------------------------------------------------


class StoredTree:
    """Roots and proofs for any prefix of the log, from the stored hashes.

    The caller checks sizes and positions against the log's head; `hashes_read` counts the
    stored hashes (and leaves) read so far, for tests and benchmarks.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.hashes_read = 0

    async def root(self, size: int) -> bytes:
        return await self._compute(lambda get: merkle.root_from(size, get))

    async def inclusion(self, position: int, size: int) -> list[bytes]:
        """RFC 9162 proof that the event at `position` (1..size) is in the log of `size`."""
        if not 1 <= position <= size:
            raise ValueError(f"position {position} is outside 1..{size}")
        return await self._compute(lambda get: merkle.inclusion_from(position - 1, size, get))

    async def consistency(self, m: int, n: int) -> list[bytes]:
        """RFC 9162 proof that the log of size m (0..n) is a prefix of the log of size n."""
        if not 0 <= m <= n:
            raise ValueError(f"from ({m}) must be between 0 and to ({n})")
        return await self._compute(lambda get: merkle.consistency_from(m, n, get))

    async def _compute(self, compute: Callable[[merkle.HashSource], T]) -> T:
        keys = merkle.needed(compute)
        async with self._engine.connect() as connection:
            found = await read_hashes(connection, keys)
        self.hashes_read += len(found)

        def get(level: int, index: int) -> bytes:
            try:
                return found[(level, index)]
            except KeyError:
                raise TreeIncomplete(
                    f"the stored tree lacks the hash of level {level}, index {index}"
                ) from None

        return compute(get)


async def read_hashes(
    connection: AsyncConnection, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored hashes of the subtrees `keys` name; those not stored are left out. Leaves
    (level 0) are hashed from their events' `hash`."""
    found: dict[tuple[int, int], bytes] = {}
    leaves = [index + 1 for level, index in keys if level == 0]
    if leaves:
        rows = await connection.execute(select(_E.position, _E.hash).where(_E.position.in_(leaves)))
        for position, leaf in rows:
            found[(0, position - 1)] = merkle.leaf_hash(bytes.fromhex(leaf))
    nodes = [key for key in keys if key[0] > 0]
    if nodes:
        for level, index, node in await connection.execute(_nodes_query(nodes)):
            found[(level, index)] = bytes(node)
    return found


async def stored_nodes(
    connection: AsyncConnection, first: int, last: int
) -> list[tuple[int, int, bytes]]:
    """The stored nodes completed by the leaves at indexes first..last (the subtree of level L
    at index i is completed by leaf (i+1)·2^L - 1), level by level, each level by index."""
    ranges = []
    level = 1
    while (1 << level) <= last + 1:
        low = -(-(first + 1) >> level) - 1
        high = ((last + 1) >> level) - 1
        if low <= high:
            ranges.append(and_(_N.level == level, _N.idx >= low, _N.idx <= high))
        level += 1
    if not ranges:
        return []
    rows = await connection.execute(
        select(_N.level, _N.idx, _N.hash).where(or_(*ranges)).order_by(_N.level, _N.idx)
    )
    return [(level, index, bytes(node)) for level, index, node in rows]
