"""Tests for gridmgr.grid.datum: GCJ-02 / BD-09 conversions checked against the PRCoords oracle."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import prcoords
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.errors import CoordinateError, DatumError
from gridmgr.grid.datum import (
    Datum,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_datum,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

FloatArray = npt.NDArray[np.float64]
Conversion = Callable[..., tuple[FloatArray, FloatArray]]

# prcoords' sanity_in_china_p box: GCJ-02 applies inside it, in WGS84 coordinates.
CHINA_LON = (72.004, 137.8347)
CHINA_LAT = (0.8293, 55.8271)

ALL_CONVERSIONS: list[Conversion] = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    bd09_to_wgs84,
    wgs84_to_bd09,
    to_wgs84,
]


def _points(
    lon_range: tuple[float, float], lat_range: tuple[float, float], n: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    """Return `n` seeded uniform (lon, lat) points in the given ranges."""
    rng = np.random.default_rng(seed)
    return rng.uniform(*lon_range, n), rng.uniform(*lat_range, n)


# Jiangyin, the project's home; and mainland China away from the box's edges, where prcoords'
# own rough inverse (its starting guess) never falls outside the box and warns.
JIANGYIN = _points((119.9, 120.7), (31.6, 32.1), 200, seed=20240601)
CHINA = _points((73.5, 135.0), (18.0, 53.5), 300, seed=20240602)
REGIONS = pytest.mark.parametrize("region", [JIANGYIN, CHINA], ids=["jiangyin", "china"])


def _oracle(
    fn: Callable[..., tuple[float, float]], lon: FloatArray, lat: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Apply a scalar prcoords function, which speaks (lat, lon), to arrays of (lon, lat)."""
    pairs = [fn((la, lo)) for lo, la in zip(lon.tolist(), lat.tolist(), strict=True)]
    return np.array([p[1] for p in pairs]), np.array([p[0] for p in pairs])


def _max_error(
    got: tuple[FloatArray, FloatArray], want: tuple[npt.ArrayLike, npt.ArrayLike]
) -> float:
    """Return the largest absolute difference in degrees over both coordinates."""
    d_lon = np.abs(got[0] - np.asarray(want[0], dtype=np.float64))
    d_lat = np.abs(got[1] - np.asarray(want[1], dtype=np.float64))
    return float(max(np.max(d_lon), np.max(d_lat)))


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the haversine distance in metres between two nearby points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


# --- forward formulas against the oracle ----------------------------------------------------


@REGIONS
def test_wgs84_to_gcj02_matches_prcoords(region: tuple[FloatArray, FloatArray]) -> None:
    assert _max_error(wgs84_to_gcj02(*region), _oracle(prcoords.wgs_gcj, *region)) <= 1e-12


@REGIONS
def test_gcj02_to_bd09_matches_prcoords(region: tuple[FloatArray, FloatArray]) -> None:
    assert _max_error(gcj02_to_bd09(*region), _oracle(prcoords.gcj_bd, *region)) <= 1e-12


@REGIONS
def test_wgs84_to_bd09_matches_prcoords(region: tuple[FloatArray, FloatArray]) -> None:
    assert _max_error(wgs84_to_bd09(*region), _oracle(prcoords.wgs_bd, *region)) <= 1e-12


# --- precise inverses: against the oracle, and our own round trips --------------------------


@REGIONS
def test_gcj02_to_wgs84_matches_prcoords_precise_inverse(
    region: tuple[FloatArray, FloatArray],
) -> None:
    gcj = wgs84_to_gcj02(*region)
    assert _max_error(gcj02_to_wgs84(*gcj), _oracle(prcoords.gcj_wgs_bored, *gcj)) <= 1e-6


@REGIONS
def test_bd09_to_gcj02_matches_prcoords_precise_inverse(
    region: tuple[FloatArray, FloatArray],
) -> None:
    bd = gcj02_to_bd09(*region)
    assert _max_error(bd09_to_gcj02(*bd), _oracle(prcoords.bd_gcj_bored, *bd)) <= 1e-6


@REGIONS
def test_bd09_to_wgs84_matches_prcoords_precise_inverse(
    region: tuple[FloatArray, FloatArray],
) -> None:
    bd = wgs84_to_bd09(*region)
    assert _max_error(bd09_to_wgs84(*bd), _oracle(prcoords.bd_wgs_bored, *bd)) <= 1e-6


@REGIONS
def test_gcj02_round_trip_is_within_1e_8_degrees(region: tuple[FloatArray, FloatArray]) -> None:
    assert _max_error(gcj02_to_wgs84(*wgs84_to_gcj02(*region)), region) <= 1e-8


@REGIONS
def test_bd09_round_trip_is_within_1e_8_degrees(region: tuple[FloatArray, FloatArray]) -> None:
    assert _max_error(bd09_to_wgs84(*wgs84_to_bd09(*region)), region) <= 1e-8
    gcj = wgs84_to_gcj02(*region)
    assert _max_error(bd09_to_gcj02(*gcj02_to_bd09(*gcj)), gcj) <= 1e-8


def test_round_trip_holds_on_the_china_box_edges_and_corners() -> None:
    # Edges are where a solution a few ulps outside the box could wrongly be left unconverted.
    along_lon = np.linspace(*CHINA_LON, 50)
    along_lat = np.linspace(*CHINA_LAT, 50)
    lon = np.concatenate(
        [np.full(50, CHINA_LON[0]), np.full(50, CHINA_LON[1]), along_lon, along_lon]
    )
    lat = np.concatenate(
        [along_lat, along_lat, np.full(50, CHINA_LAT[0]), np.full(50, CHINA_LAT[1])]
    )
    assert _max_error(gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), (lon, lat)) <= 1e-8
    assert _max_error(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat)) <= 1e-8


def test_round_trip_holds_at_the_105th_meridian_where_the_offset_has_a_kink() -> None:
    # GCJ-02's sqrt(|lon - 105|) term has an unbounded slope there, slowing the iteration.
    lon = 105.0 + np.array([0.0, 1e-15, -1e-12, 1e-9, -1e-6, 1e-3])
    lat = np.full(lon.shape, 31.9)
    assert _max_error(gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), (lon, lat)) <= 1e-8


in_china_lon = st.floats(min_value=CHINA_LON[0], max_value=CHINA_LON[1])
in_china_lat = st.floats(min_value=CHINA_LAT[0], max_value=CHINA_LAT[1])


@settings(deadline=None)
@given(lon=in_china_lon, lat=in_china_lat)
def test_any_point_in_china_survives_the_gcj02_round_trip(lon: float, lat: float) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert _max_error(back, (lon, lat)) <= 1e-8


@settings(deadline=None)
@given(lon=in_china_lon, lat=in_china_lat)
def test_any_point_in_china_survives_the_bd09_round_trip(lon: float, lat: float) -> None:
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert _max_error(back, (lon, lat)) <= 1e-8


# --- known values and the China box ---------------------------------------------------------


def _offsets_in_metres(
    from_points: tuple[FloatArray, FloatArray], to_points: tuple[FloatArray, FloatArray]
) -> list[float]:
    """Return the distance in metres from each point of `from_points` to its counterpart."""
    pairs = zip(*from_points, *to_points, strict=True)
    return [_metres(lon1, lat1, lon2, lat2) for lon1, lat1, lon2, lat2 in pairs]


def test_gcj02_offset_near_jiangyin_is_hundreds_of_metres() -> None:
    offsets = _offsets_in_metres(JIANGYIN, wgs84_to_gcj02(*JIANGYIN))
    assert 100.0 < min(offsets) <= max(offsets) < 1000.0


def test_bd09_adds_hundreds_more_metres_near_jiangyin_for_over_a_kilometre_in_all() -> None:
    # Measured: GCJ-02 ~460-510 m from WGS84; BD-09 ~880-930 m from GCJ-02, ~1.1-1.2 km in all.
    gcj = wgs84_to_gcj02(*JIANGYIN)
    shift = _offsets_in_metres(gcj, gcj02_to_bd09(*gcj))
    total = _offsets_in_metres(JIANGYIN, wgs84_to_bd09(*JIANGYIN))
    assert 100.0 < min(shift) <= max(shift) < 1000.0
    assert 1000.0 < min(total) <= max(total) < 1500.0


def test_gcj02_of_a_jiangyin_point_is_the_published_value() -> None:
    # Value from prcoords.wgs_gcj((31.92, 120.285)); about 510 m east-south-east.
    lon, lat = wgs84_to_gcj02(120.285, 31.92)
    assert lon == pytest.approx(120.28961559078412, abs=1e-12)
    assert lat == pytest.approx(31.918040504391353, abs=1e-12)


OUTSIDE_CHINA = [(139.69, 35.69), (-0.1276, 51.5072), (0.0, 0.0), (151.21, -33.87), (72.0, 30.0)]


@pytest.mark.parametrize(("lon", "lat"), OUTSIDE_CHINA)
@pytest.mark.parametrize("conversion", [wgs84_to_gcj02, gcj02_to_wgs84])
def test_gcj02_leaves_points_outside_china_unchanged(
    conversion: Conversion, lon: float, lat: float
) -> None:
    out_lon, out_lat = conversion(lon, lat)
    assert (out_lon.item(), out_lat.item()) == (lon, lat)


def test_gcj02_to_wgs84_converts_a_point_pushed_just_outside_the_box_by_the_offset() -> None:
    # The box is in WGS84; the eastward GCJ-02 offset carries its eastern edge past 137.8347.
    gcj_lon, gcj_lat = wgs84_to_gcj02(137.83, 40.0)
    assert gcj_lon.item() > CHINA_LON[1]
    lon, lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert _max_error((lon, lat), (137.83, 40.0)) <= 1e-8


def test_gcj02_converts_the_china_part_of_a_mixed_array_only() -> None:
    lon = np.array([139.69, 120.285, 2.35])
    lat = np.array([35.69, 31.92, 48.85])
    out_lon, out_lat = wgs84_to_gcj02(lon, lat)
    assert out_lon[[0, 2]].tolist() == [139.69, 2.35]
    assert out_lat[[0, 2]].tolist() == [35.69, 48.85]
    assert out_lon[1] != lon[1]


def test_bd09_shift_applies_outside_china_as_in_prcoords() -> None:
    lon, lat = wgs84_to_bd09(2.35, 48.85)
    want_lat, want_lon = prcoords.gcj_bd((48.85, 2.35))
    assert (lon.item(), lat.item()) == pytest.approx((want_lon, want_lat), abs=1e-12)


# --- datum names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "datum"),
    [
        ("wgs84", Datum.WGS84),
        ("WGS-84", Datum.WGS84),
        ("WGS 84", Datum.WGS84),
        ("EPSG:4326", Datum.WGS84),
        ("gcj02", Datum.GCJ02),
        ("GCJ-02", Datum.GCJ02),
        ("AMap", Datum.GCJ02),
        ("gaode", Datum.GCJ02),
        ("tencent", Datum.GCJ02),
        ("bd09", Datum.BD09),
        ("BD-09", Datum.BD09),
        ("bd09ll", Datum.BD09),
        ("Baidu", Datum.BD09),
        (" bd_09 ", Datum.BD09),
    ],
)
def test_parse_datum_accepts_names_and_aliases_in_any_case(name: str, datum: Datum) -> None:
    assert parse_datum(name) is datum


@pytest.mark.parametrize("datum", list(Datum))
def test_parse_datum_returns_a_datum_unchanged(datum: Datum) -> None:
    assert parse_datum(datum) is datum
    assert parse_datum(datum.value) is datum


@pytest.mark.parametrize("bad", ["nad83", "gcj-03", "", "EPSG:3857"])
def test_unknown_datum_raises_datum_error_naming_the_value(bad: str) -> None:
    with pytest.raises(DatumError, match="use one of") as info:
        parse_datum(bad)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, CoordinateError)
    assert repr(bad) in str(info.value)


def test_to_wgs84_rejects_an_unknown_datum_before_converting() -> None:
    with pytest.raises(DatumError, match="'mars'"):
        to_wgs84([120.0], [32.0], "mars")


# --- the to_wgs84 entry point ---------------------------------------------------------------


def test_to_wgs84_returns_wgs84_input_as_bit_identical_float64_copies() -> None:
    lon, lat = JIANGYIN
    out_lon, out_lat = to_wgs84(lon, lat)
    assert out_lon.dtype == np.float64
    assert np.array_equal(out_lon, lon)
    assert np.array_equal(out_lat, lat)
    assert not np.shares_memory(out_lon, lon)
    assert not np.shares_memory(out_lat, lat)


def test_to_wgs84_turns_integer_wgs84_input_into_float64() -> None:
    out_lon, out_lat = to_wgs84(np.array([120, 121]), 32, Datum.WGS84)
    assert out_lon.dtype == np.float64
    assert out_lat.dtype == np.float64
    assert out_lat.tolist() == [32.0, 32.0]


@pytest.mark.parametrize(
    ("datum", "conversion"),
    [("gcj-02", gcj02_to_wgs84), (Datum.GCJ02, gcj02_to_wgs84), ("baidu", bd09_to_wgs84)],
)
def test_to_wgs84_converts_with_the_declared_datum(
    datum: str | Datum, conversion: Conversion
) -> None:
    got = to_wgs84(*JIANGYIN, datum)
    want = conversion(*JIANGYIN)
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1])


# --- shapes, scalars and inputs -------------------------------------------------------------


@pytest.mark.parametrize("conversion", ALL_CONVERSIONS)
def test_scalars_give_zero_dimensional_float64_arrays(conversion: Conversion) -> None:
    lon, lat = conversion(120.285, 31.92)
    assert isinstance(lon, np.ndarray)
    assert lon.shape == lat.shape == ()
    assert lon.dtype == lat.dtype == np.float64


@pytest.mark.parametrize("conversion", ALL_CONVERSIONS)
def test_array_shape_is_preserved(conversion: Conversion) -> None:
    lon = JIANGYIN[0][:12].reshape(3, 4)
    lat = JIANGYIN[1][:12].reshape(3, 4)
    out_lon, out_lat = conversion(lon, lat)
    assert out_lon.shape == out_lat.shape == (3, 4)


@pytest.mark.parametrize("conversion", ALL_CONVERSIONS)
def test_scalar_and_array_broadcast_together(conversion: Conversion) -> None:
    lat = np.array([31.7, 31.8, 31.9])
    out_lon, out_lat = conversion(120.3, lat)
    assert out_lon.shape == out_lat.shape == (3,)
    for i in range(3):
        one = conversion(120.3, lat[i])
        assert (out_lon[i], out_lat[i]) == (one[0].item(), one[1].item())


@pytest.mark.parametrize("conversion", ALL_CONVERSIONS)
def test_conversions_leave_their_input_arrays_untouched(conversion: Conversion) -> None:
    lon, lat = JIANGYIN[0].copy(), JIANGYIN[1].copy()
    conversion(lon, lat)
    assert np.array_equal(lon, JIANGYIN[0])
    assert np.array_equal(lat, JIANGYIN[1])


def test_nan_passes_through_inverse_without_disturbing_its_neighbours() -> None:
    lon, lat = gcj02_to_wgs84([120.289616, np.nan], [31.918041, 31.9])
    assert np.isnan(lon[1])
    assert lon[0] == pytest.approx(120.285, abs=1e-6)
    assert lat[0] == pytest.approx(31.92, abs=1e-6)
