"""Audit over a live store: verify the chain in bounded batches, keep the log's Merkle tree, and
hold the operator's signing key.

`verify_store` reads the log in batches of `batch_size` (memory does not grow with the log)
and stops at the first break. `LogTree` keeps the hashes of the log's Merkle tree in memory
(about 180 bytes an event), built once and then extended by reading only the new events; every
event it adds is chain-verified first, so the server never signs a checkpoint over a broken log.

The signing key is an Ed25519 PEM file: `$AGREEMENTS_SIGNING_KEY`, else
`agreements-signing-key.pem` beside the SQLite database (or in the working directory for
PostgreSQL). It is created, readable by its owner only, the first time it is needed; once the
log records its key (`events.log_identity`), a missing or different file is refused instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

from events import merkle
from events.envelope import GENESIS_HASH, RecordedEvent
from events.signed_checkpoints import (
    ORIGIN,
    Checkpoint,
    generate_key,
    load_private_key,
    save_private_key,
    sign_checkpoint,
)
from events.verification import ChainVerifier, VerificationReport

SIGNING_KEY_ENV = "AGREEMENTS_SIGNING_KEY"
DEFAULT_KEY_FILE = "agreements-signing-key.pem"
DEFAULT_BATCH = 5000

_BEFORE_EVERYTHING = -(2**62)


class LogReader(Protocol):
    """What audit needs of a store (`events.store.EventStore` is one)."""

    async def read_all(
        self, *, after: int = 0, limit: int = 1000, until: int | None = None
    ) -> list[RecordedEvent]: ...

    async def head(self) -> int: ...


class LogBroken(Exception):
    """The log fails verification where `LogTree` tried to extend over it."""

    def __init__(self, report: VerificationReport) -> None:
        self.report = report
        super().__init__(report.reason or "the log fails verification")


# --- verification ---------------------------------------------------------------------------


async def verify_store(
    store: LogReader,
    *,
    start_position: int = 1,
    start_prev_hash: str = GENESIS_HASH,
    limit: int | None = None,
    checkpoint: Checkpoint | None = None,
    batch_size: int = DEFAULT_BATCH,
    until: int | None = None,
) -> VerificationReport:
    """Verify the log from `start_position` up to `until` (default: the head when the scan
    starts; events appended during the scan are left for the next one).

    With `limit`, at most that many events are checked; the report's `head_position` and
    `head_hash` are where to resume (`start_position=head_position + 1,
    start_prev_hash=head_hash`). A scan from 1 also looks for rows placed before position 1,
    which no reader of the log would see but a stream read would.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    head = await store.head() if until is None else until
    if start_position == 1:
        stray = await _row_before_start(store)
        if stray is not None:
            return stray
    verifier = ChainVerifier(
        start_position=start_position, start_prev_hash=start_prev_hash, checkpoint=checkpoint
    )
    after = start_position - 1
    remaining = limit
    reached_end = after >= head
    while not reached_end and (remaining is None or remaining > 0):
        want = batch_size if remaining is None else min(batch_size, remaining)
        batch = await store.read_all(after=after, limit=want, until=head)
        if not batch:
            reached_end = True
            break
        if not verifier.feed(batch):
            break
        after = batch[-1].position
        reached_end = after >= head
        if remaining is not None:
            remaining -= len(batch)
    return verifier.report(at_end=reached_end)


async def resume_hash(store: LogReader, position: int) -> str | None:
    """The stored hash of the event at `position` (GENESIS_HASH for 0), None if no such row."""
    if position == 0:
        return GENESIS_HASH
    found = await store.read_all(after=position - 1, limit=1, until=position)
    return found[0].hash if found else None


async def _row_before_start(store: LogReader) -> VerificationReport | None:
    first = await store.read_all(after=_BEFORE_EVERYTHING, limit=1, until=0)
    if not first:
        return None
    position = first[0].position
    return VerificationReport(
        ok=False,
        checked=0,
        head_position=0,
        head_hash=GENESIS_HASH,
        first_broken_position=position,
        reason=f"a row at position {position}, before the log's first position (inserted?)",
    )


# --- the Merkle tree of the log --------------------------------------------------------------


class LogTree:
    """The log's Merkle tree (leaves: each event's chain hash as 32 bytes), kept in memory.

    For a process that re-verifies the whole log itself; the server reads the tree stored in
    the database instead (`events.tree_audit.StoredLogTree`), which gives the same answers.

    `refresh` reads only what was appended since the last refresh, verifying the chain as it
    goes; proofs and checkpoints are then answered from memory. Safe to share between
    concurrent requests of one event loop.
    """

    def __init__(self) -> None:
        self._tree = merkle.MerkleTree()
        self._leaves = bytearray()  # the raw leaves, 32 bytes each; the tree keeps their hashes
        self._head_hash = GENESIS_HASH
        self._lock = asyncio.Lock()

    @property
    def size(self) -> int:
        return self._tree.size

    @property
    def head_hash(self) -> str:
        """The chain hash of the last event in the tree (GENESIS_HASH when empty)."""
        return self._head_hash

    async def refresh(self, store: LogReader, *, batch_size: int = DEFAULT_BATCH) -> int:
        """Extend the tree to the store's current head; returns the new size.

        Raises LogBroken if the new events do not chain on from the tree; the tree then keeps
        the events that did verify.
        """
        async with self._lock:
            head = await store.head()
            while self.size < head:
                batch = await store.read_all(after=self.size, limit=batch_size, until=head)
                if not batch:
                    break
                self._extend(batch)
            return self.size

    def _extend(self, batch: list[RecordedEvent]) -> None:
        verifier = ChainVerifier(start_position=self.size + 1, start_prev_hash=self._head_hash)
        good = batch
        if not verifier.feed(batch):
            report = verifier.report(at_end=False)
            good = batch[: report.head_position - self.size]
            self._add(good)
            raise LogBroken(report)
        self._add(good)

    def _add(self, events: list[RecordedEvent]) -> None:
        if not events:
            return
        leaves = [bytes.fromhex(e.hash) for e in events]
        self._tree.extend(leaves)
        self._leaves += b"".join(leaves)
        self._head_hash = events[-1].hash

    def root(self, size: int | None = None) -> bytes:
        return self._tree.root(size)

    def leaf(self, position: int) -> bytes:
        """The chain hash of the event at `position`, as the tree holds it."""
        self._check_position(position, self.size)
        start = (position - 1) * merkle.HASH_SIZE
        return bytes(self._leaves[start : start + merkle.HASH_SIZE])

    def checkpoint(
        self,
        key: Ed25519PrivateKey,
        *,
        issued_at: dt.datetime | None = None,
        origin: str = ORIGIN,
    ) -> Checkpoint:
        """A signed statement of the tree as it is now (call `refresh` first); `origin` names
        the log (`checkpoints.origin_for`)."""
        return sign_checkpoint(
            key, self.size, self._head_hash, self.root(), issued_at=issued_at, origin=origin
        )

    def consistency(self, m: int, n: int) -> list[bytes]:
        """RFC 9162 proof that the log of size m is a prefix of the log of size n."""
        if not 0 <= m <= n:
            raise ValueError(f"from ({m}) must be between 0 and to ({n})")
        self._check_size(n)
        return self._tree.consistency_proof(m, n)

    def inclusion(self, position: int, size: int) -> list[bytes]:
        """RFC 9162 proof that the event at `position` is in the log of `size` events."""
        self._check_size(size)
        self._check_position(position, size)
        return self._tree.inclusion_proof(position - 1, size)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside the log's 0..{self.size}")

    def _check_position(self, position: int, size: int) -> None:
        if not 1 <= position <= size:
            raise ValueError(f"position {position} is outside 1..{size}")


# --- the signing key -------------------------------------------------------------------------


def signing_key_path(
    database_url: str | None = None,
    explicit: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """`explicit`, else `$AGREEMENTS_SIGNING_KEY`, else the default file beside the database."""
    env = os.environ if env is None else env
    chosen = explicit or env.get(SIGNING_KEY_ENV)
    if chosen:
        return Path(chosen)
    if database_url:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(url.database or "").parent / DEFAULT_KEY_FILE
    return Path(DEFAULT_KEY_FILE)


def load_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The Ed25519 key at `path`, created (mode 0600) if the file does not exist yet.

    Creation writes a temporary file and links it into place, so two processes starting at
    once end up using the same key, and nobody ever reads a half-written one.
    """
    target = Path(path)
    if target.exists():
        return load_private_key(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    save_private_key(generate_key(), temporary)
    try:
        os.link(temporary, target)
    except FileExistsError:
        pass  # another process won the race: use its key
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return load_private_key(target)
