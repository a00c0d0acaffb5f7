"""Exact orientation predicates agree with rational arithmetic (tests/test_predicates.py)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.grid.predicates import orientation_sign


def _exact_sign(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> int:
    f = Fraction
    det = (f(bx) - f(ax)) * (f(py) - f(ay)) - (f(by) - f(ay)) * (f(px) - f(ax))
    return (det > 0) - (det < 0)


lon = st.floats(119.9, 120.7, allow_nan=False)
lat = st.floats(31.6, 32.1, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(ax=lon, ay=lat, bx=lon, by=lat, t=st.floats(0, 1), ulps=st.integers(-3, 3))
def test_orientation_sign_is_exact_for_nearly_collinear_points(
    ax: float, ay: float, bx: float, by: float, t: float, ulps: int
) -> None:
    # a point on the segment up to rounding, nudged by a few ulps: the float determinant is
    # useless here, and the answer must still equal exact rational arithmetic
    px = ax + (bx - ax) * t
    py = ay + (by - ay) * t
    for _ in range(abs(ulps)):
        py = float(np.nextafter(py, np.inf if ulps > 0 else -np.inf))
    got = orientation_sign(*(np.array([v]) for v in (ax, ay, bx, by, px, py)))
    assert int(got[0]) == _exact_sign(ax, ay, bx, by, px, py)


def test_orientation_sign_of_points_exactly_on_a_line_is_zero() -> None:
    a = np.array([120.0]), np.array([31.5])
    b = np.array([120.5]), np.array([32.0])
    p = np.array([120.25]), np.array([31.75])
    assert orientation_sign(*a, *b, *p)[0] == 0
