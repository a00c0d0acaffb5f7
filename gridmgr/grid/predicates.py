"""Exact orientation predicates: on which side of a line a point lies, with no rounding error.

A float determinant decides whenever it exceeds Shewchuk's error bound; the rare rest is decided
exactly by expanding both products with Dekker's error-free two-product (Shewchuk, "Adaptive
Precision Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997). GEOS decides
the same predicate exactly too, so answers built on these signs agree with it bit for bit.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

ORIENT_ERRBOUND = (3.0 + 16.0 * 2.0**-53) * 2.0**-53
"""Shewchuk's bound: a determinant larger than this times its terms has the right sign."""


def orientation_sign(
    ax: NDArray[np.float64],
    ay: NDArray[np.float64],
    bx: NDArray[np.float64],
    by: NDArray[np.float64],
    px: NDArray[np.float64],
    py: NDArray[np.float64],
) -> NDArray[np.int8]:
    """Exact sign of ``(b - a) x (p - a)``: 1 if p is left of a->b, -1 right, 0 on the line.

    Precondition: each coordinate difference is exact, which holds when the two operands are
    within a factor of two of each other (Sterbenz) — true for every coordinate inside a locate
    raster. A float determinant beyond Shewchuk's error bound decides most cases; the rest are
    decided exactly by expanding both products with Dekker's two-product (Shewchuk, "Adaptive
    Precision Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997).

    >>> orientation_sign(*np.array([[0.0], [0.0], [1.0], [1.0], [0.5], [0.5 + 2**-50]])).tolist()
    [1]
    """
    dx1, dy2 = bx - ax, py - ay
    dy1, dx2 = by - ay, px - ax
    left, right = dx1 * dy2, dy1 * dx2
    det = left - right
    bound = ORIENT_ERRBOUND * (np.abs(left) + np.abs(right))
    sign = np.sign(det).astype(np.int8)
    unsure = np.flatnonzero(np.abs(det) <= bound)
    if unsure.size:
        l1, l0 = _two_product(dx1[unsure], dy2[unsure])
        r1, r0 = _two_product(dy1[unsure], dx2[unsure])
        sign[unsure] = _expansion_sign(*_two_two_diff(l1, l0, r1, r0))
    return sign


def orientation_sign_scalar(
    ax: float, ay: float, bx: float, by: float, px: float, py: float
) -> int:
    """:func:`orientation_sign` for one point, without numpy's per-call overhead."""
    left = (bx - ax) * (py - ay)
    right = (by - ay) * (px - ax)
    det = left - right
    if abs(det) > ORIENT_ERRBOUND * (abs(left) + abs(right)):
        return 1 if det > 0 else -1
    f = Fraction  # rare: the float sign is not certain, so do it in exact rationals
    exact = (f(bx) - f(ax)) * (f(py) - f(ay)) - (f(by) - f(ay)) * (f(px) - f(ax))
    return (exact > 0) - (exact < 0)


_SPLITTER = 2.0**27 + 1.0


def _split(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def _two_product(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``a * b`` as x + y exactly (Dekker)."""
    x = a * b
    ahi, alo = _split(a)
    bhi, blo = _split(b)
    y = alo * blo - (((x - ahi * bhi) - alo * bhi) - ahi * blo)
    return x, y


def _two_sum(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = a + b
    bv = x - a
    av = x - bv
    return x, (a - av) + (b - bv)


def _two_diff(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = a - b
    bv = a - x
    av = x + bv
    return x, (a - av) + (bv - b)


def _two_two_diff(
    a1: NDArray[np.float64],
    a0: NDArray[np.float64],
    b1: NDArray[np.float64],
    b0: NDArray[np.float64],
) -> tuple[NDArray[np.float64], ...]:
    """(a1 + a0) - (b1 + b0) as a nonoverlapping expansion x3 + x2 + x1 + x0, largest first."""
    i, x0 = _two_diff(a0, b0)
    j, zero = _two_sum(a1, i)
    i, x1 = _two_diff(zero, b1)
    x3, x2 = _two_sum(j, i)
    return x3, x2, x1, x0


def _expansion_sign(*components: NDArray[np.float64]) -> NDArray[np.int8]:
    """Sign of a nonoverlapping expansion: the sign of its largest nonzero component."""
    out = np.zeros(len(components[0]), dtype=np.int8)
    for comp in reversed(components):  # smallest first; larger components overwrite
        out = np.where(comp != 0, np.sign(comp), out).astype(np.int8)
    return out
