"""Merkle proofs over a large log, through `events.merkle`'s public functions only: the root
of 100,000 leaves, a tree over them and a consistency proof (what an auditor's checkpoint
check asks for), next to the bare RFC 6962 root computed level by level with hashlib."""

from __future__ import annotations

import hashlib
import time

from benchmarks.context import Context
from benchmarks.results import Check, Row
from events import merkle

FULL_LEAVES = 100_000
QUICK_LEAVES = 20_000


async def figures(ctx: Context) -> list[Row]:
    count = QUICK_LEAVES if ctx.quick else FULL_LEAVES
    older = count * 2 // 3 + 1  # an uneven split: the proof walks both sides of the tree
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(count)]
    row = Row(
        key="merkle_root_tree_proof",
        title=f"Merkle root, tree and consistency proof ({older:,} -> {count:,} leaves)",
        unit="leaves/s",
        baseline="bare hashlib RFC 6962 root, level by level",
        checks=[Check(f"≤ 2.0 s for {FULL_LEAVES:,} leaves", "seconds", 2.0, at_most=True)]
        if not ctx.quick
        else [],
    )
    ctx.say(f"{row.title} x {ctx.runs} runs")
    for _ in range(ctx.runs):
        started = time.perf_counter()
        root = merkle.root(leaves)
        tree = merkle.MerkleTree(leaves)
        proof = tree.consistency_proof(older, count)
        seconds = time.perf_counter() - started
        assert merkle.verify_consistency(older, count, tree.root(older), root, proof)
        row.samples.append(count / seconds)
        row.add_extra("seconds", seconds)
        started = time.perf_counter()
        bare = _bare_root(leaves)
        row.baseline_samples.append(count / (time.perf_counter() - started))
        assert bare == root, "the bare baseline disagrees with events.merkle"
    return [row]


def _bare_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 bottom-up: pair neighbours, carry an odd last node up unchanged."""
    sha256 = hashlib.sha256
    level = [sha256(b"\x00" + leaf).digest() for leaf in leaves]
    if not level:
        return sha256(b"").digest()
    while len(level) > 1:
        paired = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
