"""The analysis page's pieces, built by pure functions the tests call without a browser: the
scorecard table, the appeals list, the hot-spot map, the recurring problems and the stage
times. Every name and reason is a text node (never HTML)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from dash import html

from dashboards.figures import Outline, borders_trace, drawn, map_layout
from dashboards.geo import zoom_for
from dashboards.i18n import t
from dashboards.reads import analysis as reads
from dashboards.reads.period import PeriodAnalysis
from gridmgr.responsibility.calendar import TZ

SPOTS_TRACE, RECURRING_TRACE = "hotspots", "recurring"
"""The map's traces, by name."""
TABLE_ROWS = 20
CELL = {"padding": "0.25rem 0.6rem", "borderBottom": "1px solid #dde3ea"}
HEAD = {**CELL, "textAlign": "left", "fontWeight": 600, "background": "#eef2f6"}
TABLE = {"borderCollapse": "collapse", "background": "#ffffff", "fontSize": "0.9rem",
         "margin": "0.4rem 0 1rem"}  # fmt: skip
"""Inline styles: the shared stylesheet belongs to the dashboard's owner."""


def _number(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt.format(value)


def _table(head: Sequence[str], rows: list[list[str]], class_name: str) -> Any:
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h, style=HEAD) for h in head])),
            html.Tbody([html.Tr([html.Td(c, style=CELL) for c in r]) for r in rows]),
        ],
        className=class_name,
        style=TABLE,
    )


# -- the scorecard ------------------------------------------------------------------------------


def scorecard_view(month: reads.MonthView | None, name: str, lang: str) -> list[Any]:
    """The status line (frozen with its version, or computed) and the table of one month."""
    if month is None:
        return [html.P(t("analysis.open", lang).format(month=name), className="calm")]
    if month.frozen:
        status = t("analysis.frozen", lang).format(
            month=month.month, version=month.version, digest=(month.digest or "")[:16]
        )
        if month.supersedes is not None:
            status += t("analysis.supersedes", lang).format(old=month.supersedes)
    else:
        at = "" if month.at is None else f"{month.at.astimezone(TZ):%Y-%m-%d %H:%M}"
        status = t("analysis.computed", lang).format(month=month.month, at=at)
    names = {str(r.get("unit")): str(r.get("name") or r.get("unit")) for r in month.rows}
    labels = {i.key: i.label_zh if lang == "zh" else i.key for i in reads.INDICATORS}
    notes = [
        html.Li(
            t("analysis.waived", lang).format(
                appeal=c.get("appeal_id"),
                unit=names.get(str(c.get("unit")), str(c.get("unit"))),
                indicator=labels.get(str(c.get("indicator")), str(c.get("indicator"))),
            )
        )
        for c in month.corrections
        if c.get("level") == month.level and str(c.get("unit")) in names
    ]
    out: list[Any] = [html.P(status, className="calm small", id="an-status")]
    if notes:
        out.append(html.Ul(notes, className="calm small"))
    if not month.rows:
        return [*out, html.P(t("none", lang), className="calm")]
    return [*out, scorecard_table(month.rows, lang)]


def scorecard_table(rows: list[dict[str, Any]], lang: str) -> Any:
    """Rank, unit, cases, the composite score, then each indicator as numerator/denominator."""
    head = [t("analysis.rank", lang), t("analysis.unit", lang), t("analysis.cases", lang)]
    head.append(t("analysis.score", lang))
    head += [ind.label_zh if lang == "zh" else ind.key for ind in reads.INDICATORS]
    body = []
    for row in rows:
        rank = row.get("rank")
        cells = [
            html.Td("—" if rank is None else str(int(rank)), style=CELL),
            html.Td(str(row.get("name") or row.get("unit") or ""), style=CELL),  # text nodes
            html.Td(str(row.get("cases", 0)), style=CELL),
            html.Td(_number(row.get("score"), "{:.1f}"), style=CELL),
        ]
        for ind in reads.INDICATORS:
            num, den = row.get(f"{ind.key}_num"), row.get(f"{ind.key}_den")
            rate = row.get(f"{ind.key}_rate")
            if ind.key == "coverage" and num is not None and den is not None:
                text = f"{num / 1e6:.1f}/{den / 1e6:.1f} km²"  # areas in m²
            else:
                text = f"{_number(num, '{:g}')}/{_number(den, '{:g}')}"
            if rate is not None:
                text += f" ({rate:.0%})"
            cells.append(html.Td(text, style=CELL))
        body.append(html.Tr(cells, className="ranked" if rank is not None else "unranked"))
    return html.Table(
        [html.Thead(html.Tr([html.Th(h, style=HEAD) for h in head])), html.Tbody(body)],
        className="scoretable",
        style=TABLE,
    )


# -- appeals ------------------------------------------------------------------------------------


def appeal_state(row: reads.AppealRow, lang: str) -> str:
    """Waiting (or overdue), upheld with the version it published, or rejected — and why."""
    decision = row.appeal.decision
    if decision is None:
        return t("analysis.overdue" if row.overdue else "analysis.open_appeal", lang)
    if decision.upheld:
        state = t("analysis.upheld", lang).format(version=decision.new_version)
    else:
        state = t("analysis.rejected", lang)
    return f"{state}: {decision.reason}"


def appeals_table(rows: list[reads.AppealRow], lang: str) -> Any:
    """The month's appeals: id, unit, indicator, appellant, reason, decider, due, state."""
    if not rows:
        return html.P(t("analysis.no_appeals", lang), className="calm")
    labels = {i.key: i.label_zh if lang == "zh" else i.key for i in reads.INDICATORS}
    body = []
    for r in rows:
        a = r.appeal
        body.append(
            [
                a.appeal_id,
                r.unit_name,
                labels.get(a.indicator, a.indicator),
                r.by_name,
                a.reason,
                r.decider_name,
                f"{a.due_at.astimezone(TZ):%Y-%m-%d %H:%M}",
                appeal_state(r, lang),
            ]
        )
    return _table(t("analysis.appeal_head", lang).split("|"), body, "scoretable appeals")


# -- hot spots, recurring problems, stage times ---------------------------------------------------


GI_BINS = (1.65, 1.96, 2.58)
"""Gi* z-scores bounding the classes of a hot-spot map (as ArcGIS's Hot Spot Analysis): a cell
is a hot spot at 90, 95 or 99 % confidence from z ≥ 1.65, 1.96, 2.58, a cold spot likewise
below 0, else not significant. Per cell, not corrected for testing every cell at once: the
summary line's hot and cold spots are the FDR-controlled ones."""
GI_COLOURS = {-3: "#2166ac", -2: "#67a9cf", -1: "#d1e5f0", 0: "#f7f7f7",
              1: "#fddbc7", 2: "#ef8a62", 3: "#b2182b"}  # fmt: skip
"""A class's colour: blue (cold) through pale grey (not significant) to red (hot)."""
TERRITORY_TRACE = "territory"
"""The towns filled in the not-significant colour, under the drawn cells."""


def gi_class(z: float | None) -> int:
    """A Gi* z-score's class: 3, 2, 1 hot at 99, 95, 90 % confidence, -1, -2, -3 cold, 0 not
    significant (also a cell without neighbours: no z).

    >>> [gi_class(z) for z in (2.58, 2.57, 1.96, 1.65, 1.64, None, -1.7, -3.0)]
    [3, 2, 2, 1, 0, 0, -1, -3]
    """
    if z is None or math.isnan(z):
        return 0
    level = sum(abs(z) >= b for b in GI_BINS)
    return level if z > 0 else -level


def gi_label(level: int, lang: str) -> str:
    """A class's name for the legend and the hover: 热点 99% / hot spot 99 %, 不显著…"""
    if level == 0:
        return t("analysis.gi_ns", lang)
    side = t("analysis.gi_hot" if level > 0 else "analysis.gi_cold", lang)
    return f"{side} {(90, 95, 99)[abs(level) - 1]}%"


def _discrete_scale() -> list[list[float | str]]:
    """One flat band of colour per class over z in [-3.5, 3.5] (the classes are -3..3)."""
    scale: list[list[float | str]] = []
    for i, level in enumerate(range(-3, 4)):
        scale += [[i / 7, GI_COLOURS[level]], [(i + 1) / 7, GI_COLOURS[level]]]
    return scale


def hotspot_map(
    found: PeriodAnalysis,
    *,
    shapes: Callable[[list[str]], dict[str, Any] | str],
    outline: Outline,
    bounds: tuple[float, float, float, float],
    lang: str,
) -> dict[str, Any]:
    """The hot-spot map: the territory in the not-significant colour, over it only the cells
    of a significant class (:func:`gi_class`) in that class's colour, each named in the hover
    with its cases, z-score and Moran cluster; the recurring problems as circles sized by
    cases; the town borders. A legend of the seven classes.

    ``shapes`` gives the GeoJSON of the cells drawn (or its URL): only those, so the browser
    neither parses nor draws the others — a hundred-odd SVG paths, not 1,557 (issue #21). The
    hover text is built here, not by Plotly.
    """
    spots = found.spots
    rows = [
        (str(c), str(n), int(v), float(z), bool(h), bool(cold), str(cl), gi_class(float(z)))
        for c, n, v, z, h, cold, cl in zip(spots["cell"], spots["name"], spots["value"],
            spots["gi_z"], spots["hot"], spots["cold"], spots["cluster"], strict=True)
    ]  # fmt: skip
    shown = [r for r in rows if r[-1] != 0]
    cells = {
        "type": "choroplethmap",
        "name": SPOTS_TRACE,
        "geojson": shapes([r[0] for r in shown]),
        "featureidkey": "properties.code",
        "locations": [r[0] for r in shown],
        "z": [r[-1] for r in shown],
        "zmin": -3.5,
        "zmax": 3.5,
        "colorscale": _discrete_scale(),
        "marker": {"line": {"width": 0.4, "color": "#b8c2cc"}, "opacity": 0.9},
        "text": [_hover(*r[1:], lang=lang) for r in shown],
        "hovertemplate": "%{text}<extra></extra>",
        "colorbar": {
            "thickness": 10,
            "len": 0.6,
            "x": 0.99,
            "title": {"text": t("analysis.gi_legend", lang), "side": "top"},
            "tickvals": list(range(-3, 4)),
            "ticktext": [gi_label(level, lang) for level in range(-3, 4)],
        },
    }
    territory = {
        **borders_trace(outline),
        "name": TERRITORY_TRACE,
        "colorscale": [[0, GI_COLOURS[0]], [1, GI_COLOURS[0]]],
        "marker": {"line": {"width": 0}},
    }
    layout = map_layout(
        center=((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2),
        zoom=zoom_for(bounds, width_px=900, height_px=520),
        height=520,
    )
    layout["uirevision"] = "analysis"
    data = [territory, cells, _recurring_trace(found), borders_trace(outline)]
    return drawn({"data": data, "layout": layout})


def _hover(
    name: str, cases: int, z: float, hot: bool, cold: bool, cluster: str, level: int, *, lang: str
) -> str:
    """A drawn cell's hover: its name (a grid name, never citizen text), cases, whether the
    FDR-controlled test calls it hot or cold, its Moran cluster, its class and z-score."""
    state = t("analysis.gi_fdr", lang) if hot or cold else ""
    moran = "" if cluster == "ns" else f"Moran {cluster}"
    line = " ".join(p for p in (f"{cases}", state, moran) if p)
    return f"{name}<br>{line}<br>{gi_label(level, lang)} · {t('analysis.gi', lang)} {z:.2f}"


def _recurring_trace(found: PeriodAnalysis) -> dict[str, Any]:
    """The recurring problems as circles sized by their cases (their category on hover)."""
    rec = found.recurring
    return {
        "type": "scattermap",
        "name": RECURRING_TRACE,
        "lon": [float(x) for x in rec["lon"]],
        "lat": [float(y) for y in rec["lat"]],
        "mode": "markers",
        "marker": {
            "size": [6 + 2 * int(n) for n in rec["cases"]],
            "color": "#d9480f",
            "opacity": 0.7,
        },
        "text": [f"{c} ×{int(n)}" for c, n in zip(rec["category"], rec["cases"], strict=True)],
        "hovertemplate": "%{text}<extra></extra>",
    }


def period_summary(found: PeriodAnalysis, lang: str) -> str:
    """One line: cases, cells, hot and cold spots, Moran clusters."""
    spots = found.spots
    return t("analysis.period", lang).format(
        month=found.month,
        cases=found.cases,
        cells=found.cells,
        hot=int(spots["hot"].sum()),
        cold=int(spots["cold"].sum()),
        perm=found.permutations,
        clusters=int((spots["cluster"] != "ns").sum()),
    )


def recurring_table(found: PeriodAnalysis, category_names: dict[str, str], lang: str) -> Any:
    """The recurring problems, most cases first (the first :data:`TABLE_ROWS`)."""
    rec = found.recurring.head(TABLE_ROWS)
    if rec.empty:
        return html.P(t("none", lang), className="calm")
    rows = [
        [
            category_names.get(str(r["category"]), str(r["category"])),
            str(r["name"]),
            str(int(r["cases"])),
            f"{pd.Timestamp(r['first']).tz_convert(TZ):%m-%d %H:%M}",
            f"{pd.Timestamp(r['last']).tz_convert(TZ):%m-%d %H:%M}",
        ]
        for _, r in rec.iterrows()
    ]
    return _table(t("analysis.recurring_head", lang).split("|"), rows, "scoretable recurring")


def times_table(
    summary: pd.DataFrame, label: str, names: dict[str, str], lang: str, *, title: str
) -> Any:
    """Median hours to sign, handle and close per ``label`` (a town or a category), the first
    column headed ``title``."""
    if summary.empty:
        return html.P(t("none", lang), className="calm")
    head = [title, *t("analysis.times_head", lang).split("|")]
    rows = [
        [
            names.get(str(r[label]), str(r[label])),
            str(int(r["cases"])),
            *(_number(r[f"{s}_median"], "{:.1f}") for s in ("sign_h", "handle_h", "close_h")),
        ]
        for _, r in summary.head(TABLE_ROWS).iterrows()
    ]
    return _table(head, rows, "scoretable times")


__all__ = [
    "GI_BINS",
    "RECURRING_TRACE",
    "SPOTS_TRACE",
    "TERRITORY_TRACE",
    "appeal_state",
    "appeals_table",
    "gi_class",
    "gi_label",
    "hotspot_map",
    "period_summary",
    "recurring_table",
    "scorecard_table",
    "scorecard_view",
    "times_table",
]
