"""The Merkle tree against the published RFC 6962 vectors of transparency-dev/merkle
(testonly/constants.go and proof/verify_test.go), then exhaustively over small trees."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import merkle

h = bytes.fromhex

LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

# RootHashes(): index = tree size.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# NodeHashes(): level 0 are the leaf hashes.
LEAF_HASHES = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]

# inclusionProofs: (1-based leaf, tree size, proof).
INCLUSION_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# consistencyProofs: (size1, size2, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def _leaves(count: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(count)]


# --- published vectors ---------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root([]) == ROOTS[0] == merkle.EMPTY_ROOT
    assert merkle.MerkleTree().root() == ROOTS[0]


def test_leaf_hashes_match_vectors() -> None:
    assert [merkle.leaf_hash(leaf) for leaf in LEAVES] == LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_roots_match_vectors(size: int) -> None:
    assert merkle.root(LEAVES[:size]) == ROOTS[size]
    assert merkle.MerkleTree(LEAVES).root(size) == ROOTS[size]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_vectors(leaf: int, size: int, proof: list[bytes]) -> None:
    assert merkle.inclusion_proof(LEAVES[:size], leaf - 1) == proof
    assert merkle.verify_inclusion(LEAVES[leaf - 1], leaf - 1, size, proof, ROOTS[size])


@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_vectors(m: int, n: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(LEAVES, m, n) == proof
    assert merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_VECTORS[1:])
def test_corrupted_inclusion_probes_fail(leaf: int, size: int, proof: list[bytes]) -> None:
    """The probes of verify_test.go's corruptInclusionProof."""
    index, root, data = leaf - 1, ROOTS[size], LEAVES[leaf - 1]
    probes = [
        (index - 1, size, data, proof, root),
        (index + 1, size, data, proof, root),
        (index ^ 2, size, data, proof, root),
        (index, size * 2, data, proof, root),
        (index, size // 2, data, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, data, proof, ROOTS[0]),
        (index, size, data, proof, SOME_HASH),
        (index, size, data, [*proof, b""], root),
        (index, size, data, [*proof, root], root),
        (index, size, data, [b"", *proof], root),
        (index, size, data, [root, *proof], root),
        (index, size, data, proof[:-1], root),
    ]
    if len(proof) > 1:
        probes.append((index, size, data, [proof[0], SOME_HASH, *proof[1:]], root))
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, data, flipped, root))
    for i, s, leaf_data, p, r in probes:
        assert not merkle.verify_inclusion(leaf_data, i, s, p, r), (i, s)


@pytest.mark.parametrize(("m", "n", "proof"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_corrupted_consistency_probes_fail(m: int, n: int, proof: list[bytes]) -> None:
    """The probes of verify_test.go's corruptConsistencyProof."""
    r1, r2 = ROOTS[m], ROOTS[n]
    probes = [
        (m - 1, n, r1, r2, proof),
        (m + 1, n, r1, r2, proof),
        (m ^ 2, n, r1, r2, proof),
        (m, n * 2, r1, r2, proof),
        (m, n // 2, r1, r2, proof),
        (m, n, b"WrongRoot", r2, proof),
        (m, n, r1, b"WrongRoot", proof),
        (m, n, r2, r1, proof),
        (m, n, r1, r2, []),
        (m, n, r1, r2, [*proof, b""]),
        (m, n, r1, r2, [*proof, r1]),
        (m, n, r1, r2, [*proof, r2]),
        (m, n, r1, r2, [b"", *proof]),
        (m, n, r1, r2, [r1, *proof]),
        (m, n, r1, r2, [r2, *proof]),
        (m, n, r1, r2, [proof[0], *proof]),
        (m, n, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((m, n, r1, r2, flipped))
    for probe in probes:
        assert not merkle.verify_consistency(*probe), probe[:2]


def test_degenerate_consistency() -> None:
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [])
    assert not merkle.verify_consistency(0, 5, SOME_HASH, ROOTS[5], [])
    assert not merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [ROOTS[0]])
    assert merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert not merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    assert not merkle.verify_consistency(2, 1, ROOTS[2], ROOTS[1], [])
    assert not merkle.verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])


def test_invalid_proof_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="outside a tree"):
        merkle.inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(ValueError, match="smaller size"):
        merkle.consistency_proof(LEAVES, 5, 4)
    with pytest.raises(ValueError, match=r"outside 0\.\.8"):
        merkle.consistency_proof(LEAVES, 2, 9)


# --- exhaustive over small trees -----------------------------------------------------------


def test_consistency_between_every_pair_up_to_64() -> None:
    tree = merkle.MerkleTree(_leaves(64))
    roots = [tree.root(size) for size in range(65)]
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)


def test_forked_log_fails_consistency() -> None:
    """A log that changed any leaf below m cannot prove it extends the old root of size m."""
    honest = _leaves(64)
    old = merkle.MerkleTree(honest)
    for m in range(1, 65, 3):
        old_root = old.root(m)
        for changed in {0, m // 2, m - 1}:
            forked = list(honest)
            forked[changed] = hashlib.sha256(b"forged").digest()
            fork = merkle.MerkleTree(forked)
            for n in range(m, 65, 7):
                proof = fork.consistency_proof(m, n)
                assert not merkle.verify_consistency(m, n, old_root, fork.root(n), proof), (m, n)


def test_inclusion_for_every_index_up_to_64() -> None:
    leaves = _leaves(64)
    tree = merkle.MerkleTree(leaves)
    for size in range(1, 65):
        root = tree.root(size)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert merkle.verify_inclusion(leaves[index], index, size, proof, root), (index, size)
            assert not merkle.verify_inclusion(b"other", index, size, proof, root)


def test_tree_matches_streaming_root_as_it_grows() -> None:
    tree, compact = merkle.MerkleTree(), merkle.CompactRange()
    for leaf in _leaves(100):
        tree.append(leaf)
        compact.append(leaf)
        assert tree.root() == compact.root()
    assert tree.size == compact.size == 100


@given(
    size=st.integers(1, 200),
    data=st.data(),
)
def test_tampered_inclusion_proof_fails(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(leaves, index)
    root = merkle.root(leaves)
    assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
    if not proof:
        return
    at = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    tampered = list(proof)
    tampered[at] = bytes(
        b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(tampered[at])
    )
    assert not merkle.verify_inclusion(leaves[index], index, size, tampered, root)


@given(n=st.integers(2, 200), data=st.data())
def test_tampered_consistency_proof_fails(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(1, n - 1))
    leaves = _leaves(n)
    tree = merkle.MerkleTree(leaves)
    proof = tree.consistency_proof(m, n)
    assert merkle.verify_consistency(m, n, tree.root(m), tree.root(n), proof)
    at = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    tampered = list(proof)
    tampered[at] = bytes(
        b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(tampered[at])
    )
    assert not merkle.verify_consistency(m, n, tree.root(m), tree.root(n), tampered)
    assert not merkle.verify_consistency(m, n, tree.root(m), tree.root(n), proof[:-1])
