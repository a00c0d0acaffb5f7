"""``/api/v1/ledger``: the signed tree head, and Merkle proofs over the ledger (RFC 9162).

Nested in the ``/api/v1`` blueprint, so its token authentication applies. What each caller may
ask: the latest signed head and consistency proofs carry hashes only, so any authenticated caller
may read them; an inclusion proof names one event's hash, so city-wide roles (operators,
managers) may ask for any event and everyone else only for the events of a case he may see.
"""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from gridmgr.api.auth import current_caller
from gridmgr.ledger.treehead import SignedTreeHead
from gridmgr.services.treeheads import consistency_between, inclusion_for, latest_head
from gridmgr.web.deps import services

TAG = Tag(name="ledger", description="Signed tree heads and Merkle proofs over the ledger")
LIMIT = 2**40

bp = APIBlueprint("ledger", __name__, url_prefix="/ledger")


class ProofQuery(BaseModel):
    """Which event, against which tree size (default: the latest signed head's)."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=LIMIT, description="the ledger event's sequence number")
    size: int | None = Field(default=None, ge=1, le=LIMIT, description="the tree size")


class ConsistencyQuery(BaseModel):
    """From which tree size to which (default: the whole ledger)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first: int = Field(alias="from", ge=0, le=LIMIT, description="the earlier tree size")
    second: int | None = Field(default=None, alias="to", ge=0, le=LIMIT, description="the later")


def _head(head: SignedTreeHead | None) -> dict[str, object] | None:
    return None if head is None else head.to_dict()


@bp.get("/sth", tags=[TAG])
def signed_tree_head() -> Response:
    """The newest signed tree head (size, root hash, time, Ed25519 signature and key)."""
    return jsonify(latest_head(services()).to_dict())


@bp.get("/proof", tags=[TAG])
def inclusion(query: ProofQuery) -> Response:
    """The inclusion proof of event ``seq`` in the tree of ``size`` events, with the signed tree
    head of that size when one was published."""
    proof, head = inclusion_for(services(), current_caller(), query.seq, size=query.size)
    return jsonify({**proof.to_dict(), "tree_head": _head(head)})


@bp.get("/consistency", tags=[TAG])
def consistency(query: ConsistencyQuery) -> Response:
    """The consistency proof from the tree of ``from`` events to the tree of ``to`` events."""
    proof, first, second = consistency_between(services(), query.first, query.second)
    return jsonify({**proof.to_dict(), "from_head": _head(first), "to_head": _head(second)})
