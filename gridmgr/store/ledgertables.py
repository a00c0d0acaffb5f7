"""The ledger's tables: the hash chain itself and what is derived from it — the Merkle tree's
cache, replay snapshots, signed tree heads and the record of each verification.

Part of the one schema (:data:`gridmgr.store.columns.metadata`); :mod:`gridmgr.store.schema`
re-exports every table here.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from gridmgr.store.columns import UTCDateTime, metadata
from gridmgr.store.columns import id_column as _id

ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("kind", String(200), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("seq >= 1", name="seq_positive"),
    Index(None, "subject"),  # a case's own events, for its dossier (migration 0012)
)

LEDGER_COLUMNS = ("seq", "at", "kind", "actor", "subject", "payload", "prev_hash", "hash")

# The Merkle tree over the ledger (migration 0012): a cache of its perfect subtrees of level >= 1,
# derived from ``ledger.hash`` and rebuilt from it at will, so it needs no append-only triggers
# (a checkpoint recomputes the root from the ledger and refuses a cache that disagrees).
# ``node`` is ``level << 40 | index`` (gridmgr.store.merklestore.node_key).
ledger_merkle = Table(
    "ledger_merkle",
    metadata,
    Column("node", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)

# Replay snapshots (migration 0015): the city as the ledger's first `seq` events leave it, made
# every so many events by the scheduled checkpoint; derived data, as `ledger_merkle` is.
replay_snapshots = Table(
    "replay_snapshots",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),  # ledger.hash of event `seq`
    Column("at_max", String(32), nullable=False),  # the latest `at` of a change folded in
    Column("min_at", String(32)),  # the earliest `at` of a change since the previous snapshot
    Column("cases", Integer, nullable=False),
    Column("state", LargeBinary, nullable=False),  # zlib-compressed JSON
)

# Signed tree heads published by `gridmgr ledger checkpoint` (migration 0012), newest last.
ledger_tree_heads = Table(
    "ledger_tree_heads",
    metadata,
    _id(),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("timestamp", String(32), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("signature", String(100), nullable=False),
    Index(None, "size"),
)


ledger_verifications = Table(
    "ledger_verifications",
    metadata,
    _id(),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("head_seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("first_bad_seq", BigInteger),
    Column("problem", Text),
    Column("node", String(100), nullable=False),
    Column("kind", String(16), nullable=False, server_default="full"),
    Column("from_seq", BigInteger),
)
"""One row per verification of the ledger, by whichever node ran it (0010): ``full`` (end to
end; ``events`` read them all) or ``incremental`` (0016: the events after ``from_seq``, the head
an earlier pass verified, whose hash was checked again; ``events`` is how many it read)."""
