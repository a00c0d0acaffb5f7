"""Merkle trees over the ledger, as in Certificate Transparency (RFC 6962, RFC 9162 §2.1).

Pure. The tree's leaves are the ledger's events in ``seq`` order: leaf ``i`` (0-based) is event
``seq = i + 1``, and its data are the 32 bytes of the event's SHA-256 ``hash``, so the tree commits
to exactly what the hash chain commits to. Hashing is RFC 6962's:

- a leaf hash is ``SHA-256(0x00 || data)``; an interior node is ``SHA-256(0x01 || left || right)``;
- the root of ``n`` leaves splits them at ``k``, the largest power of two below ``n``; the root of
  no leaves is ``SHA-256("")``.

A *node* ``(level, index)`` is a perfect subtree: the ``2**level`` leaves from ``index << level``.
Any range the RFC's recursion names (``MTH(D[a:b])``) is a right fold over at most ``log2 n``
perfect nodes (:func:`range_nodes`). So a proof is planned as a set of nodes
(:func:`inclusion_plan`, :func:`consistency_plan`), the store fetches them in one query, and
:func:`inclusion_proof` / :func:`consistency_proof` assemble the proof: ``O(log n)`` hashes.
:class:`CompactRange` appends leaves and yields each perfect node as it completes, which is how
the store keeps its cache. :func:`root_from_inclusion_proof` and :func:`verify_consistency` are
the verifier's side (RFC 9162 §2.1.3.2, §2.1.4.2), tested against transparency-dev's vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gridmgr.ledger.hashing import LedgerError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of a tree of no leaves, ``SHA-256("")``."""

Node = tuple[int, int]
"""A perfect subtree ``(level, index)``: leaves ``index << level`` to ``(index + 1) << level``."""


class ProofError(LedgerError):
    """A Merkle proof was asked for sizes that do not exist, or does not verify."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962's leaf hash, ``SHA-256(0x00 || data)``.

    >>> leaf_hash(b"").hex()
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'
    """
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962's interior node hash, ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def event_leaf(event_hash: str) -> bytes:
    """The leaf hash of a ledger event, from its ``hash`` (64 hex digits)."""
    return leaf_hash(bytes.fromhex(event_hash))


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): where RFC 6962 splits ``n``.

    >>> [split_point(n) for n in (2, 3, 4, 5, 8, 9)]
    [1, 2, 2, 4, 4, 8]
    """
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash ``MTH`` of these leaf *hashes* (recursive: for tests, small trees)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


def range_nodes(begin: int, end: int) -> list[Node]:
    """The perfect nodes whose right fold is ``MTH(D[begin:end])``, left to right.

    ``begin`` must be a multiple of the largest power of two not above ``end - begin``, as every
    range in the RFC's recursion is.

    >>> range_nodes(0, 7)
    [(2, 0), (1, 2), (0, 6)]
    >>> range_nodes(4, 6)
    [(1, 2)]
    """
    nodes, at, left = [], begin, end - begin
    while left:
        level = left.bit_length() - 1
        if at % (1 << level):
            raise ProofError(f"range [{begin}, {end}) is not a subtree of a Merkle tree")
        nodes.append((level, at >> level))
        at += 1 << level
        left -= 1 << level
    return nodes


def fold_nodes(hashes: Sequence[bytes]) -> bytes:
    """The right fold of perfect-node hashes ``h1, h2, …, hk`` into ``h1·(h2·(…·hk))``."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = node_hash(h, result)
    return result


def _inclusion_ranges(index: int, begin: int, end: int) -> list[tuple[int, int]]:
    """RFC 9162's ``PATH(m, D[begin:end])`` as the ranges whose ``MTH`` form it, leaf first."""
    ranges: list[tuple[int, int]] = []
    while end - begin > 1:
        k = split_point(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    ranges.reverse()
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """RFC 9162's ``PROOF(m, D[n])`` (``0 < m < n``) as the ranges whose ``MTH`` form it."""
    ranges: list[tuple[int, int]] = []
    begin, end, whole = 0, second, True
    while first != end:
        k = split_point(end - begin)
        if first - begin <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
            whole = False
    if not whole:
        ranges.append((begin, end))
    ranges.reverse()
    return ranges


def _check_index(index: int, size: int) -> None:
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        raise ProofError(
            f"no leaf {index} in a tree of {size} leaves; ask for 0 <= index < size "
            "(ledger event seq = index + 1)"
        )


def _check_sizes(first: int, second: int) -> None:
    if type(first) is not int or type(second) is not int or not 0 <= first <= second:
        raise ProofError(
            f"no consistency proof from a tree of {first} to one of {second}; "
            "ask for 0 <= from <= to"
        )


def inclusion_plan(index: int, size: int) -> list[Node]:
    """The perfect nodes :func:`inclusion_proof` needs for leaf ``index`` in a tree of ``size``."""
    _check_index(index, size)
    return [n for a, b in _inclusion_ranges(index, 0, size) for n in range_nodes(a, b)]


def consistency_plan(first: int, second: int) -> list[Node]:
    """The perfect nodes :func:`consistency_proof` needs from ``first`` to ``second`` leaves."""
    _check_sizes(first, second)
    if first in (0, second):
        return []
    return [n for a, b in _consistency_ranges(first, second) for n in range_nodes(a, b)]


def _assemble(ranges: Iterable[tuple[int, int]], nodes: Mapping[Node, bytes]) -> list[bytes]:
    return [fold_nodes([nodes[n] for n in range_nodes(a, b)]) for a, b in ranges]


def inclusion_proof(index: int, size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in a tree of ``size`` leaves (``nodes``: at least those
    of :func:`inclusion_plan`), leaf-side first, as RFC 9162 §2.1.3.1 orders it."""
    _check_index(index, size)
    return _assemble(_inclusion_ranges(index, 0, size), nodes)


def consistency_proof(first: int, second: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """The proof that the tree of ``second`` leaves extends the tree of ``first`` (RFC 9162
    §2.1.4.1); empty when ``first`` is 0 or equals ``second``."""
    _check_sizes(first, second)
    if first in (0, second):
        return []
    return _assemble(_consistency_ranges(first, second), nodes)


def root_from_nodes(size: int, nodes: Mapping[Node, bytes]) -> bytes:
    """The root of a tree of ``size`` leaves from its perfect nodes (those of :func:`root_plan`)."""
    return fold_nodes([nodes[n] for n in range_nodes(0, size)])


def root_plan(size: int) -> list[Node]:
    """The perfect nodes whose fold is the root of a tree of ``size`` leaves (one per set bit)."""
    return range_nodes(0, size)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` and ``leaf`` imply for leaf ``index`` of a tree of ``size``
    (RFC 9162 §2.1.3.2); :class:`ProofError` when the proof has the wrong length."""
    _check_index(index, size)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(f"the inclusion proof is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"the inclusion proof is too short ({len(proof)} hashes)")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root
    except ProofError:
        return False


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows that the tree (``second``, ``second_root``) extends the tree
    (``first``, ``first_root``), as RFC 9162 §2.1.4.2 checks it."""
    if type(first) is not int or type(second) is not int or not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


@dataclass
class CompactRange:
    """The right edge of a growing tree: one perfect node per set bit of ``size``.

    :meth:`append` adds a leaf and returns each perfect node (level >= 1) it completes, which the
    store writes to its cache; :meth:`root` is the root of the tree so far. Memory is
    ``O(log n)``, so a million events stream through it.
    """

    size: int = 0
    stack: list[tuple[int, bytes]] = field(default_factory=list)

    @classmethod
    def resume(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """The compact range of a tree of ``size`` leaves from the hashes of its
        :func:`root_plan` nodes, left to right."""
        plan = root_plan(size)
        if len(plan) != len(hashes):
            raise ProofError(
                f"a tree of {size} leaves has {len(plan)} edge nodes, got {len(hashes)}"
            )
        return cls(size, [(level, h) for (level, _), h in zip(plan, hashes, strict=True)])

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add one leaf hash; return the perfect nodes of level >= 1 it completes."""
        index, done = self.size, []
        self.stack.append((0, leaf))
        while len(self.stack) >= 2 and self.stack[-1][0] == self.stack[-2][0]:
            (level, right), (_, left) = self.stack.pop(), self.stack.pop()
            merged = node_hash(left, right)
            self.stack.append((level + 1, merged))
            done.append(((level + 1, index >> (level + 1)), merged))
        self.size += 1
        return done

    def root(self) -> bytes:
        """The root of the tree of :attr:`size` leaves."""
        return fold_nodes([h for _, h in self.stack])


def perfect_nodes_of(leaves: Sequence[bytes]) -> dict[Node, bytes]:
    """Every perfect node of the tree over these leaf hashes, leaves included (for tests)."""
    nodes: dict[Node, bytes] = {(0, i): h for i, h in enumerate(leaves)}
    tree = CompactRange()
    for h in leaves:
        nodes.update(tree.append(h))
    return nodes


NodeSource = Callable[[Sequence[Node]], Mapping[Node, bytes]]
"""Fetches perfect nodes by ``(level, index)``: the store's cache, or a dict in tests."""
