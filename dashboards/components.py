"""Layout pieces more than one page uses: notices, links to cases, labels of states and
actions, deadline countdowns, and the map a place is picked on."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dash import dcc, html

from dashboards.context import PREFIX
from dashboards.figures import borders_trace, drawn, map_layout
from dashboards.geo import MapGeometry, zoom_for
from dashboards.i18n import t
from gridmgr.cases import CARDS, Action, CaseState

CASE_HREF = PREFIX + "case/"
CARDS_EN = {"yellow": "Yellow card", "orange": "Orange card", "red": "Red card"}


def notice(text: str) -> Any:
    """A page-wide notice in place of a page (not found, not yours to see)."""
    return html.P(text, className="notice")


def forbidden(lang: str) -> Any:
    """The notice for a page the caller's role may not open."""
    return notice(t("forbidden", lang))


def case_href(case_id: str) -> str:
    """The URL of a case's page."""
    return CASE_HREF + case_id


def case_link(text: str, case_id: str, **props: Any) -> Any:
    """A link to a case's page (``text`` is a text node, never HTML)."""
    return dcc.Link(text, href=case_href(case_id), **props)


def action_label(action: Action, lang: str) -> str:
    """An action as the user reads it: 立案 in Chinese, the action's name in English."""
    return action.label_zh if lang == "zh" else action.value


def state_label(state: CaseState, lang: str) -> str:
    """A case state as the user reads it."""
    return state.label_zh if lang == "zh" else state.value


def card_badge(card: str | None, lang: str) -> Any:
    """The 督办 card of a case as a coloured badge: 黄牌, 橙牌, 红牌 (none: an empty string)."""
    if card not in CARDS:
        return ""
    label = CARDS[card] if lang == "zh" else CARDS_EN[card]
    return html.Span(label, className=f"card card-{card}")


def deadline_text(due: datetime | None, now: datetime, lang: str) -> str:
    """'剩余 2 h 05 min' / 'late by 1 d 3 h' style countdown.

    >>> from datetime import timedelta
    >>> from gridmgr.responsibility.calendar import TZ
    >>> n = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)
    >>> deadline_text(n + timedelta(hours=2, minutes=5), n, "en")
    'Due in 2 h 05 min'
    >>> deadline_text(n - timedelta(days=1, hours=3), n, "zh")
    '超时 1 d 3 h'
    """
    if due is None:
        return "—"
    seconds = int((due - now).total_seconds())
    key = "due_in" if seconds >= 0 else "late_by"
    s = abs(seconds)
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    span = f"{days} d {hours} h" if days else f"{hours} h {minutes:02d} min"
    return f"{t(key, lang)} {span}"


def pick_map(
    geometry: MapGeometry, cells: Sequence[str], place: dict[str, float] | None
) -> dict[str, Any]:
    """``cells`` outlined over the town borders, centred on ``place`` (else on the cells, else
    on the territory), for a crosshair that marks the map's centre: the user pans until it sits
    on the spot (the borders show where, when no cell is outlined)."""
    tier = geometry.tier(3)
    if cells:
        bounds = [tier.bounds[c] for c in cells if c in tier.bounds]
        minx = min(b[0] for b in bounds)
        miny = min(b[1] for b in bounds)
        maxx = max(b[2] for b in bounds)
        maxy = max(b[3] for b in bounds)
    else:
        minx, miny, maxx, maxy = geometry.territory_bounds
    center = (
        {"lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2}
        if place is None
        else {"lon": place["lon"], "lat": place["lat"]}
    )
    outline = {
        "type": "choroplethmap",
        "geojson": geometry.url(3, PREFIX),
        "featureidkey": "properties.code",
        "locations": list(cells),
        "z": [1] * len(cells),
        "colorscale": [[0, "#dbe7f3"], [1, "#dbe7f3"]],
        "showscale": False,
        "marker": {"line": {"width": 1.5, "color": "#3b6ea5"}},
        "hoverinfo": "skip",
    }
    layout = map_layout(
        center=(center["lon"], center["lat"]),
        zoom=zoom_for((minx, miny, maxx, maxy), width_px=360, height_px=320),
        height=320,
        width=360,
    )
    layout["uirevision"] = "pick"
    return drawn({"data": [outline, borders_trace(geometry.outline(PREFIX))], "layout": layout})


def pick_widget(graph_id: str, figure: dict[str, Any]) -> Any:
    """The pick map under its crosshair."""
    return html.Div(
        [
            dcc.Graph(
                id=graph_id,
                figure=figure,
                config={"displayModeBar": False, "scrollZoom": True},
            ),
            html.Div("+", className="crosshair"),
        ],
        className="pickwrap",
    )


def map_center(relayout: Any) -> tuple[float, float] | None:
    """The map's centre after the user panned it (``None``: the event was not a pan): an SVG
    map names it ``geo.center.lon`` and ``geo.center.lat``, a MapLibre one ``map.center``.

    >>> map_center({"geo.center.lon": 120.1, "geo.center.lat": 31.9, "geo.projection.scale": 2})
    (120.1, 31.9)
    >>> map_center({"map.center": {"lon": 120.1, "lat": 31.9}}), map_center({"autosize": True})
    ((120.1, 31.9), None)
    """
    relayout = relayout if isinstance(relayout, dict) else {}
    center = relayout.get("map.center")
    if not isinstance(center, dict):
        center = {"lon": relayout.get("geo.center.lon"), "lat": relayout.get("geo.center.lat")}
    lon, lat = center.get("lon"), center.get("lat")
    if not isinstance(lon, int | float) or not isinstance(lat, int | float):
        return None
    return float(lon), float(lat)


def decode_upload(contents: str) -> bytes:
    """The bytes of a ``dcc.Upload`` data URL (``data:image/jpeg;base64,...``)."""
    _, _, encoded = contents.partition(",")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the photo did not arrive intact; choose it again") from exc
