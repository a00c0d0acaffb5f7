"""The analysis page's hot-spot map without a browser: the seven Gi* classes, only significant
cells drawn (over the territory in the not-significant colour), each with its hover."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise

import pandas as pd
import pytest

from dashboards.analysisview import (
    GI_COLOURS,
    RECURRING_TRACE,
    SPOTS_TRACE,
    TERRITORY_TRACE,
    gi_class,
    gi_label,
    hotspot_map,
)
from dashboards.figures import Outline
from dashboards.geo import MapGeometry
from dashboards.reads.period import PeriodAnalysis
from gridmgr.grid.model import Grid


@pytest.mark.parametrize(
    ("z", "level"),
    [
        (3.4, 3), (2.58, 3), (2.5799, 2), (1.96, 2), (1.9599, 1), (1.65, 1), (1.6499, 0),
        (0.0, 0), (-1.6499, 0), (-1.65, -1), (-1.96, -2), (-2.58, -3), (-9.0, -3),
        (float("nan"), 0), (None, 0),
    ],
)  # fmt: skip
def test_a_z_score_falls_in_its_class(z: float | None, level: int) -> None:
    assert gi_class(z) == level


def test_every_class_is_named_in_both_languages() -> None:
    assert [gi_label(level, "zh") for level in (3, 0, -2)] == ["热点 99%", "不显著", "冷点 95%"]
    assert [gi_label(level, "en") for level in (1, -3)] == ["hot spot 90%", "cold spot 99%"]


def found(zs: list[float]) -> PeriodAnalysis:
    """A month whose cells ``c0``, ``c1``… have the Gi* z-scores ``zs``."""
    n = len(zs)
    spots = pd.DataFrame({
        "cell": [f"c{i}" for i in range(n)],
        "name": [f"网格{i}" for i in range(n)],  # grid names: never citizen text
        "value": list(range(n)),
        "gi_z": zs,
        "hot": [z >= 3 for z in zs],
        "cold": [False] * n,
        "cluster": ["HH" if z >= 3 else "ns" for z in zs],
    })  # fmt: skip
    recurring = pd.DataFrame({"lon": [120.3], "lat": [31.8], "cases": [4], "category": ["占道"]})
    at = datetime(2026, 4, 30, tzinfo=UTC)
    return PeriodAnalysis("2026-04", at, 9, n, spots, recurring, pd.DataFrame(), pd.DataFrame())


def test_only_significant_cells_are_drawn_each_in_its_class_with_its_hover() -> None:
    zs = [3.1, 2.0, 1.7, 1.2, 0.0, float("nan"), -1.7, -2.6]
    figure = hotspot_map(
        found(zs),
        shapes=lambda codes: {"features": codes},
        outline=Outline("/geo/t1.json", ("a", "b")),
        bounds=(120.0, 31.6, 120.6, 32.0),
        lang="zh",
    )
    traces = {tr["name"]: tr for tr in figure["data"]}
    # under everything, the towns filled in the not-significant colour, not hoverable
    assert figure["data"][0]["name"] == TERRITORY_TRACE
    territory = traces[TERRITORY_TRACE]
    assert territory["locations"] == ["a", "b"]
    assert territory["colorscale"] == [[0, GI_COLOURS[0]], [1, GI_COLOURS[0]]]
    assert territory["hoverinfo"] == "skip"

    cells = traces[SPOTS_TRACE]
    assert cells["type"] == "choropleth"  # SVG
    assert cells["locations"] == ["c0", "c1", "c2", "c6", "c7"]  # not c3, c4, c5 (no z)
    assert cells["geojson"] == {"features": cells["locations"]}  # the shapes of those only
    assert cells["z"] == [3, 2, 1, -1, -3]
    assert cells["colorbar"]["tickvals"] == [-3, -2, -1, 0, 1, 2, 3]
    assert cells["colorbar"]["ticktext"][3] == "不显著"
    # each class's value sits in a flat band of its own colour
    scale = cells["colorscale"]
    for level, colour in GI_COLOURS.items():
        at = (level - cells["zmin"]) / (cells["zmax"] - cells["zmin"])
        band = [c for (lo, c), (hi, _) in pairwise(scale) if lo <= at <= hi]
        assert set(band) == {colour}, level
    # the hover: the cell's name, cases, FDR verdict, Moran cluster, class and z-score
    assert cells["hovertemplate"] == "%{text}<extra></extra>"
    assert cells["text"][0] == "网格0<br>0 FDR 显著 Moran HH<br>热点 99% · Gi* z 值 3.10"
    assert cells["text"][4] == "网格7<br>7<br>冷点 99% · Gi* z 值 -2.60"
    assert len(traces[RECURRING_TRACE]["lon"]) == 1
    assert figure["data"][-1]["name"] == "borders"  # the town borders over everything


def test_a_month_without_significant_cells_draws_the_territory_alone() -> None:
    figure = hotspot_map(
        found([0.1, -0.3, 1.0]),
        shapes=lambda codes: {"features": codes},
        outline=Outline("/geo/t1.json", ("a",)),
        bounds=(120.0, 31.6, 120.6, 32.0),
        lang="en",
    )
    cells = next(tr for tr in figure["data"] if tr["name"] == SPOTS_TRACE)
    assert cells["locations"] == []
    assert cells["text"] == []
    assert cells["colorbar"]["ticktext"][0] == "cold spot 99%"


def test_the_shapes_of_a_few_cells_are_those_of_the_whole_tier(tiny: Grid) -> None:
    geometry = MapGeometry(tiny)
    whole = json.loads(geometry.tier(3).geojson)["features"]
    codes = [whole[5]["id"], whole[2]["id"]]
    subset = geometry.subset(3, codes)
    assert subset["type"] == "FeatureCollection"
    assert subset["features"] == [whole[5], whole[2]]  # in the order asked, polygons as sent
    assert geometry.subset(3, []) == {"type": "FeatureCollection", "features": []}
