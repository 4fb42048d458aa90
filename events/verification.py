"""Recompute the hash chain and say where, if anywhere, the log stops being what was written.

What the chain alone catches: an edited row (its hash no longer matches its content), a deleted
middle row (a gap in positions), rows reordered or inserted (a position out of sequence, or a
prev_hash that does not link to the row before), an edited row whose hash was recomputed
(the next row no longer links to it), and a row whose data and metadata were re-cut at another
boundary (the hash frames each field; each must also be one canonical JSON object). A personal
value is checked through its commitment (`events.hashing`): while held, against its salt; once
erased, the row must hold the placeholder and the stored commitment stands in, so the chain
verifies the same before and after an erasure.

What needs a kept checkpoint: a deleted tail, an edited last row with a recomputed hash, and a
rewrite of everything after some point. The chain of the remaining rows is then self-consistent;
only the checkpoint's size, head hash and Merkle root show that it is not the log that was
signed. Pass `checkpoint=` to `verify_chain` so the prefix it covers is compared while scanning,
then `verify_against_checkpoint` to check the signature.

An event appended by someone who bypassed the service, after the newest checkpoint, with a
correctly computed hash, cannot be told apart from a real append by any of this.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events import merkle
from events.envelope import GENESIS_HASH, RecordedEvent
from events.hashing import DisclosureError, event_hash, is_canonical_object
from events.signed_checkpoints import ORIGIN, Checkpoint, key_id, origin_for, verify_checkpoint


class VerificationReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The outcome of a scan. `head_position`/`head_hash` are the last row that verified (the
    starting point if none did), so a bounded scan can resume from them."""

    ok: bool
    checked: int
    head_position: int
    head_hash: str
    first_broken_position: int | None = None
    reason: str | None = None
    merkle_root: str | None = None
    """Hex root over positions 1..head_position; only when the scan began at position 1 and
    found nothing wrong."""
    checkpoint: Checkpoint | None = None
    """The checkpoint whose size, head hash and root this scan matched, if one was given."""


class CheckpointCheck(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ok: bool
    reason: str | None = None


class ChainVerifier:
    """Incremental verification: `feed` batches in position order, then `report`.

    Stops consuming at the first break; `feed` returns False from then on.
    """

    def __init__(
        self,
        *,
        start_position: int = 1,
        start_prev_hash: str = GENESIS_HASH,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        if start_position < 1:
            raise ValueError(f"start_position must be at least 1, got {start_position}")
        if checkpoint is not None and checkpoint.size < start_position - 1:
            raise ValueError(
                f"the checkpoint covers {checkpoint.size} events, before the scan's start at "
                f"position {start_position}"
            )
        self._position = start_position - 1
        self._hash = start_prev_hash
        self._checked = 0
        self._checkpoint = checkpoint
        self._tree = merkle.CompactRange() if start_position == 1 else None
        self._broken: tuple[int, str] | None = None
        if checkpoint is not None and checkpoint.size == self._position:
            self._compare_with_checkpoint(checkpoint)

    @property
    def ok(self) -> bool:
        return self._broken is None

    def feed(self, events: Iterable[RecordedEvent]) -> bool:
        for event in events:
            if self._broken is not None:
                return False
            self._check(event)
        return self._broken is None

    def report(self, *, at_end: bool = True) -> VerificationReport:
        """Summarise. With `at_end` (the scan reached the end of the log), a log shorter than
        the checkpoint counts as broken; pass False for a scan stopped at a bound."""
        checkpoint = self._checkpoint
        if (
            at_end
            and self._broken is None
            and checkpoint is not None
            and self._position < checkpoint.size
        ):
            self._break(
                self._position + 1,
                f"the log ends at position {self._position} but the checkpoint covers "
                f"{checkpoint.size} events: {_span(self._position + 1, checkpoint.size)} "
                "missing (deleted?)",
            )
        if self._broken is not None:
            position, reason = self._broken
            return VerificationReport(
                ok=False,
                checked=self._checked,
                head_position=self._position,
                head_hash=self._hash,
                first_broken_position=position,
                reason=reason,
            )
        matched = checkpoint if checkpoint and checkpoint.size <= self._position else None
        return VerificationReport(
            ok=True,
            checked=self._checked,
            head_position=self._position,
            head_hash=self._hash,
            merkle_root=self._tree.root().hex() if self._tree is not None else None,
            checkpoint=matched,
        )

    def _check(self, event: RecordedEvent) -> None:
        expected = self._position + 1
        position = event.position
        if position > expected:
            self._break(
                expected,
                f"{_span(expected, position - 1)} missing (deleted or moved?): "
                f"the next row is position {position}",
            )
            return
        if position < expected:
            what = (
                f"position {position} appears twice (a row inserted or duplicated?)"
                if position == expected - 1
                else f"position {position} comes after position {expected - 1} "
                "(rows reordered or inserted?)"
            )
            self._break(expected, what)
            return
        if event.prev_hash != self._hash:
            target = "the genesis hash" if position == 1 else f"position {position - 1}"
            self._break(
                position,
                f"position {position}: prev_hash does not link to {target} "
                "(reordered or inserted, or the row before rewritten?)",
            )
            return
        try:
            recomputed = event_hash(event)
        except DisclosureError as error:
            self._break(position, f"position {position}: personal values do not fit: {error}")
            return
        if recomputed != event.hash:
            self._break(position, f"position {position}: hash does not match its content (edited?)")
            return
        for name, raw in (("data", event.data), ("metadata", event.metadata)):
            if not is_canonical_object(bytes(raw)):
                self._break(
                    position,
                    f"position {position}: {name} is not one JSON object in canonical form "
                    "(the boundary between data and metadata moved?)",
                )
                return
        self._position = position
        self._hash = event.hash
        self._checked += 1
        if self._tree is not None:
            self._tree.append(bytes.fromhex(event.hash))
        if self._checkpoint is not None and self._checkpoint.size == position:
            self._compare_with_checkpoint(self._checkpoint)

    def _compare_with_checkpoint(self, checkpoint: Checkpoint) -> None:
        size = checkpoint.size
        if self._hash != checkpoint.head_hash:
            self._break(
                size,
                f"position {size}: hash differs from the checkpoint's head hash "
                "(history rewritten since the checkpoint?)",
            )
        elif self._tree is not None and self._tree.root().hex() != checkpoint.merkle_root:
            self._break(
                size,
                f"the Merkle root of positions 1..{size} differs from the checkpoint's "
                "(history rewritten, or a malformed checkpoint?)",
            )

    def _break(self, position: int, reason: str) -> None:
        self._broken = (position, reason)


def verify_chain(
    events: Iterable[RecordedEvent],
    *,
    start_position: int = 1,
    start_prev_hash: str = GENESIS_HASH,
    checkpoint: Checkpoint | None = None,
) -> VerificationReport:
    """Verify `events` (in position order, from `start_position` to the end of the log).

    To verify only what was appended since a kept checkpoint, pass
    `start_position=cp.size + 1, start_prev_hash=cp.head_hash` (no Merkle root is then
    computed). With `checkpoint=`, the scan also requires the checkpoint's head hash (and
    Merkle root, when starting at 1) at its size, and a log at least that long.
    """
    verifier = ChainVerifier(
        start_position=start_position, start_prev_hash=start_prev_hash, checkpoint=checkpoint
    )
    verifier.feed(events)
    return verifier.report()


async def verify_chain_async(
    batches: AsyncIterable[Sequence[RecordedEvent]],
    *,
    start_position: int = 1,
    start_prev_hash: str = GENESIS_HASH,
    checkpoint: Checkpoint | None = None,
) -> VerificationReport:
    """`verify_chain` over batches as a store reads them; stops reading at the first break."""
    verifier = ChainVerifier(
        start_position=start_position, start_prev_hash=start_prev_hash, checkpoint=checkpoint
    )
    async for batch in batches:
        if not verifier.feed(batch):
            break
    return verifier.report()


def verify_against_checkpoint(
    evidence: VerificationReport | Sequence[bytes],
    checkpoint: Checkpoint,
    public_key: Ed25519PublicKey,
) -> CheckpointCheck:
    """Check the checkpoint's signature, then that the log it is compared with matches it.

    `evidence` is either a report from `verify_chain(..., checkpoint=checkpoint)` (or one whose
    head is exactly the checkpoint's size), or the leaves of the log: the chain hashes of
    positions 1..N as bytes, N >= checkpoint.size.
    """
    if checkpoint.key_id != key_id(public_key):
        return CheckpointCheck(
            ok=False,
            reason=f"the checkpoint names key {checkpoint.key_id}, not the given public key "
            f"({key_id(public_key)})",
        )
    if not verify_checkpoint(checkpoint, public_key):
        return CheckpointCheck(
            ok=False, reason="the checkpoint's signature does not verify (altered or forged?)"
        )
    if isinstance(evidence, VerificationReport):
        return _check_report(evidence, checkpoint)
    return _check_leaves(evidence, checkpoint)


def origin_problem(checkpoint: Checkpoint, log_id: str | None) -> str | None:
    """Why `checkpoint` is not one of the log whose id is `log_id` (None: the log has none).

    A checkpoint whose origin names no log (signed before logs had ids) is accepted: it cannot
    say which log it is of, only the key and the hashes can.
    """
    if checkpoint.origin == ORIGIN:
        return None
    if log_id is None:
        return (
            f"the checkpoint is of the log {checkpoint.origin!r}, and this log records no id "
            "(another log's checkpoint?)"
        )
    if checkpoint.origin != origin_for(log_id):
        return (
            f"the checkpoint is of the log {checkpoint.origin!r}, not of this one "
            f"({origin_for(log_id)!r})"
        )
    return None


def _check_report(report: VerificationReport, checkpoint: Checkpoint) -> CheckpointCheck:
    if not report.ok:
        return CheckpointCheck(ok=False, reason=report.reason)
    if report.checkpoint == checkpoint:
        return CheckpointCheck(ok=True)
    size = checkpoint.size
    if report.head_position < size:
        return CheckpointCheck(
            ok=False,
            reason=f"the log ends at position {report.head_position} but the checkpoint "
            f"covers {size} events (deleted?)",
        )
    if report.head_position > size:
        return CheckpointCheck(
            ok=False,
            reason="the report was made without this checkpoint: pass checkpoint= to "
            "verify_chain to compare the prefix it covers",
        )
    if report.head_hash != checkpoint.head_hash:
        return CheckpointCheck(
            ok=False,
            reason=f"position {size}: hash differs from the checkpoint's head hash "
            "(history rewritten since the checkpoint?)",
        )
    if report.merkle_root is not None and report.merkle_root != checkpoint.merkle_root:
        return CheckpointCheck(
            ok=False,
            reason=f"the Merkle root of positions 1..{size} differs from the checkpoint's",
        )
    return CheckpointCheck(ok=True)


def _check_leaves(leaves: Sequence[bytes], checkpoint: Checkpoint) -> CheckpointCheck:
    size = checkpoint.size
    if len(leaves) < size:
        return CheckpointCheck(
            ok=False,
            reason=f"the log has {len(leaves)} events but the checkpoint covers {size} (deleted?)",
        )
    head = leaves[size - 1].hex() if size else GENESIS_HASH
    if head != checkpoint.head_hash:
        return CheckpointCheck(
            ok=False,
            reason=f"position {size}: hash differs from the checkpoint's head hash "
            "(history rewritten since the checkpoint?)",
        )
    if merkle.root(leaves[:size]).hex() != checkpoint.merkle_root:
        return CheckpointCheck(
            ok=False,
            reason=f"the Merkle root of positions 1..{size} differs from the checkpoint's",
        )
    return CheckpointCheck(ok=True)


def _span(first: int, last: int) -> str:
    return f"position {first}" if first == last else f"positions {first}..{last}"
