"""Coordinate datums of Chinese map apps (GCJ-02, BD-09) and their vectorized conversion to WGS84.

AMap (Gaode) and Tencent report positions in GCJ-02, Baidu in BD-09; both are deliberately
obfuscated WGS84, off by hundreds of metres (BD-09: over a km). gridmgr accepts them only
when the caller declares the datum, and converts them with :func:`to_wgs84` before locating them.

The forward formulas are the standard published ones, written here with numpy so that whole
arrays convert at once. The reference implementation and test oracle is PRCoords by Mingye Wang
(https://github.com/Artoria2e5/PRCoords, CC0 1.0), which collects them from earlier open sources.
The inverses are precise: a vectorized fixed-point iteration in the style of PRCoords' ``_bored``
(Caijun 2014) that stops once every residual is at most 1e-9 degrees, leaving errors below 1e-10.

GCJ-02 is only applied inside China's rough bounding box (PRCoords' ``sanity_in_china_p``), taken
as a box of *WGS84* coordinates; outside it GCJ-02 equals WGS84. The Baidu offset on top of GCJ-02
is applied everywhere, as PRCoords does. All functions take and return ``(lon, lat)`` in degrees,
accept scalars or arrays, and return new float64 arrays of the broadcast shape. Nothing here
checks ranges or finiteness: callers validate coordinates before converting them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from gridmgr.errors import DatumError

__all__ = [
    "Datum",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "parse_datum",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = npt.NDArray[np.float64]
LonLat = tuple[FloatArray, FloatArray]
_Transform = Callable[[FloatArray, FloatArray], LonLat]

# Krasovsky 1940 ellipsoid, which GCJ-02 uses (with WGS84 latitudes) to turn metres into degrees.
_GCJ_A: Final = 6378245.0
_GCJ_EE: Final = 0.00669342162296594323

# Baidu's fixed shift of BD-09 relative to GCJ-02, in degrees.
_BD_DLON: Final = 0.0065
_BD_DLAT: Final = 0.0060

# China's rough bounding box, inclusive, as in PRCoords' sanity_in_china_p.
_CHINA_LON_MIN: Final = 72.004
_CHINA_LON_MAX: Final = 137.8347
_CHINA_LAT_MIN: Final = 0.8293
_CHINA_LAT_MAX: Final = 55.8271

# The GCJ-02 offset never exceeds ~0.011 degrees; a point farther than this from the box cannot be
# the image of a point inside it, so the inverse iteration skips it (and the formula's blow-up at
# the poles).
_CHINA_MARGIN: Final = 0.1

# Stop iterating once every residual is this small (degrees); the update then applied leaves an
# error some 50 times smaller, because the offsets change slowly with position.
_TOLERANCE: Final = 1e-9

# A WGS84 solution on the box's edge may come out a few ulps outside it; accept that much.
_EDGE_SLACK: Final = 1e-9
_MAX_ITERATIONS: Final = 20


class Datum(enum.StrEnum):
    """A horizontal datum in which a caller may give longitude/latitude."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


# Keys are normalised: lower case, without spaces, hyphens or underscores.
_ALIASES: Final[dict[str, Datum]] = {
    "wgs84": Datum.WGS84,
    "epsg:4326": Datum.WGS84,
    "gcj02": Datum.GCJ02,
    "amap": Datum.GCJ02,
    "gaode": Datum.GCJ02,
    "tencent": Datum.GCJ02,
    "bd09": Datum.BD09,
    "bd09ll": Datum.BD09,
    "baidu": Datum.BD09,
}


def parse_datum(value: str | Datum) -> Datum:
    """Return the datum named by `value`, ignoring case, spaces, hyphens and underscores.

    Parameters
    ----------
    value
        A :class:`Datum` or one of its names or aliases: ``wgs84`` / ``EPSG:4326``;
        ``gcj02`` / ``amap`` / ``gaode`` / ``tencent``; ``bd09`` / ``bd09ll`` / ``baidu``.

    Returns
    -------
    Datum
        The datum.

    Raises
    ------
    DatumError
        If `value` names no known datum; the message lists the accepted names.

    Examples
    --------
    >>> parse_datum("WGS-84")
    <Datum.WGS84: 'wgs84'>
    >>> parse_datum("AMap") is Datum.GCJ02
    True
    >>> parse_datum("bd_09").value
    'bd09'
    """
    if isinstance(value, Datum):
        return value
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        datum = _ALIASES.get(key)
        if datum is not None:
            return datum
    accepted = ", ".join(sorted(_ALIASES))
    raise DatumError(f"unknown datum {value!r}; use one of: {accepted} (case-insensitive)")


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS84 longitude/latitude to GCJ-02 (AMap, Tencent).

    Points outside China's rough bounding box are returned unchanged.

    Parameters
    ----------
    lon, lat
        WGS84 degrees; scalars or arrays that broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as float64 arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(120.285, 31.92)
    >>> round(float(lon), 6), round(float(lat), 6)
    (120.289616, 31.918041)
    >>> wgs84_to_gcj02(2.35, 48.85)[0].item()
    2.35
    """
    lon_out, lat_out = _as_float_arrays(lon, lat)
    # Flat views, so that masks are arrays even for 0-d input; writes land in lon_out / lat_out.
    flat_lon, flat_lat = lon_out.reshape(-1), lat_out.reshape(-1)
    inside = _in_china_box(flat_lon, flat_lat)
    if inside.any():
        flat_lon[inside], flat_lat[inside] = _gcj02_offset_applied(
            flat_lon[inside], flat_lat[inside]
        )
    return lon_out, lat_out


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert GCJ-02 longitude/latitude to WGS84, precisely (error below 1e-10 degrees).

    A point is converted if its WGS84 solution lies inside China's rough bounding box, and
    returned unchanged otherwise, so ``gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))`` gives back
    every WGS84 point of the box, up to its edges.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays that broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lon, lat)`` as float64 arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(120.289616, 31.918041)
    >>> round(float(lon), 6), round(float(lat), 6)
    (120.285, 31.92)
    """
    lon_out, lat_out = _as_float_arrays(lon, lat)
    # Flat views, so that masks are arrays even for 0-d input; writes land in lon_out / lat_out.
    flat_lon, flat_lat = lon_out.reshape(-1), lat_out.reshape(-1)
    near = _in_china_box(flat_lon, flat_lat, slack=_CHINA_MARGIN)
    if near.any():
        gcj_lon, gcj_lat = flat_lon[near], flat_lat[near]
        # One-step inverse as the starting guess; the offset varies slowly, so it is within ~1e-5°.
        fwd_lon, fwd_lat = _gcj02_offset_applied(gcj_lon, gcj_lat)
        start = (2.0 * gcj_lon - fwd_lon, 2.0 * gcj_lat - fwd_lat)
        wgs_lon, wgs_lat = _invert(_gcj02_offset_applied, gcj_lon, gcj_lat, start)
        solved = _in_china_box(wgs_lon, wgs_lat, slack=_EDGE_SLACK)
        converted = near.copy()
        converted[near] = solved
        flat_lon[converted] = wgs_lon[solved]
        flat_lat[converted] = wgs_lat[solved]
    return lon_out, lat_out


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert GCJ-02 longitude/latitude to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays that broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)`` as float64 arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(120.289616, 31.918041)
    >>> round(float(lon), 5), round(float(lat), 5)
    (120.2962, 31.92373)
    """
    bd_lon, bd_lat = _bd09_shift_applied(*_as_float_arrays(lon, lat))
    # ufuncs turn 0-d arrays into numpy scalars; promise arrays whatever came in.
    return np.asarray(bd_lon, dtype=np.float64), np.asarray(bd_lat, dtype=np.float64)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert BD-09 longitude/latitude to GCJ-02, precisely (error below 1e-10 degrees).

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays that broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as float64 arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(*gcj02_to_bd09(120.289616, 31.918041))
    >>> round(float(lon), 9), round(float(lat), 9)
    (120.289616, 31.918041)
    """
    bd_lon, bd_lat = _as_float_arrays(lon, lat)
    # Baidu's published one-step inverse (accurate to ~1e-7°) is the starting guess.
    x = bd_lon - _BD_DLON
    y = bd_lat - _BD_DLAT
    r = np.hypot(x, y) - 0.00002 * np.sin(np.radians(y) * 3000)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(np.radians(x) * 3000)
    start = (r * np.cos(theta), r * np.sin(theta))
    return _invert(_bd09_shift_applied, bd_lon, bd_lat, start)


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert BD-09 longitude/latitude to WGS84, precisely (error below 1e-10 degrees).

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays that broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lon, lat)`` as float64 arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(120.285, 31.92))
    >>> round(float(lon), 9), round(float(lat), 9)
    (120.285, 31.92)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS84 longitude/latitude to BD-09 (Baidu), through GCJ-02.

    Parameters
    ----------
    lon, lat
        WGS84 degrees; scalars or arrays that broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)`` as float64 arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(120.285, 31.92)
    >>> round(float(lon), 5), round(float(lat), 5)
    (120.2962, 31.92373)
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, datum: str | Datum = Datum.WGS84) -> LonLat:
    """Convert longitude/latitude given in `datum` to WGS84; the one entry point gridmgr uses.

    Parameters
    ----------
    lon, lat
        Degrees in `datum`; scalars or arrays that broadcast together. Not range-checked.
    datum
        A :class:`Datum` or any name :func:`parse_datum` accepts.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lon, lat)`` as new float64 arrays of the broadcast shape; WGS84 input comes
        back with bit-identical values.

    Raises
    ------
    DatumError
        If `datum` names no known datum.

    Examples
    --------
    >>> lon, lat = to_wgs84([120.289616], [31.918041], "gcj-02")
    >>> lon.round(6).tolist(), lat.round(6).tolist()
    ([120.285], [31.92])
    >>> to_wgs84(120.285, 31.92)[0].item()
    120.285
    """
    parsed = parse_datum(datum)
    if parsed is Datum.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if parsed is Datum.BD09:
        return bd09_to_wgs84(lon, lat)
    return _as_float_arrays(lon, lat)


def _as_float_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Return new C-contiguous float64 copies of `lon` and `lat` broadcast to one shape."""
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon), np.asarray(lat))
    lon_out = np.array(lon_b, dtype=np.float64, order="C")
    lat_out = np.array(lat_b, dtype=np.float64, order="C")
    return lon_out, lat_out


def _in_china_box(lon: FloatArray, lat: FloatArray, *, slack: float = 0.0) -> npt.NDArray[np.bool_]:
    """Return where ``(lon, lat)`` lies in China's rough bounding box grown by `slack` degrees."""
    return (
        (lon >= _CHINA_LON_MIN - slack)
        & (lon <= _CHINA_LON_MAX + slack)
        & (lat >= _CHINA_LAT_MIN - slack)
        & (lat <= _CHINA_LAT_MAX + slack)
    )


def _gcj02_offset_applied(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Return GCJ-02 for WGS84 ``(lon, lat)`` without the bounding-box check."""
    # Operations follow PRCoords' order, so results agree with it to the last few bits.
    x = lon - 105.0
    y = lat - 35.0
    dlat_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (
            2.0 * np.sin(x * 6.0 * np.pi)
            + 2.0 * np.sin(x * 2.0 * np.pi)
            + 2.0 * np.sin(y * np.pi)
            + 4.0 * np.sin(y / 3.0 * np.pi)
            + 16.0 * np.sin(y / 12.0 * np.pi)
            + 32.0 * np.sin(y / 30.0 * np.pi)
        )
        * 20.0
        / 3.0
    )
    dlon_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (
            2.0 * np.sin(x * 6.0 * np.pi)
            + 2.0 * np.sin(x * 2.0 * np.pi)
            + 2.0 * np.sin(x * np.pi)
            + 4.0 * np.sin(x / 3.0 * np.pi)
            + 15.0 * np.sin(x / 12.0 * np.pi)
            + 30.0 * np.sin(x / 30.0 * np.pi)
        )
        * 20.0
        / 3.0
    )
    rad_lat = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    # Metres per degree of latitude and longitude on the Krasovsky ellipsoid.
    lat_deg_arclen = np.radians((_GCJ_A * (1.0 - _GCJ_EE)) / magic**1.5)
    lon_deg_arclen = np.radians(_GCJ_A * np.cos(rad_lat) / np.sqrt(magic))
    return lon + dlon_m / lon_deg_arclen, lat + dlat_m / lat_deg_arclen


def _bd09_shift_applied(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Return BD-09 for GCJ-02 ``(lon, lat)``."""
    r = np.hypot(lon, lat) + 0.00002 * np.sin(np.radians(lat) * 3000)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(np.radians(lon) * 3000)
    return r * np.cos(theta) + _BD_DLON, r * np.sin(theta) + _BD_DLAT


def _invert(forward: _Transform, lon: FloatArray, lat: FloatArray, start: LonLat) -> LonLat:
    """Return ``(u, v)`` with ``forward(u, v) == (lon, lat)``, iterating from `start`.

    Fixed-point iteration ``p <- p - (forward(p) - target)`` converges because each forward
    transform is the identity plus an offset that changes by at most ~2% of any step in position.
    Points whose residual is within tolerance are frozen; NaN residuals count as done.
    """
    shape = np.shape(lon)
    # Work on flat copies, so that masks are arrays even for 0-d input.
    target_lon, target_lat = lon.reshape(-1), lat.reshape(-1)
    out_lon = np.array(start[0], dtype=np.float64).reshape(-1)
    out_lat = np.array(start[1], dtype=np.float64).reshape(-1)
    active = np.ones(out_lon.shape, dtype=np.bool_)
    for _ in range(_MAX_ITERATIONS):
        fwd_lon, fwd_lat = forward(out_lon[active], out_lat[active])
        d_lon = fwd_lon - target_lon[active]
        d_lat = fwd_lat - target_lat[active]
        out_lon[active] -= d_lon
        out_lat[active] -= d_lat
        still = np.maximum(np.abs(d_lon), np.abs(d_lat)) > _TOLERANCE
        active[active] = still
        if not active.any():
            break
    return out_lon.reshape(shape), out_lat.reshape(shape)
