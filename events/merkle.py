"""A Merkle tree over the log, as in RFC 6962 §2.1 / RFC 9162 §2.1.

    leaf hash = SHA-256(0x00 || leaf)
    node hash = SHA-256(0x01 || left || right)
    MTH({})   = SHA-256("")

The leaf for the event at position p is that event's chain hash as 32 raw bytes
(`bytes.fromhex(event.hash)`), at index p - 1. The chain hash already commits to the whole
envelope, so the tree adds what a chain cannot: short proofs that one event is in the log
(inclusion) and that a later log extends an earlier one (consistency), which an auditor can
check against the roots in signed checkpoints without downloading the log.

A root or proof for any prefix needs only the hashes of O(log n) complete, aligned subtrees,
named by (level, index) as in Go's `sumdb/tlog`. `root_from`, `inclusion_from` and
`consistency_from` compute from whatever gives those hashes (`needed` says which ones a call
asks for, `completed_nodes` which ones appending makes); `MerkleTree` keeps them all in memory
(2n hashes for n leaves), `events.stored_tree` in the database; `CompactRange` keeps only the
O(log n) peaks, for computing a root while streaming the log once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


HashSource = Callable[[int, int], bytes]
"""`get(level, index)`: the hash of leaves [index·2^level, (index+1)·2^level), a complete
aligned subtree. Where it comes from (memory, a database) is the caller's business, as with
Go's `sumdb/tlog` `HashReader`."""


def root_from(size: int, get: HashSource) -> bytes:
    """MTH of the first `size` leaves, from the complete subtrees `get` gives."""
    return EMPTY_ROOT if size == 0 else _hash(get, 0, size)


def inclusion_from(index: int, size: int, get: HashSource) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(index, D[0:size]); the caller has checked 0 <= index < size."""
    # Iterative PATH: collect siblings top-down, then emit them bottom-up.
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            siblings.append(_hash(get, start + k, end))
            end = start + k
        else:
            siblings.append(_hash(get, start, start + k))
            start += k
    return siblings[::-1]


def consistency_from(m: int, n: int, get: HashSource) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(m, D[0:n]); empty when m is 0 or m equals n (0 <= m <= n)."""
    if not 0 < m < n:
        return []
    # Iterative SUBPROOF(m, D[0:n], true): nodes are found top-down, emitted bottom-up.
    found: list[bytes] = []
    start, end, complete = 0, n, True
    while True:
        width = end - start
        if m == width:
            if not complete:
                found.append(_hash(get, start, end))
            break
        k = _split(width)
        if m <= k:
            found.append(_hash(get, start + k, end))
            end = start + k
        else:
            found.append(_hash(get, start, start + k))
            start += k
            m -= k
            complete = False
    return found[::-1]


def needed(compute: Callable[[HashSource], object]) -> list[tuple[int, int]]:
    """The (level, index) of every complete subtree `compute` asks for, in first-asked order.

    The root and proof functions visit the same subtrees whatever their hashes are, so one dry
    run with placeholder hashes tells a store exactly what to read: O(log n) of them.
    """
    asked: dict[tuple[int, int], None] = {}

    def record(level: int, index: int) -> bytes:
        asked[(level, index)] = None
        return EMPTY_ROOT

    compute(record)
    return list(asked)


def _hash(get: HashSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]); `start` is always aligned to the largest split of the range."""
    width = end - start
    if width & (width - 1) == 0 and start % width == 0:
        return get(width.bit_length() - 1, start // width)
    k = _split(width)
    return node_hash(_hash(get, start, start + k), _hash(get, start + k, end))


def peaks(size: int) -> list[tuple[int, int]]:
    """(level, index) of the complete subtrees a tree of `size` leaves ends in, largest first:
    what appending to it combines with."""
    found: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            found.append((level, start >> level))
            start += 1 << level
    return found


def completed_nodes(
    size: int, peak_hashes: Sequence[bytes], leaves: Iterable[bytes]
) -> Iterator[tuple[int, int, bytes]]:
    """Append `leaves` to a tree of `size` leaves whose peaks (see `peaks`) hash to
    `peak_hashes`: yields (level, index, hash) of every subtree completed, leaves included, in
    the order they complete. `size` and the peaks are not changed."""
    stack = list(peak_hashes)
    for leaf in leaves:
        node = leaf_hash(leaf)
        index = size
        yield 0, index, node
        level = 0
        size += 1
        while index & 1:
            node = node_hash(stack.pop(), node)
            level += 1
            index >>= 1
            yield level, index, node
        stack.append(node)


def append_leaves(
    size: int, peak_hashes: Sequence[bytes], leaves: Iterable[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[bytes]]:
    """`completed_nodes` for a writer: (level, index, hash) of the subtrees of level 1 and up
    that appending `leaves` completes, in the order they complete, and the peak hashes of
    the tree after them (see `peaks`). One pass, no generator or dictionary per node: the
    writer does this for every event it stores."""
    stack = list(peak_hashes)
    push, pop = stack.append, stack.pop
    rows: list[tuple[int, int, bytes]] = []
    add = rows.append
    sha256 = _sha256
    for leaf in leaves:
        node = sha256(_LEAF_PREFIX + leaf).digest()
        index = size
        size += 1
        level = 0
        while index & 1:
            node = sha256(_NODE_PREFIX + pop() + node).digest()
            level += 1
            index >>= 1
            add((level, index, node))
        push(node)
    return rows, stack


class MerkleTree:
    """An append-only tree; `levels[k][i]` is the hash of leaves [i·2^k, (i+1)·2^k)."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        self.extend(leaves)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        level = 0
        node = leaf_hash(leaf)
        while True:
            row = self._levels[level]
            row.append(node)
            if len(row) % 2:
                return
            node = node_hash(row[-2], row[-1])
            level += 1
            if level == len(self._levels):
                self._levels.append([])

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all of them by default)."""
        size = self.size if size is None else size
        self._check_size(size)
        return root_from(size, self._get)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 §2.1.1 PATH(index, D[0:size])."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of size {size}")
        return inclusion_from(index, size, self._get)

    def consistency_proof(self, m: int, n: int | None = None) -> list[bytes]:
        """RFC 6962 §2.1.2 PROOF(m, D[0:n]); empty when m is 0 or m equals n."""
        n = self.size if n is None else n
        self._check_size(n)
        if not 0 <= m <= n:
            raise ValueError(f"cannot prove size {m} consistent with the smaller size {n}")
        return consistency_from(m, n, self._get)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")

    def _get(self, level: int, index: int) -> bytes:
        return self._levels[level][index]


class CompactRange:
    """The peaks of a growing tree: O(log n) memory, the root of everything appended so far."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []  # hashes of perfect subtrees, largest first

    def append(self, leaf: bytes) -> None:
        node = leaf_hash(leaf)
        self.size += 1
        carry = self.size
        while carry % 2 == 0:
            node = node_hash(self._peaks.pop(), node)
            carry //= 2
        self._peaks.append(node)

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        node = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            node = node_hash(peak, node)
        return node


def root(leaves: Sequence[bytes]) -> bytes:
    accumulator = CompactRange()
    for leaf in leaves:
        accumulator.append(leaf)
    return accumulator.root()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    return MerkleTree(leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], m: int, n: int) -> list[bytes]:
    """Proof that the first m leaves are a prefix of the first n (n <= len(leaves))."""
    return MerkleTree(leaves[:n]).consistency_proof(m, n)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `leaf` (unhashed leaf data) sit at `index` in the tree `root`?"""
    if not 0 <= index < size or not _well_formed(proof, root):
        return False
    fn, sn = index, size - 1
    node = leaf_hash(leaf)
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size n with `root_n` an extension of size m's `root_m`?

    Edge cases the RFC leaves to the caller: m == 0 holds when `root_m` is the empty root and
    the proof is empty; m == n holds when the roots are equal and the proof is empty.
    """
    if not 0 <= m <= n or not _well_formed(proof, root_m, root_n):
        return False
    if m == 0:
        return not proof and root_m == EMPTY_ROOT
    if m == n:
        return not proof and root_m == root_n
    if not proof:
        return False
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, root_m)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0


def _well_formed(proof: Sequence[bytes], *roots: bytes) -> bool:
    return all(len(h) == HASH_SIZE for h in (*proof, *roots))
