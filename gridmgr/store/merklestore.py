"""The Merkle tree over the ledger, stored: a cache of perfect subtrees, proofs, signed heads.

The cache (table ``ledger_merkle``) holds every perfect subtree of level >= 1 over the ledger's
events; leaves come from ``ledger.hash`` itself. It is filled on demand, never on the append
path (so reporting stays as fast as it was): before a proof or a root of ``size`` leaves is read,
:func:`catch_up` appends the events the cache has not seen, in the ledger's write transaction, so
two catch-ups never race. A proof then costs two indexed ``IN`` queries (the nodes its plan
names, see :mod:`gridmgr.ledger.merkle`), whatever the ledger's length. The cache is derived
data: :meth:`MerkleMethods.ledger_root_from_chain` recomputes a root from the ledger alone, and
:meth:`MerkleMethods.rebuild_merkle_cache` starts it afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select

from gridmgr.ledger import GENESIS_HASH, LedgerEvent
from gridmgr.ledger.merkle import (
    CompactRange,
    Node,
    ProofError,
    consistency_plan,
    consistency_proof,
    event_leaf,
    inclusion_plan,
    inclusion_proof,
    root_from_nodes,
    root_plan,
)
from gridmgr.ledger.treehead import SignedTreeHead
from gridmgr.store.ledgerstore import events_by_seq, iter_rows
from gridmgr.store.schema import LEDGER_COLUMNS, ledger, ledger_merkle, ledger_tree_heads
from gridmgr.store.transactions import StoreBase

LEVEL_SHIFT = 40
"""A node's key is ``level << 40 | index``: room for 2**40 leaves."""
BATCH = 5_000


def node_key(node: Node) -> int:
    """The ``ledger_merkle.node`` key of a perfect subtree ``(level, index)``.

    >>> node_key((1, 3))
    1099511627779
    """
    level, index = node
    return level << LEVEL_SHIFT | index


@dataclass(frozen=True)
class InclusionProof:
    """Event ``seq`` (leaf ``seq - 1``) is in the tree of ``size`` events with ``root_hash``."""

    seq: int
    size: int
    event_hash: str
    root_hash: str
    path: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """The proof as JSON-ready values (hashes in hex, the audit path leaf-side first)."""
        return {
            "seq": self.seq,
            "leaf_index": self.seq - 1,
            "tree_size": self.size,
            "event_hash": self.event_hash,
            "root_hash": self.root_hash,
            "path": list(self.path),
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``second`` events extends the tree of ``first`` events."""

    first: int
    second: int
    first_root: str
    second_root: str
    path: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """The proof as JSON-ready values."""
        return {
            "from": self.first,
            "to": self.second,
            "from_root": self.first_root,
            "to_root": self.second_root,
            "path": list(self.path),
        }


def _ledger_size(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(ledger.c.seq), 0))).scalar_one())


def _checked_size(conn: Connection, size: int | None) -> int:
    """``size``, or the ledger's length when ``None``; a size the ledger does not have is a
    :class:`ProofError`."""
    total = _ledger_size(conn)
    if size is None:
        return total
    if type(size) is not int or not 0 <= size <= total:
        raise ProofError(
            f"no tree of {size} events: the ledger holds {total}; ask for 0 <= size <= {total}"
        )
    return size


def _covered(conn: Connection) -> int:
    """How many leaves the cache covers: twice the number of level-1 nodes (they are written
    left to right, with no gap)."""
    top = conn.execute(
        select(func.max(ledger_merkle.c.node)).where(
            ledger_merkle.c.node >= node_key((1, 0)), ledger_merkle.c.node < node_key((2, 0))
        )
    ).scalar_one()
    return 0 if top is None else 2 * (int(top) - node_key((1, 0)) + 1)


def _fetch(
    conn: Connection, nodes: Sequence[Node], events: dict[int, str] | None = None
) -> dict[Node, bytes]:
    """The hashes of these perfect nodes: leaves from the ledger, the rest from the cache (and,
    into ``events``, the hex hash of each leaf's event by ``seq``)."""
    found: dict[Node, bytes] = {}
    leaves = sorted({i for level, i in nodes if level == 0})
    if leaves:
        rows = conn.execute(
            select(ledger.c.seq, ledger.c.hash).where(ledger.c.seq.in_([i + 1 for i in leaves]))
        )
        for seq, h in rows:
            found[(0, int(seq) - 1)] = event_leaf(h)
            if events is not None:
                events[int(seq)] = h
    keys = {node_key(n): n for n in nodes if n[0] > 0}
    if keys:
        rows = conn.execute(
            select(ledger_merkle.c.node, ledger_merkle.c.hash).where(
                ledger_merkle.c.node.in_(sorted(keys))
            )
        )
        found.update({keys[int(k)]: bytes.fromhex(h) for k, h in rows})
    missing = [n for n in nodes if n not in found]
    if missing:
        raise ProofError(
            f"the Merkle cache lacks node {missing[0]}; run `gridmgr ledger checkpoint`, which "
            "rebuilds it from the ledger"
        )
    return found


def catch_up(conn: Connection, size: int, *, progress: Callable[[int], None] | None = None) -> int:
    """Extend the cache to cover ``size`` leaves (rounded down to even); returns the leaves added.

    Runs in the caller's write transaction (which holds the ledger lock)."""
    covered, target = _covered(conn), size - size % 2
    if covered >= target:
        return 0
    plan = root_plan(covered)
    edge = _fetch(conn, plan)
    tree = CompactRange.resume(covered, [edge[n] for n in plan])
    query = (
        select(ledger.c.hash)
        .where(ledger.c.seq > covered, ledger.c.seq <= target)
        .order_by(ledger.c.seq)
        .execution_options(yield_per=20_000)
    )
    pending: list[dict[str, object]] = []
    for (event_hash,) in conn.execute(query):
        for node, digest in tree.append(event_leaf(event_hash)):
            pending.append({"node": node_key(node), "hash": digest.hex()})
        if len(pending) >= BATCH:
            conn.execute(insert(ledger_merkle), pending)
            pending = []
            if progress is not None:
                progress(tree.size)
    if pending:
        conn.execute(insert(ledger_merkle), pending)
    return tree.size - covered


class MerkleMethods(StoreBase):
    """The store's Merkle tree: roots, inclusion and consistency proofs, signed tree heads."""

    def _planned(
        self, size: int | None, plan: Callable[[int], Sequence[Node]]
    ) -> tuple[int, dict[Node, bytes], dict[int, str]]:
        """The tree size (default: the whole ledger), the nodes ``plan(size)`` names and the hex
        hashes of the events among them: one read transaction when the cache is up to date,
        else a catch-up in a write transaction first."""
        events: dict[int, str] = {}
        with self._read() as conn:
            n = _checked_size(conn, size)
            wanted = plan(n)
            if _covered(conn) >= n - n % 2:
                return n, _fetch(conn, wanted, events), events
        with self._write() as conn:
            catch_up(conn, n)
            return n, _fetch(conn, wanted, events), events

    def merkle_root(self, size: int | None = None) -> tuple[int, bytes]:
        """The tree size (default: the whole ledger) and its Merkle root."""
        n, nodes, _ = self._planned(size, root_plan)
        return n, root_from_nodes(n, nodes)

    def inclusion_proof(self, seq: int, *, size: int | None = None) -> InclusionProof:
        """The proof that event ``seq`` is in the tree of ``size`` events (default: all)."""

        def plan(n: int) -> list[Node]:
            if type(seq) is not int or not 1 <= seq <= n:
                raise ProofError(f"no event {seq} in a tree of {n} events; ask for 1 <= seq <= {n}")
            return [*inclusion_plan(seq - 1, n), *root_plan(n), (0, seq - 1)]

        n, nodes, events = self._planned(size, plan)
        return InclusionProof(
            seq=seq,
            size=n,
            event_hash=events[seq],
            root_hash=root_from_nodes(n, nodes).hex(),
            path=tuple(h.hex() for h in inclusion_proof(seq - 1, n, nodes)),
        )

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """The proof that the tree of ``second`` events (default: all) extends that of
        ``first``."""

        def plan(n: int) -> list[Node]:
            if type(first) is not int or not 0 <= first <= n:
                raise ProofError(
                    f"no consistency proof from {first} to {n} events; ask for 0 <= from <= to"
                )
            return [*consistency_plan(first, n), *root_plan(first), *root_plan(n)]

        n, nodes, _ = self._planned(second, plan)
        return ConsistencyProof(
            first=first,
            second=n,
            first_root=root_from_nodes(first, nodes).hex(),
            second_root=root_from_nodes(n, nodes).hex(),
            path=tuple(h.hex() for h in consistency_proof(first, n, nodes)),
        )

    def ledger_root_from_chain(
        self, size: int, *, progress: Callable[[int], None] | None = None
    ) -> bytes:
        """The root of the first ``size`` events computed from the ledger alone, not the cache."""
        tree = CompactRange()
        for row in iter_rows(self._engine):
            if tree.size >= size:
                break
            tree.append(event_leaf(str(row[7])))
            if progress is not None and tree.size % 100_000 == 0:
                progress(tree.size)
        if tree.size != size:
            raise ProofError(f"the ledger holds {tree.size} events, fewer than {size}")
        return tree.root()

    def rebuild_merkle_cache(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Drop the cache and rebuild it from the ledger; returns the leaves covered."""
        with self._write() as conn:
            conn.execute(delete(ledger_merkle))
            return catch_up(conn, _ledger_size(conn), progress=progress)

    def publish_tree_head(self, head: SignedTreeHead) -> None:
        """Keep a signed tree head (what ``GET /api/v1/ledger/sth`` serves)."""
        with self._write() as conn:
            conn.execute(
                insert(ledger_tree_heads).values(
                    size=head.size,
                    root_hash=head.root_hash,
                    head_hash=head.head_hash,
                    timestamp=head.timestamp,
                    public_key=head.public_key,
                    signature=head.signature,
                )
            )

    def latest_tree_head(self, *, size: int | None = None) -> SignedTreeHead | None:
        """The newest published signed tree head (of exactly ``size`` events, when given)."""
        query = select(ledger_tree_heads).order_by(ledger_tree_heads.c.id.desc()).limit(1)
        if size is not None:
            query = query.where(ledger_tree_heads.c.size == size)
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return SignedTreeHead(
            size=int(row.size),
            root_hash=row.root_hash,
            head_hash=row.head_hash,
            timestamp=row.timestamp,
            public_key=row.public_key,
            signature=row.signature,
        )

    def ledger_event(self, seq: int) -> LedgerEvent | None:
        """The ledger event ``seq``, or ``None``."""
        with self._read() as conn:
            return events_by_seq(conn, [seq]).get(seq)

    def subject_events(self, subject: str) -> list[LedgerEvent]:
        """Every ledger event about ``subject`` (``case:<id>``), in order."""
        query = select(ledger).where(ledger.c.subject == subject).order_by(ledger.c.seq)
        with self._read() as conn:
            return [
                LedgerEvent(*(r._mapping[c] for c in LEDGER_COLUMNS)) for r in conn.execute(query)
            ]

    def head_hash_at(self, size: int) -> str:
        """The hash of event ``size`` (the chain's head at that size), or the genesis hash."""
        if size == 0:
            return GENESIS_HASH
        with self._read() as conn:
            value = conn.execute(select(ledger.c.hash).where(ledger.c.seq == size)).scalar()
        if value is None:
            raise ProofError(f"no event {size} in the ledger")
        return str(value)
