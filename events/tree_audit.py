"""The audit routes' view of the log's tree: stored hashes, signed only once verified.

A checkpoint or proof covers only events whose chain has been verified and whose stored tree
nodes agree with their hashes. How far that goes is recorded in the database (`tree_verified`):
a checkpoint verifies just the events appended since the last one, and a restarted process
starts where the last one stopped instead of re-reading the log. Roots and proofs come from
`events.stored_tree`, so a process holds a size and a hash, nothing that grows with the log.

The record is a shortcut, not a guarantee against someone who edits the database: an event
edited below the verified size is found by `agreements verify` (or `/audit/verify`), not here.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from events import merkle, stored_tree
from events.audit import DEFAULT_BATCH, LogBroken
from events.envelope import GENESIS_HASH
from events.schema import tree_verified
from events.signed_checkpoints import ORIGIN, Checkpoint, sign_checkpoint
from events.store import EventStore
from events.verification import ChainVerifier, VerificationReport

_V = tree_verified.c


class StoredLogTree:
    """Checkpoints and proofs over the verified prefix of the log, from stored hashes.

    The same answers as `events.audit.LogTree`; `refresh` verifies what is new, the rest reads
    O(log n) stored hashes. Safe to share between concurrent requests of one event loop.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._tree = stored_tree.StoredTree(store.engine)
        self._size = 0
        self._head_hash = GENESIS_HASH
        self._lock = asyncio.Lock()

    @property
    def size(self) -> int:
        return self._size

    @property
    def head_hash(self) -> str:
        return self._head_hash

    @property
    def hashes_read(self) -> int:
        """Stored hashes read for roots and proofs so far (not the verification of new events)."""
        return self._tree.hashes_read

    async def refresh(self, *, batch_size: int = DEFAULT_BATCH) -> int:
        """Verify the events appended since the recorded verified size, then record the head;
        returns the new size. Raises LogBroken (recording nothing) if they do not verify."""
        async with self._lock:
            head = await self._store.head()
            size, head_hash = await self._recorded()
            if size > head:
                raise LogBroken(
                    _broken(
                        head,
                        head + 1,
                        f"the log ends at position {head} but {size} events were verified "
                        "(deleted?)",
                    )
                )
            if size < head:
                size, head_hash = await self._verify(size, head_hash, head, batch_size)
                await self._record(size, head_hash)
            self._size, self._head_hash = size, head_hash
            return size

    async def root(self, size: int | None = None) -> bytes:
        size = self._size if size is None else size
        self._check_size(size)
        return await self._tree.root(size)

    async def leaf(self, position: int) -> bytes:
        """The chain hash of the event at `position`, the tree's leaf."""
        self._check_position(position, self._size)
        found = await self._store.read_all(after=position - 1, limit=1, until=position)
        return bytes.fromhex(found[0].hash)

    def checkpoint_of(
        self,
        root: bytes,
        key: Ed25519PrivateKey,
        *,
        issued_at: dt.datetime | None = None,
        origin: str = ORIGIN,
    ) -> Checkpoint:
        """A signed statement of the tree at its current size, whose `root` the caller read;
        `origin` names the log (`checkpoints.origin_for`)."""
        return sign_checkpoint(
            key, self._size, self._head_hash, root, issued_at=issued_at, origin=origin
        )

    async def checkpoint(
        self,
        key: Ed25519PrivateKey,
        *,
        issued_at: dt.datetime | None = None,
        origin: str = ORIGIN,
    ) -> Checkpoint:
        """A signed statement of the verified tree as it is now (call `refresh` first)."""
        return self.checkpoint_of(await self.root(), key, issued_at=issued_at, origin=origin)

    async def consistency(self, m: int, n: int) -> list[bytes]:
        if not 0 <= m <= n:
            raise ValueError(f"from ({m}) must be between 0 and to ({n})")
        self._check_size(n)
        return await self._tree.consistency(m, n)

    async def inclusion(self, position: int, size: int) -> list[bytes]:
        self._check_size(size)
        self._check_position(position, size)
        return await self._tree.inclusion(position, size)

    # --- verification of what is new ----------------------------------------------------------

    async def _verify(
        self, size: int, head_hash: str, head: int, batch_size: int
    ) -> tuple[int, str]:
        """Chain-verify (size, head] and check that the stored nodes they complete are the ones
        their hashes give; the size reached and its last hash."""
        verifier = ChainVerifier(start_position=size + 1, start_prev_hash=head_hash)
        nodes = await _NodeCheck.at(self._store.engine, size)
        done = size
        while done < head:
            batch = await self._store.read_all(after=done, limit=batch_size, until=head)
            if not batch:
                break
            if not verifier.feed(batch):
                raise LogBroken(verifier.report(at_end=False))
            wrong = await nodes.feed(self._store.engine, [bytes.fromhex(e.hash) for e in batch])
            if wrong is not None:
                raise LogBroken(_tree_broken(done, wrong))
            done += len(batch)
        report = verifier.report(at_end=False)
        return report.head_position, report.head_hash

    async def _recorded(self) -> tuple[int, str]:
        async with self._store.engine.connect() as connection:
            row = (await connection.execute(select(_V.size, _V.head_hash).where(_V.id == 1))).one()
        return row[0], row[1]

    async def _record(self, size: int, head_hash: str) -> None:
        """Move the record forward (never back: another process may have gone further)."""

        def work(connection: Connection) -> None:
            with connection.begin():
                connection.execute(
                    update(tree_verified)
                    .where(_V.id == 1, _V.size < size)
                    .values(size=size, head_hash=head_hash)
                )

        await self._store.run_write(work)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} is outside the log's 0..{self._size}")

    def _check_position(self, position: int, size: int) -> None:
        if not 1 <= position <= size:
            raise ValueError(f"position {position} is outside 1..{size}")


async def verify_stored_tree(
    store: EventStore,
    *,
    after: int = 0,
    until: int | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> VerificationReport:
    """Recompute every stored Merkle node that the events at positions `after`+1..`until`
    (default: the head) complete from their hashes, and compare: a stored hash edited, deleted
    or never written is reported with its level and index, at the first position whose nodes
    differ. Bounded memory (a batch of events and the O(log n) peaks), so a long log is checked
    in windows; a window from `after` > 0 trusts the stored peaks at `after`, which the windows
    before it checked. The chain itself is `verify_store`'s."""
    head = await store.head() if until is None else until
    try:
        nodes = await _NodeCheck.at(store.engine, after)
    except LogBroken as broken:
        return broken.report
    done, last_hash = after, GENESIS_HASH if after == 0 else ""
    while done < head:
        batch = await store.read_all(after=done, limit=batch_size, until=head)
        if not batch:
            break
        wrong = await nodes.feed(store.engine, [bytes.fromhex(e.hash) for e in batch])
        if wrong is not None:
            return _tree_broken(done, wrong)
        done, last_hash = batch[-1].position, batch[-1].hash
    return VerificationReport(
        ok=True, checked=done - after, head_position=done, head_hash=last_hash
    )


class _NodeCheck:
    """Walks the leaves forward from `size`, comparing the nodes they complete with the stored
    ones; keeps only the O(log n) peaks."""

    def __init__(self, size: int, peaks: list[bytes]) -> None:
        self.size = size
        self._peaks = peaks

    @classmethod
    async def at(cls, engine: AsyncEngine, size: int) -> _NodeCheck:
        keys = merkle.peaks(size)
        async with engine.connect() as connection:
            known = await stored_tree.read_hashes(connection, keys)
        missing = [key for key in keys if key not in known]
        if missing:
            raise LogBroken(_tree_broken(size, missing[0]))
        return cls(size, [known[key] for key in keys])

    async def feed(self, engine: AsyncEngine, leaves: list[bytes]) -> tuple[int, int] | None:
        """None if the stored nodes completed by `leaves` are right, else (level, index) of the
        wrong node that the earliest leaf completes."""
        if not leaves:
            return None
        size, end = self.size, self.size + len(leaves)
        made = {
            (level, index): node
            for level, index, node in merkle.completed_nodes(size, self._peaks, leaves)
        }
        expected = sorted((level, index, node) for (level, index), node in made.items() if level)
        async with engine.connect() as connection:
            stored = await stored_tree.stored_nodes(connection, size, end - 1)
        if expected != stored:
            return _first_difference(expected, stored)
        # The new peaks are old peaks or nodes just made.
        made.update(zip(merkle.peaks(size), self._peaks, strict=True))
        self._peaks = [made[key] for key in merkle.peaks(end)]
        self.size = end
        return None


def _first_difference(
    expected: list[tuple[int, int, bytes]], stored: list[tuple[int, int, bytes]]
) -> tuple[int, int]:
    """(level, index) of the wrong node (edited, missing or extra) completed first, the lowest
    level first among those one leaf completes."""
    have = {(level, index): node for level, index, node in stored}
    want = {(level, index): node for level, index, node in expected}
    differ = [key for key in have.keys() | want.keys() if have.get(key) != want.get(key)]
    return min(differ, key=lambda key: (_completed_by(key), key[0]))


def _completed_by(node: tuple[int, int]) -> int:
    """The position (1-based) of the leaf that completes the subtree `node`, its last one."""
    level, index = node
    return (index + 1) << level


def _tree_broken(position: int, node: tuple[int, int]) -> VerificationReport:
    level, index = node
    first, last = (index << level) + 1, _completed_by(node)
    return _broken(
        position,
        last,
        f"the stored Merkle tree disagrees with the chain at position {last}: the node of "
        f"level {level}, index {index} (positions {first}..{last}) is not the hash of its "
        "events",
    )


def _broken(position: int, first_broken: int, reason: str) -> VerificationReport:
    return VerificationReport(
        ok=False,
        checked=0,
        head_position=position,
        head_hash="",
        first_broken_position=first_broken,
        reason=reason,
    )
