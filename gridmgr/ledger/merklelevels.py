"""The upper levels of a Merkle tree in memory: what makes a proof a few lookups, not queries.

Pure. A proof of one leaf in a tree of ``n`` needs ``O(log n)`` perfect nodes (see
:mod:`gridmgr.ledger.merkle`). Those of level :data:`FLOOR` (16 leaves) and above are kept here,
one ``bytearray`` of 32-byte hashes per level, appended to as the ledger grows; those below are
hashed on the spot from the at most 16 leaves they span, which the store reads from the ledger
in the same query as the rest of the proof. Memory is about ``n / 8`` hashes, 4 MB for a million
events, where keeping every node would take 64 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gridmgr.ledger.merkle import Node, ProofError, node_hash, root_of

FLOOR = 4
"""The lowest level kept in memory: a node of this level spans 16 leaves."""
BLOCK = 1 << FLOOR
HASH = 32


class UpperLevels:
    """The perfect nodes of level >= :data:`FLOOR` over a tree's first :attr:`covered` leaves.

    :attr:`covered` is always a multiple of :data:`BLOCK`; :meth:`extend` adds whole blocks.

    >>> from gridmgr.ledger.merkle import leaf_hash
    >>> levels = UpperLevels()
    >>> levels.extend([leaf_hash(bytes([i])) for i in range(40)])
    32
    >>> levels.covered, levels.node((5, 0)) == root_of([leaf_hash(bytes([i])) for i in range(32)])
    (32, True)
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    @property
    def covered(self) -> int:
        """How many leaves the kept nodes span."""
        return len(self._levels[0]) // HASH * BLOCK if self._levels else 0

    def node(self, node: Node) -> bytes | None:
        """The hash of perfect node ``(level, index)`` if kept (level >= FLOOR, covered)."""
        level, index = node
        if level < FLOOR or level - FLOOR >= len(self._levels):
            return None
        row = self._levels[level - FLOOR]
        if (index + 1) * HASH > len(row):
            return None
        return bytes(row[index * HASH : (index + 1) * HASH])

    def extend(self, leaves: Sequence[bytes]) -> int:
        """Append the leaf hashes that follow :attr:`covered` (only whole blocks are kept);
        returns the leaves taken."""
        whole = len(leaves) - len(leaves) % BLOCK
        for start in range(0, whole, BLOCK):
            self._push(0, root_of(leaves[start : start + BLOCK]))
        return whole

    def _push(self, depth: int, digest: bytes) -> None:
        while True:
            if depth == len(self._levels):
                self._levels.append(bytearray())
            row = self._levels[depth]
            row += digest
            if len(row) // HASH % 2:
                return
            digest, depth = node_hash(bytes(row[-2 * HASH : -HASH]), bytes(row[-HASH:])), depth + 1

    @classmethod
    def from_nodes(cls, nodes: Iterable[tuple[Node, bytes]]) -> UpperLevels:
        """The levels from stored perfect nodes (any order; those below FLOOR are ignored),
        cut to the longest run of whole blocks from leaf 0 that every level agrees with."""
        found: dict[Node, bytes] = {n: h for n, h in nodes if n[0] >= FLOOR}
        blocks = 0
        while (FLOOR, blocks) in found:
            blocks += 1
        levels = cls()
        covered = blocks * BLOCK
        for depth in range(covered.bit_length()):
            count = covered >> (FLOOR + depth)
            if count == 0:
                break
            row = [found.get((FLOOR + depth, i)) for i in range(count)]
            if any(h is None for h in row):
                raise ProofError(
                    f"the Merkle cache lacks a node of level {FLOOR + depth}; run `gridmgr "
                    "ledger checkpoint`, which rebuilds it from the ledger"
                )
            levels._levels.append(bytearray(b"".join(h for h in row if h is not None)))
        return levels


def low_leaves(nodes: Iterable[Node]) -> set[int]:
    """The leaf indices that the nodes below :data:`FLOOR` among ``nodes`` span.

    >>> sorted(low_leaves([(1, 3), (0, 9), (5, 0)]))
    [6, 7, 9]
    """
    out: set[int] = set()
    for level, index in nodes:
        if level < FLOOR:
            out.update(range(index << level, (index + 1) << level))
    return out


def nodes_from(
    wanted: Iterable[Node], leaves: Mapping[int, bytes], upper: UpperLevels
) -> dict[Node, bytes]:
    """The hashes of ``wanted``: low nodes hashed from ``leaves`` (leaf index → leaf hash), the
    others from ``upper``; a node neither can give is a :class:`ProofError`."""
    out: dict[Node, bytes] = {}
    for node in wanted:
        level, index = node
        if level < FLOOR:
            span = range(index << level, (index + 1) << level)
            if all(i in leaves for i in span):
                out[node] = root_of([leaves[i] for i in span])
                continue
        else:
            digest = upper.node(node)
            if digest is not None:
                out[node] = digest
                continue
        raise ProofError(f"no hash for Merkle node {node}: the ledger or its cache lacks it")
    return out
