"""Merkle trees as in RFC 6962 / RFC 9162: the reference vectors, proofs, and their verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridmgr.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    perfect_nodes_of,
    root_from_inclusion_proof,
    root_from_nodes,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "merkle" / "rfc6962_vectors.json").read_text("utf-8")
)
LEAVES = [leaf_hash(bytes.fromhex(d)) for d in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(r) for r in VECTORS["roots_by_size"]]
NODES = perfect_nodes_of(LEAVES)
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def unhex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_the_empty_tree_has_the_rfc_root() -> None:
    assert root_of([]) == EMPTY_ROOT == ROOTS[0]


@pytest.mark.parametrize("size", range(0, 9))
def test_every_root_of_the_reference_leaves_matches_the_vectors(size: int) -> None:
    assert root_of(LEAVES[:size]) == ROOTS[size]
    tree = CompactRange()
    for leaf in LEAVES[:size]:
        tree.append(leaf)
    assert tree.root() == ROOTS[size]
    if size:
        assert root_from_nodes(size, perfect_nodes_of(LEAVES[:size])) == ROOTS[size]


def test_every_perfect_node_matches_the_reference_node_hashes() -> None:
    for level, hashes in enumerate(VECTORS["node_hashes_by_level"]):
        for index, expected in enumerate(hashes):
            assert NODES[(level, index)].hex() == expected


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"], ids=lambda v: str(v))
def test_inclusion_proofs_equal_the_reference_vectors_and_verify(vector: dict) -> None:
    index, size, expected = vector["leaf_index"], vector["tree_size"], unhex(vector["proof"])
    nodes = perfect_nodes_of(LEAVES[:size])
    assert set(inclusion_plan(index, size)) <= nodes.keys()
    assert inclusion_proof(index, size, nodes) == expected
    assert verify_inclusion(index, size, LEAVES[index], expected, ROOTS[size])


@pytest.mark.parametrize("vector", VECTORS["consistency_proofs"], ids=lambda v: str(v))
def test_consistency_proofs_equal_the_reference_vectors_and_verify(vector: dict) -> None:
    first, second, expected = vector["first"], vector["second"], unhex(vector["proof"])
    nodes = perfect_nodes_of(LEAVES[:second])
    assert set(consistency_plan(first, second)) <= nodes.keys()
    assert consistency_proof(first, second, nodes) == expected
    assert verify_consistency(first, second, ROOTS[first], ROOTS[second], expected)


def corrupted_inclusions(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):
    """The reference suite's corruptions of a good inclusion proof: each must fail."""
    yield index - 1, size, leaf, proof, root
    yield index + 1, size, leaf, proof, root
    yield index ^ 2, size, leaf, proof, root
    yield index, size * 2, leaf, proof, root
    yield index, size // 2, leaf, proof, root
    yield index, size, b"WrongLeaf", proof, root
    yield index, size, leaf, proof, EMPTY_ROOT
    yield index, size, leaf, proof, SOME_HASH
    yield index, size, leaf, [*proof, b""], root
    yield index, size, leaf, [*proof, root], root
    yield index, size, leaf, [b"", *proof], root
    yield index, size, leaf, [root, *proof], root
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        yield index, size, leaf, flipped, root
    if proof:
        yield index, size, leaf, proof[:-1], root
    if len(proof) > 1:
        yield index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"][1:], ids=lambda v: str(v))
def test_every_corruption_of_a_reference_inclusion_proof_fails(vector: dict) -> None:
    index, size, proof = vector["leaf_index"], vector["tree_size"], unhex(vector["proof"])
    for probe in corrupted_inclusions(index, size, proof, ROOTS[size], LEAVES[index]):
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize("vector", VECTORS["consistency_proofs"][1:], ids=lambda v: str(v))
def test_every_corruption_of_a_reference_consistency_proof_fails(vector: dict) -> None:
    m, n, proof = vector["first"], vector["second"], unhex(vector["proof"])
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
        assert not verify_consistency(*probe), probe


def test_trivial_consistency_cases_follow_the_reference_suite() -> None:
    a, b = b"don't care 1", b"don't care 2"
    assert verify_consistency(0, 0, a, a, [])
    assert verify_consistency(0, 1, a, b, [])
    assert verify_consistency(1, 1, b, b, [])
    assert not verify_consistency(0, 0, a, b, [])
    assert not verify_consistency(1, 1, a, b, [])
    assert not verify_consistency(1, 0, a, b, [])
    assert not verify_consistency(2, 1, a, b, [])
    assert not verify_consistency(1, 2, a, b, [])
    assert not verify_consistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


def test_an_inclusion_proof_for_a_leaf_outside_the_tree_is_refused_by_name() -> None:
    with pytest.raises(ProofError, match="no leaf 8 in a tree of 8 leaves"):
        inclusion_plan(8, 8)
    with pytest.raises(ProofError, match="too long"):
        root_from_inclusion_proof(0, 1, LEAVES[0], [LEAVES[1]])


@given(st.integers(1, 200), st.data())
def test_every_inclusion_and_consistency_proof_of_a_random_tree_verifies(size, data) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    nodes = perfect_nodes_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, nodes)
    assert len(proof) <= size.bit_length()
    assert verify_inclusion(index, size, leaves[index], proof, root_of(leaves))
    first = data.draw(st.integers(0, size))
    path = consistency_proof(first, size, nodes)
    assert verify_consistency(first, size, root_of(leaves[:first]), root_of(leaves), path)
    if 0 < first < size:
        assert not verify_consistency(
            first, size, root_of(leaves[: first - 1] or [b"x"]), root_of(leaves), path
        )
