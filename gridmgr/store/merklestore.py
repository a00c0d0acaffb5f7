"""The Merkle tree over the ledger, stored: a cache of perfect subtrees, proofs, signed heads.

The cache (table ``ledger_merkle``) holds every perfect subtree of level >= 1 over the ledger's
events; leaves come from ``ledger.hash`` itself. It is filled by :func:`catch_up`, never on the
append path (so reporting stays as fast as it was), in the ledger's write transaction so two
catch-ups never race: by the checkpoint loop (:mod:`gridmgr.services.checkpoints`) and by
``gridmgr ledger checkpoint``. Proofs do not write: each process keeps the tree's upper levels
in memory (:mod:`gridmgr.ledger.merklelevels`), loaded once from the cache and extended from the
ledger's hashes as it grows, and reads the few leaves below them from the ledger, so a proof
costs two indexed queries in one read transaction whatever the ledger's length. The cache is
derived data: :meth:`MerkleMethods.ledger_root_from_chain` recomputes a root from the ledger
alone, and :meth:`MerkleMethods.rebuild_merkle_cache` starts it (and the memory) afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select

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
from gridmgr.ledger.merklelevels import BLOCK, FLOOR, UpperLevels, low_leaves, nodes_from
from gridmgr.ledger.treehead import SignedTreeHead
from gridmgr.store.ledgerstore import events_by_seq, iter_rows
from gridmgr.store.schema import LEDGER_COLUMNS, ledger, ledger_merkle, ledger_tree_heads
from gridmgr.store.transactions import StoreBase

LEVEL_SHIFT = 40
"""A node's key is ``level << 40 | index``: room for 2**40 leaves."""
BATCH = 5_000
_INDEX_MASK = (1 << LEVEL_SHIFT) - 1

_TWO_RUNS = select(ledger.c.seq, ledger.c.hash).where(
    ledger.c.seq.between(bindparam("a1"), bindparam("b1"))
    | ledger.c.seq.between(bindparam("a2"), bindparam("b2"))
    | (ledger.c.seq > bindparam("after"))
)
_NO_RUN = (1, 0)
_PAST_ALL = 1 << 62
"""An ``after`` past every event: that part of :data:`_TWO_RUNS` matches nothing."""
_RUN = (
    select(ledger.c.hash)
    .where(ledger.c.seq > bindparam("after"), ledger.c.seq <= bindparam("upto"))
    .order_by(ledger.c.seq)
    .execution_options(yield_per=20_000)
)
_UPPER_NODES = select(ledger_merkle.c.node, ledger_merkle.c.hash).where(
    ledger_merkle.c.node >= FLOOR << LEVEL_SHIFT
)


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


def _checked_size(size: int | None, total: int) -> int:
    """``size``, or the ledger's length ``total`` when ``None``; a size the ledger does not
    have is a :class:`ProofError`."""
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


def _extend_streamed(conn: Connection, levels: UpperLevels, size: int, chunk: int = 65_536) -> None:
    """Extend ``levels`` to ``size`` leaves (rounded down to a block) from the ledger's hashes,
    ``chunk`` at a time (a million events never sit in memory at once)."""
    target = size - size % BLOCK
    while levels.covered < target:
        upto = min(target, levels.covered + chunk)
        run = conn.execute(_RUN, {"after": levels.covered, "upto": upto})
        levels.extend([event_leaf(h) for (h,) in run])


def _runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted sequence numbers as inclusive runs ``(first, last)``.

    >>> _runs([5, 1, 2, 3, 9])
    [(1, 3), (5, 5), (9, 9)]
    """
    runs: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if runs and runs[-1][1] == seq - 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _low_runs(nodes: Sequence[Node], size: int) -> list[tuple[int, int]]:
    """The whole blocks (cut at ``size``) holding the leaves of the low nodes among ``nodes``,
    as runs of sequence numbers."""
    blocks = {i // BLOCK for i in low_leaves(nodes)}
    return _runs(
        seq for b in blocks for seq in range(b * BLOCK + 1, min((b + 1) * BLOCK, size) + 1)
    )


def _read_leaves(
    conn: Connection, runs: list[tuple[int, int]], *, after: int | None
) -> dict[int, str]:
    """The hex hashes of the events in ``runs`` and of every event past ``after``, by seq: one
    query for each two runs (a statement compiled once, no expanding ``IN``)."""
    out: dict[int, str] = {}
    padded = runs + [_NO_RUN] * (2 - len(runs) if len(runs) < 2 else len(runs) % 2)
    for i in range(0, len(padded), 2):
        (a1, b1), (a2, b2) = padded[i], padded[i + 1]
        past = _PAST_ALL if after is None or i else after
        params = {"a1": a1, "b1": b1, "a2": a2, "b2": b2, "after": past}
        out.update((int(seq), h) for seq, h in conn.execute(_TWO_RUNS, params))
    return out


class MerkleMethods(StoreBase):
    """The store's Merkle tree: roots, inclusion and consistency proofs, signed tree heads.

    Proofs read the tree's upper levels from memory (:class:`UpperLevels`, loaded once from
    the cache table and extended from the ledger as it grows) and the few leaves below them
    from the ledger: one read transaction, two indexed queries, whatever the ledger's length.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._upper_levels: UpperLevels | None = None
        self._seen_total = 0
        self._upper_lock = threading.Lock()

    def _upper(self, conn: Connection) -> UpperLevels:
        """The upper levels: on first use, loaded from the cache table and extended to the
        ledger's length (streamed, whatever the table missed)."""
        with self._upper_lock:
            if self._upper_levels is None:
                rows = conn.execute(_UPPER_NODES)
                levels = UpperLevels.from_nodes(
                    ((k >> LEVEL_SHIFT, k & _INDEX_MASK), bytes.fromhex(h)) for k, h in rows
                )
                _extend_streamed(conn, levels, _ledger_size(conn))
                self._upper_levels = levels
            return self._upper_levels

    def _extend_upper(self, conn: Connection, total: int, tail: dict[int, str]) -> None:
        """Extend the upper levels to the ledger's ``total`` events, rounded down to a block,
        from ``tail`` (hex hashes by seq) where it has them, else from the ledger."""
        with self._upper_lock:
            levels = self._upper_levels
            if levels is None:
                return
            start, target = levels.covered, total - total % BLOCK
            if start >= target:
                return
            seqs = range(start + 1, target + 1)
            if all(seq in tail for seq in seqs):
                levels.extend([event_leaf(tail[seq]) for seq in seqs])
            else:
                _extend_streamed(conn, levels, target)

    def forget_merkle_levels(self) -> None:
        """Drop the upper levels held in memory; the next proof loads them from the cache."""
        with self._upper_lock:
            self._upper_levels = None

    def _planned(
        self, size: int | None, plan: Callable[[int], Sequence[Node]]
    ) -> tuple[int, dict[Node, bytes], dict[int, str]]:
        """The tree size (default: the whole ledger), the nodes ``plan(size)`` names and the hex
        hashes of the events among them.

        One query reads the leaves the plan's low nodes span (planned for the size expected:
        ``size``, else the ledger's length when last seen) together with every event past the
        upper levels, which gives the ledger's length; a second one runs only if the guess
        was wrong."""
        with self._read() as conn:
            upper = self._upper(conn)
            covered = upper.covered
            guess = size if size is not None else max(covered, self._seen_total)
            try:
                expected: Sequence[Node] | None = plan(guess)
            except ProofError:
                expected = None
            rows = _read_leaves(conn, _low_runs(expected or [], guess), after=covered)
            total = max(covered, max(rows, default=0))
            self._seen_total = total
            n = _checked_size(size, total)
            wanted = expected if n == guess and expected is not None else plan(n)
            missing = [i + 1 for i in low_leaves(wanted) if i + 1 not in rows]
            if missing:
                rows.update(_read_leaves(conn, _runs(missing), after=None))
            if total - covered >= BLOCK:
                self._extend_upper(conn, total, rows)
        leaves = {seq - 1: event_leaf(h) for seq, h in rows.items() if seq <= n}
        return n, nodes_from(wanted, leaves, upper), rows

    def merkle_root(self, size: int | None = None) -> tuple[int, bytes]:
        """The tree size (default: the whole ledger) and its Merkle root."""
        n, nodes, _ = self._planned(size, root_plan)
        return n, root_from_nodes(n, nodes)

    def stored_merkle_root(self, size: int) -> bytes:
        """The root of ``size`` events from the cache table (brought up to date first), not
        from memory: what a checkpoint holds against the ledger."""
        with self._write() as conn:
            n = _checked_size(size, _ledger_size(conn))
            catch_up(conn, n)
            return root_from_nodes(n, _fetch(conn, root_plan(n)))

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

    def warm_merkle_cache(self, *, chunk: int = 50_000) -> int:
        """Bring the cache table up to the ledger, ``chunk`` leaves per write transaction (so
        writers wait for one chunk, never for the whole catch-up), then this process's upper
        levels; returns the leaves added to the table."""
        added = 0
        while True:
            with self._write() as conn:
                step = catch_up(conn, min(_ledger_size(conn), _covered(conn) + chunk))
            added += step
            if step == 0:
                break
        self.merkle_root()
        return added

    def rebuild_merkle_cache(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Drop the cache and rebuild it from the ledger; returns the leaves covered."""
        with self._write() as conn:
            conn.execute(delete(ledger_merkle))
            covered = catch_up(conn, _ledger_size(conn), progress=progress)
        self.forget_merkle_levels()
        return covered

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
