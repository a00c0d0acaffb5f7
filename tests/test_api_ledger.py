"""``/api/v1/ledger``: the signed tree head and Merkle proofs, as a client checks them (both
backends)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from gridmgr.ledger.merkle import event_leaf, verify_consistency, verify_inclusion
from gridmgr.ledger.treehead import SignedTreeHead, tree_head_problem
from gridmgr.services.treeheads import checkpoint_tree_head
from gridmgr.store import Store
from tests.test_api_v1 import (
    FIXED,
    IN_FAR_CELL,
    REPORT,
    URL,
    bearer,
    error_message,
    make_app,
    operator_id,
    token_for,
    worker_id,
)


def setup(store: Store, tmp_path: Path) -> tuple[FlaskClient, dict[str, str], dict[str, str]]:
    client = make_app(store, tmp_path).test_client()
    operator = bearer(token_for(store, operator_id()))
    worker = bearer(token_for(store, worker_id()))
    assert client.post(URL, json=REPORT, headers=worker).status_code == 201  # his own cell
    far = {**REPORT, **IN_FAR_CELL}
    assert client.post(URL, json=far, headers=operator).status_code == 201  # not his
    return client, operator, worker


def test_an_inclusion_proof_from_the_api_verifies_against_the_signed_tree_head(
    store: Store, tmp_path: Path
) -> None:
    client, operator, _ = setup(store, tmp_path)
    assert client.get("/api/v1/ledger/sth", headers=operator).status_code == 404
    published = checkpoint_tree_head(store, Ed25519PrivateKey.generate(), now=FIXED)
    head = SignedTreeHead.from_dict(client.get("/api/v1/ledger/sth", headers=operator).get_json())
    assert head == published
    assert tree_head_problem(head) is None
    for seq in range(1, head.size + 1):
        body = client.get(f"/api/v1/ledger/proof?seq={seq}", headers=operator).get_json()
        assert body["tree_size"] == head.size
        assert body["tree_head"] == head.to_dict()
        path = [bytes.fromhex(h) for h in body["path"]]
        leaf = event_leaf(body["event_hash"])
        assert verify_inclusion(seq - 1, head.size, leaf, path, head.root)


def test_a_consistency_proof_shows_the_ledger_grew_without_rewriting(
    store: Store, tmp_path: Path
) -> None:
    client, operator, _ = setup(store, tmp_path)
    old = checkpoint_tree_head(store, Ed25519PrivateKey.generate(), now=FIXED)
    assert client.post(URL, json=REPORT, headers=operator).status_code == 201
    reply = client.get(f"/api/v1/ledger/consistency?from={old.size}", headers=operator)
    body = reply.get_json()
    assert body["from"] == old.size < body["to"]
    assert body["from_head"] == old.to_dict()
    path = [bytes.fromhex(h) for h in body["path"]]
    new_root = bytes.fromhex(body["to_root"])
    assert verify_consistency(old.size, body["to"], old.root, new_root, path)


def test_a_worker_gets_proofs_of_his_own_cases_events_only(store: Store, tmp_path: Path) -> None:
    client, _, worker = setup(store, tmp_path)
    events = list(store.ledger_events())
    cells = {e.seq: store.case(e.subject.removeprefix("case:")).cell for e in events}
    mine = next(e for e in events if cells[e.seq] == "320281001001001")
    other = next(e for e in events if cells[e.seq] != "320281001001001")
    assert client.get(f"/api/v1/ledger/proof?seq={mine.seq}", headers=worker).status_code == 200
    refused = client.get(f"/api/v1/ledger/proof?seq={other.seq}", headers=worker)
    assert refused.status_code == 404
    assert "visible to you" in error_message(refused)


def test_bad_proof_requests_are_400_naming_the_problem_and_anonymous_ones_401(
    store: Store, tmp_path: Path
) -> None:
    client, operator, _ = setup(store, tmp_path)
    assert client.get("/api/v1/ledger/proof?seq=1").status_code == 401
    for query in ("seq=0", "seq=abc", "seq=1&size=0", "seq=1&colour=red"):
        assert client.get(f"/api/v1/ledger/proof?{query}", headers=operator).status_code == 400
    too_big = client.get("/api/v1/ledger/proof?seq=1&size=99", headers=operator)
    assert too_big.status_code == 400
    assert "the ledger holds" in error_message(too_big)
    backwards = client.get("/api/v1/ledger/consistency?from=2&to=1", headers=operator)
    assert backwards.status_code == 400
