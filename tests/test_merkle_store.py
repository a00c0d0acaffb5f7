"""The Merkle tree over the stored ledger: roots, proofs and signed tree heads, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridmgr.ledger import LedgerError
from gridmgr.ledger.merkle import (
    ProofError,
    event_leaf,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from gridmgr.ledger.treehead import SignedTreeHead, public_key_bytes, tree_head_problem
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.treeheads import SigningKeyError, checkpoint_tree_head, signing_key
from gridmgr.settings import Settings
from gridmgr.store import Store

AT = datetime(2026, 5, 3, 10, 5, tzinfo=TZ)


def record(store: Store, n: int) -> list[str]:
    """Append ``n`` events; their hashes."""
    return [
        store.record(
            at=AT + timedelta(seconds=i),
            kind="test.event",
            actor="t",
            subject=f"s{i}",
            details={"i": i},
        ).hash
        for i in range(n)
    ]


def leaves(hashes: list[str]) -> list[bytes]:
    return [event_leaf(h) for h in hashes]


def test_roots_and_proofs_from_the_store_match_the_tree_of_the_event_hashes(store: Store) -> None:
    hashes = record(store, 5)
    assert store.merkle_root(5)[1] == root_of(leaves(hashes))  # the cache fills on demand ...
    hashes += record(store, 8)  # ... and catches up later
    assert store.merkle_root() == (13, root_of(leaves(hashes)))
    for size in (1, 2, 7, 8, 13):
        root = root_of(leaves(hashes[:size]))
        for seq in range(1, size + 1):
            proof = store.inclusion_proof(seq, size=size)
            assert proof.root_hash == root.hex()
            assert proof.event_hash == hashes[seq - 1]
            path = [bytes.fromhex(h) for h in proof.path]
            assert verify_inclusion(seq - 1, size, leaves(hashes)[seq - 1], path, root)
        for first in range(0, size + 1):
            consistency = store.consistency_proof(first, size)
            path = [bytes.fromhex(h) for h in consistency.path]
            old = root_of(leaves(hashes[:first]))
            assert consistency.first_root == old.hex()
            assert verify_consistency(first, size, old, root, path)


def test_a_proof_for_an_event_or_size_the_ledger_does_not_hold_is_refused_by_name(
    store: Store,
) -> None:
    record(store, 3)
    with pytest.raises(ProofError, match="no event 4 in a tree of 3 events"):
        store.inclusion_proof(4)
    with pytest.raises(ProofError, match="the ledger holds 3"):
        store.inclusion_proof(1, size=9)
    with pytest.raises(ProofError, match="from 3 to 2"):
        store.consistency_proof(3, 2)


def test_a_checkpoint_signs_the_root_and_a_tampered_head_is_named(store: Store) -> None:
    hashes = record(store, 6)
    key = Ed25519PrivateKey.generate()
    head = checkpoint_tree_head(store, key, now=AT)
    assert (head.size, head.root_hash, head.head_hash) == (
        6,
        root_of(leaves(hashes)).hex(),
        hashes[-1],
    )
    assert tree_head_problem(head) is None
    assert tree_head_problem(head, trusted_key=public_key_bytes(key.public_key())) is None
    assert store.latest_tree_head() == head
    assert SignedTreeHead.from_json(head.to_json()) == head
    forged = SignedTreeHead(**{**head.__dict__, "size": 7})
    assert tree_head_problem(forged) == "the signature of the tree head of size 7 does not verify"
    other = Ed25519PrivateKey.generate()
    assert "not by the trusted key" in str(
        tree_head_problem(head, trusted_key=public_key_bytes(other.public_key()))
    )


def test_a_checkpoint_rebuilds_a_merkle_cache_that_disagrees_with_the_ledger(store: Store) -> None:
    hashes = record(store, 40)
    truth = root_of(leaves(hashes))
    assert store.stored_merkle_root(40) == truth
    store.execute_sql_for_tests("UPDATE ledger_merkle SET hash = :h", {"h": "ab" * 32})
    assert store.stored_merkle_root(40) != truth
    store.forget_merkle_levels()  # as a restarted server would, it loads the bad cache
    assert store.merkle_root()[1] != truth
    head = checkpoint_tree_head(store, Ed25519PrivateKey.generate(), now=AT)
    assert head.root_hash == truth.hex()
    assert store.stored_merkle_root(40) == truth
    assert store.merkle_root()[1] == truth


def test_proofs_beyond_the_levels_in_memory_follow_the_growing_ledger(store: Store) -> None:
    hashes = record(store, 70)
    assert store.merkle_root()[1] == root_of(leaves(hashes))  # 64 leaves' upper levels loaded
    hashes += record(store, 37)  # ... then extended from the ledger, no cache write
    for size in (15, 16, 17, 64, 70, 80, 96, 107):
        root = root_of(leaves(hashes[:size]))
        for seq in {1, 16, 17, size // 2 + 1, size} & set(range(1, size + 1)):
            proof = store.inclusion_proof(seq, size=size)
            path = [bytes.fromhex(h) for h in proof.path]
            assert verify_inclusion(seq - 1, size, leaves(hashes)[seq - 1], path, root)
        for first in {1, 15, 16, 33, size - 1} & set(range(size + 1)):
            consistency = store.consistency_proof(first, size)
            path = [bytes.fromhex(h) for h in consistency.path]
            assert verify_consistency(first, size, root_of(leaves(hashes[:first])), root, path)


def test_a_checkpoint_of_a_broken_chain_is_refused(store: Store) -> None:
    record(store, 3)
    from tests.test_store import drop_ledger_guards

    drop_ledger_guards(store)
    store.execute_sql_for_tests("UPDATE ledger SET subject = 'x' WHERE seq = 2")
    with pytest.raises(LedgerError, match="no tree head was signed"):
        checkpoint_tree_head(store, Ed25519PrivateKey.generate(), now=AT)


def test_the_demo_signing_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = signing_key(settings)
    again = signing_key(settings)
    assert public_key_bytes(first.public_key()) == public_key_bytes(again.public_key())
    assert (tmp_path / "ledger_signing_key.pem").stat().st_mode & 0o077 == 0
    with pytest.raises(SigningKeyError, match="GRIDMGR_SIGNING_KEY"):
        signing_key(Settings(data_dir=tmp_path, demo=False))
    with pytest.raises(SigningKeyError, match="neither a readable PEM file"):
        signing_key(Settings(data_dir=tmp_path, signing_key="not-a-key"))
