"""Pure figure builders: view-model values in, Plotly figures (as dicts) out.

The command center's map is up to five traces, named by :class:`Trace`: the cells (a
choropleth whose GeoJSON is a *URL*, so the polygons travel once and the browser caches them),
the case points, the workers on patrol, the town borders and, in the city view, the town names.
Live updates patch the cells' ``z`` and extend the case points; nothing here re-sends a polygon.

**Two ways to draw a map.** Without a tile server (the default) every map is SVG, Plotly's
``geo`` subplot in a Mercator projection with its own base layers hidden: no WebGL, so it draws
as fast on a PC without a graphics card (or a wall display's small box) as with one — MapLibre's
WebGL in software took 2 s for the city's 1,557 cells where SVG takes 0.4 s (issue #21). With
``GRIDMGR_TILE_URL`` the command center's map is MapLibre (``choroplethmap``/``scattermap``) over
the raster tiles. Builders write MapLibre traces and :func:`map_layout` picks the subplot;
:func:`drawn` renames the traces for SVG. ``dashboards/assets/offline_geo.js`` gives Plotly the
empty world it would otherwise fetch from its CDN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from math import cos, radians
from typing import Any

from dashboards.i18n import t

COLOURS = {
    # calm sequential scales; zero is a pale neutral so a quiet city looks quiet
    "open": [[0.0, "#f4f6f8"], [0.25, "#c6dbef"], [0.6, "#6baed6"], [1.0, "#08519c"]],
    "overdue": [[0.0, "#f4f6f8"], [0.25, "#fdd0a2"], [0.6, "#fd8d3c"], [1.0, "#a63603"]],
    "risk": [[0.0, "#f4f6f8"], [0.25, "#fcbba1"], [0.6, "#fb6a4a"], [1.0, "#a50f15"]],
}
POINT_COLOURS = {"open": "#3b6ea5", "overdue": "#d9480f", "escalated": "#a50f15"}
CARD_COLOURS = {"yellow": "#d69e2e", "orange": "#dd6b20", "red": "#c53030"}
"""A case on the 督办 ladder is coloured by its card (黄牌, 橙牌, 红牌)."""
BORDER = "#59636e"
PATROL_COLOUR = "#2f855a"


class Trace(IntEnum):
    """The traces of the command center's map, by their place in ``figure["data"]``.

    Live updates address a trace by this place (``Patch()["data"][Trace.CELLS]["z"]``) and a
    click names it (``curveNumber``), so the order is fixed here and nowhere else.
    """

    CELLS = 0
    """The cells, coloured by the chosen metric."""
    CASES = 1
    """Open cases worth a point: overdue ones and recent ones."""
    PATROLS = 2
    """The workers on patrol now."""
    BORDERS = 3
    """The town borders, over the cells."""
    LABELS = 4
    """The town names (city view only; over tiles they follow the first paint)."""


@dataclass(frozen=True)
class Outline:
    """The town borders drawn over a map: the towns' GeoJSON URL and their codes."""

    url: str
    codes: tuple[str, ...]


SVG_TRACES = {"choroplethmap": "choropleth", "scattermap": "scattergeo"}
"""A MapLibre trace type and the same trace drawn in SVG on a ``geo`` subplot."""


def map_figure(
    *,
    geojson_url: str,
    codes: Sequence[str],
    values: Sequence[int | None],
    owners: Mapping[str, str],
    metric: str,
    center: tuple[float, float],
    zoom: float,
    points: Sequence[Mapping[str, Any]],
    outline: Outline,
    lang: str,
    tile_url: str | None = None,
    labels: Sequence[tuple[str, float, float]] = (),
    label_codes: Sequence[str] = (),
    patrols: Sequence[Mapping[str, Any]] = (),
    height: int = 640,
    width: int = 900,
) -> dict[str, Any]:
    """The command center's map: cells coloured by ``metric``, case points, town borders.

    >>> fig = map_figure(geojson_url="/g.json", codes=["1", "2"], values=[0, 3],
    ...     owners={"1": "张三"}, metric="open",
    ...     center=(120.3, 31.8), zoom=9, points=[], outline=Outline("/t.json", ("1",)),
    ...     lang="zh")
    >>> cells = fig["data"][Trace.CELLS]
    >>> cells["type"], cells["geojson"], cells["z"], cells["text"]
    ('choropleth', '/g.json', [0, 3], ['张三', '—'])
    """
    zmax = max([v for v in values if v is not None] + [1])
    owner = t("owner", lang)
    cells = {
        "type": "choroplethmap",
        "geojson": geojson_url,
        "featureidkey": "properties.code",
        "locations": list(codes),
        "z": list(values),
        "zmin": 0,
        "zmax": zmax,
        "colorscale": COLOURS.get(metric, COLOURS["open"]),
        "marker": {"line": {"width": 0.5, "color": "#b8c2cc"}, "opacity": 0.85},
        # the name comes from the GeoJSON (sent once); only the owner travels, as hover text —
        # not customdata: dcc.Graph's click handler fails on a choroplethmap with customdata
        "text": [owners.get(c, "—") for c in codes],
        "hovertemplate": (
            "<b>%{properties.name}</b><br>%{location}<br>"
            + f"{owner}: %{{text}}<br>"
            + t(f"metric.{metric}", lang)
            + ": %{z}<extra></extra>"
        ),
        "colorbar": {"thickness": 10, "len": 0.5, "x": 0.99, "title": {"text": ""}},
        "name": "cells",
    }
    layout = map_layout(center=center, zoom=zoom, height=height, width=width, tile_url=tile_url)
    layout.update(uirevision="map", clickmode="event")
    traces = {
        Trace.CELLS: cells,
        Trace.CASES: points_trace(points, lang),
        Trace.PATROLS: patrols_trace(patrols, lang),
        Trace.BORDERS: borders_trace(outline),
    }
    if labels:
        traces[Trace.LABELS] = labels_trace(labels, label_codes)
    return drawn({"data": [traces[k] for k in sorted(traces)], "layout": layout})


def points_trace(points: Sequence[Mapping[str, Any]], lang: str) -> dict[str, Any]:
    """Case points: blue open, orange overdue, dark red escalated, a card's colour on the
    督办 ladder (no citizen text)."""
    return {
        "type": "scattermap",
        "mode": "markers",
        "lon": [p["lon"] for p in points],
        "lat": [p["lat"] for p in points],
        "customdata": [p["id"] for p in points],
        "marker": {"size": 6, "color": [point_colour(p) for p in points], "opacity": 0.85},
        "hovertemplate": t("case", lang) + " %{text}<extra></extra>",
        "text": [p.get("label", p["category"]) for p in points],
        "name": "cases",
    }


def patrols_trace(patrols: Sequence[Mapping[str, Any]], lang: str) -> dict[str, Any]:
    """Workers on patrol now (:attr:`Trace.PATROLS`): small green dots, the name on hover."""
    return {
        "type": "scattermap",
        "mode": "markers",
        "lon": [p["lon"] for p in patrols],
        "lat": [p["lat"] for p in patrols],
        "text": [p["name"] for p in patrols],
        "marker": {"size": 5, "color": PATROL_COLOUR, "opacity": 0.9},
        "hovertemplate": t("on_patrol", lang) + ": %{text}<extra></extra>",
        "name": "patrols",
    }


def point_colour(p: Mapping[str, Any]) -> str:
    """A case point's colour: its card on the 督办 ladder, else escalated, overdue or open.

    >>> point_colour({"card": "red", "overdue": True}), point_colour({"overdue": True})
    ('#c53030', '#d9480f')
    """
    card = p.get("card")
    if card in CARD_COLOURS:
        return CARD_COLOURS[card]
    if p.get("escalated"):
        return POINT_COLOURS["escalated"]
    if p.get("overdue"):
        return POINT_COLOURS["overdue"]
    return POINT_COLOURS["open"]


def labels_trace(
    labels: Sequence[tuple[str, float, float]], codes: Sequence[str] = ()
) -> dict[str, Any]:
    """Place names at fixed points (the towns at city zoom, :attr:`Trace.LABELS`); ``codes``
    make a click on a name drill into that place."""
    return {
        "type": "scattermap",
        "mode": "text",
        "customdata": list(codes),
        "text": [name for name, _, _ in labels],
        "lon": [lon for _, lon, _ in labels],
        "lat": [lat for _, _, lat in labels],
        "textfont": {"size": 13, "color": "#2b3440"},
        "hoverinfo": "skip",
        "name": "labels",
    }


def map_layout(
    *,
    center: tuple[float, float],
    zoom: float,
    height: int,
    width: int = 900,
    tile_url: str | None = None,
) -> dict[str, Any]:
    """The layout every map of the dashboard shares, showing what a MapLibre map of ``width`` ×
    ``height`` pixels shows at ``zoom`` around ``center``: SVG (a ``geo`` subplot) unless
    ``tile_url`` asks for a raster basemap (MapLibre); no margins, no legend.

    >>> layout = map_layout(center=(120.3, 31.8), zoom=10, height=400)
    >>> layout["geo"]["projection"], layout["geo"]["lonaxis"]["range"], layout["height"]
    ({'type': 'mercator'}, [119.97556, 120.62444], 400)
    >>> tiles = "https://t.example/{z}/{x}/{y}.png"
    >>> map_layout(center=(120.3, 31.8), zoom=10, height=400, tile_url=tiles)["map"]["zoom"]
    10
    """
    layout: dict[str, Any] = {
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "height": height,
        "showlegend": False,
    }
    if tile_url:
        layout["map"] = {
            "style": _style(tile_url),
            "center": {"lon": center[0], "lat": center[1]},
            "zoom": zoom,
        }
    else:
        layout["geo"] = _geo(center, zoom, width, height)
    return layout


def _geo(center: tuple[float, float], zoom: float, width: int, height: int) -> dict[str, Any]:
    """A ``geo`` subplot framing what MapLibre shows at ``zoom`` (a 512-px world) in
    ``width`` × ``height`` pixels: Mercator, Plotly's own land and sea hidden."""
    # 5 % more than MapLibre shows: callers fit bounds exactly (geo.zoom_for), and a shape
    # touching the frame would be cut by the mid-latitude approximation of Mercator's scale
    per_px = 1.05 * 360 / (512 * 2**zoom)
    half_lon = width / 2 * per_px
    half_lat = height / 2 * per_px * cos(radians(center[1]))
    return {
        "projection": {"type": "mercator"},
        "visible": False,
        "bgcolor": "rgba(0,0,0,0)",
        "lonaxis": {"range": [round(center[0] - half_lon, 5), round(center[0] + half_lon, 5)]},
        "lataxis": {"range": [round(center[1] - half_lat, 5), round(center[1] + half_lat, 5)]},
    }


def drawn(figure: dict[str, Any]) -> dict[str, Any]:
    """``figure`` with its MapLibre traces renamed to their SVG kind when its layout is SVG
    (see the module docstring); a MapLibre figure unchanged.

    >>> fig = {"data": [{"type": "scattermap"}], "layout": map_layout(center=(0, 0), zoom=1,
    ...     height=100)}
    >>> drawn(fig)["data"][0]["type"]
    'scattergeo'
    """
    if "geo" not in figure["layout"]:
        return figure
    return {**figure, "data": [svg_trace(trace) for trace in figure["data"]]}


def svg_trace(trace: dict[str, Any]) -> dict[str, Any]:
    """One MapLibre trace as the same trace on a ``geo`` subplot."""
    return {**trace, "type": SVG_TRACES.get(trace["type"], trace["type"])}


def borders_trace(outline: Outline) -> dict[str, Any]:
    """The town borders (:attr:`Trace.BORDERS`): lines only, no fill, not hoverable."""
    clear = "rgba(0,0,0,0)"
    return {
        "type": "choroplethmap",
        "geojson": outline.url,
        "featureidkey": "properties.code",
        "locations": list(outline.codes),
        "z": [0] * len(outline.codes),
        "colorscale": [[0, clear], [1, clear]],
        "showscale": False,
        "marker": {"line": {"width": 1.6, "color": BORDER}},
        "hoverinfo": "skip",
        "name": "borders",
    }


def _style(tile_url: str) -> dict[str, Any]:
    """MapLibre's style: the raster tiles of ``tile_url`` (without tiles a map is SVG)."""
    return {
        "version": 8,
        "sources": {"tiles": {"type": "raster", "tiles": [tile_url], "tileSize": 256}},
        "layers": [{"id": "tiles", "type": "raster", "source": "tiles"}],
    }


def case_map(
    *, lon: float | None, lat: float | None, cell: str | None, geojson_url: str, zoom: float = 14
) -> dict[str, Any]:
    """A small map of one case: its cell outlined and its point."""
    data: list[dict[str, Any]] = []
    if cell is not None:
        data.append(
            {
                "type": "choroplethmap",
                "geojson": geojson_url,
                "featureidkey": "properties.code",
                "locations": [cell],
                "z": [1],
                "colorscale": [[0, "#dbe7f3"], [1, "#dbe7f3"]],
                "showscale": False,
                "marker": {"line": {"width": 2, "color": "#3b6ea5"}},
                "hoverinfo": "skip",
            }
        )
    if lon is not None and lat is not None:
        data.append(
            {
                "type": "scattermap",
                "mode": "markers",
                "lon": [lon],
                "lat": [lat],
                "marker": {"size": 14, "color": POINT_COLOURS["overdue"]},
                "hoverinfo": "skip",
            }
        )
    center = (lon or 120.28, lat or 31.8)
    layout = map_layout(center=center, zoom=zoom, height=260, width=420)
    return drawn({"data": data, "layout": layout})
