"""Coverage review (managers, operators): per-cell and per-owner performance, fairly ranked;
vacancies; patrol coverage of the city per town, or of a town per community — all computed by
:mod:`gridmgr.analytics`.

Performance is ranked by the empirical-Bayes on-time rate among units with at least the chosen
minimum of finished cases (units below it are listed, unranked); each rate carries its 95 %
Wilson interval. Map and table show the same figures; the CSV export has every row.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import pandas as pd
from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from dashboards.components import forbidden
from dashboards.context import PREFIX, Dashboard, current_lang, dashboard, require_caller
from dashboards.figures import Outline, borders_trace, drawn, map_layout
from dashboards.geo import MapGeometry, zoom_for
from dashboards.i18n import t
from dashboards.permissions import require_city_wide
from dashboards.reads import coverage as reads
from gridmgr.access import Caller
from gridmgr.analytics import MIN_CASES
from gridmgr.errors import ForbiddenError
from gridmgr.tablefiles import neutralise_frame

PERIODS = (7, 30, 90)
"""Days of cases the review covers (a picker)."""
DEFAULT_DAYS = 30
BY = ("cell", "tier2", "tier1", "assignee")
"""Units to rank: cells, communities, towns, owners."""
MAP_TIER = {"cell": 3, "tier2": 2, "tier1": 1, "assignee": 3}
TABLE_ROWS = 200
"""Rows shown in the table view (the CSV export has all)."""
PATROL_DAYS = 7
SCALE = [[0.0, "#a50f15"], [0.5, "#fdd49e"], [1.0, "#2c7fb8"]]
"""On-time colours: dark red (low) through sand to blue (high); calm, colour-blind safe."""
CELL = {"padding": "0.3rem 0.6rem", "borderBottom": "1px solid #dde3ea", "whiteSpace": "nowrap"}
HEAD = {**CELL, "textAlign": "left", "fontWeight": 600, "background": "#eef2f6"}
TABLE = {"borderCollapse": "collapse", "background": "#ffffff", "fontSize": "0.92rem"}
CONTROLS = {"display": "flex", "flexWrap": "wrap", "gap": "0.8rem 1.6rem", "alignItems": "end"}
CONTROL = {"display": "flex", "flexDirection": "column", "minWidth": "9rem"}
"""Inline styles: the shared stylesheet belongs to the dashboard's owner."""
CSV_COLUMNS = [
    "rank", "unit", "label", "cases", "finished", "on_time", "rate", "wilson_lo", "wilson_hi",
    "eb_rate", "ranked", "escalated", "returns", "reopen_rate", "sign_h", "handle_h", "close_h",
]  # fmt: skip


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    """The page, with the 30-day ranking of cells as a table and the city's patrol coverage."""
    require_city_wide(caller)
    services = board.services
    vacancies = reads.review_vacancies(services, caller, services.now())
    towns = reads.towns(services)
    town_options = [{"label": name, "value": code} for code, name in towns]
    # the first answer of both callbacks comes with the page (not a second round trip); the
    # map's graph is made in the map view only: a graph, even hidden, loads and runs plotly.js
    table, graph, graph_style, summary = ranking(
        board, caller, lang, DEFAULT_DAYS, "cell", None, MIN_CASES, "table"
    )
    return html.Div(
        [
            html.H1(t("coverage.title", lang)),
            html.Div(controls(town_options, lang), className="covcontrols", style=CONTROLS),
            html.P(summary, id="cov-summary", className="covsummary"),
            html.Div(graph, id="cov-map-box", style=graph_style),
            html.Div(table, id="cov-table", style={"overflowX": "auto"}),
            html.H2(f"{t('coverage.vacancies', lang)} · {len(vacancies)}", id="vacancies"),
            html.Ul(
                [html.Li(str(m)) for m in vacancies["message"]] or [html.Li(t("none", lang))],
                className="vacancies",
            ),
            html.H2(t("coverage.patrols", lang)),
            _labelled(
                t("coverage.town", lang),
                dcc.Dropdown(
                    id="cov-patrol-town",
                    options=town_options,
                    value=None,
                    placeholder=t("city", lang),
                ),
            ),
            dcc.Loading(html.Div(patrol_section(board, caller, lang, None), id="cov-patrols")),
        ],
        className="coverage",
    )


def controls(town_options: list[dict[str, str]], lang: str) -> list[Any]:
    """The ranking's controls: period, unit, town, minimum sample, view, and the export."""
    periods = [{"label": f"{d} {t('coverage.days', lang)}", "value": d} for d in PERIODS]
    views = [
        {"label": t("coverage.map", lang), "value": "map"},
        {"label": t("coverage.table", lang), "value": "table"},
    ]
    return [
        _labelled(
            t("coverage.period", lang),
            dcc.Dropdown(id="cov-days", options=periods, value=DEFAULT_DAYS, clearable=False),
        ),
        _labelled(
            t("coverage.by", lang),
            dcc.RadioItems(
                id="cov-by",
                options=[{"label": t(f"coverage.{b}", lang), "value": b} for b in BY],
                value="cell",
                inline=True,
            ),
        ),
        _labelled(
            t("coverage.town", lang),
            dcc.Dropdown(
                id="cov-town", options=town_options, value=None, placeholder=t("city", lang)
            ),
        ),
        _labelled(
            t("coverage.min_n", lang),
            dcc.Input(id="cov-min", type="number", min=1, max=1000, step=1, value=MIN_CASES),
        ),
        _labelled(
            t("coverage.view", lang),
            dcc.RadioItems(id="cov-view", options=views, value="table", inline=True),
        ),
        html.Button(t("coverage.export", lang), id="cov-export", n_clicks=0),
        dcc.Download(id="cov-download"),
    ]


def _labelled(label: str, control: Any) -> Any:
    width = {"minWidth": "13rem", "maxWidth": "20rem"} if isinstance(control, dcc.Dropdown) else {}
    return html.Label(
        [html.Span(label, className="covlabel"), control],
        className="covcontrol",
        style={**CONTROL, **width},
    )


# -- pure view functions ----------------------------------------------------------------------


def clean_min(value: Any) -> int:
    """The minimum sample size from the input box (a number 1..1000; default otherwise).

    >>> clean_min("5"), clean_min(None), clean_min(0), clean_min(10**6)
    (5, 10, 1, 1000)
    """
    try:
        n = int(float(value))
    except (TypeError, ValueError):
        return MIN_CASES
    return max(1, min(1000, n))


def percent(x: Any) -> str:
    """A share as a percentage, or — when unknown.

    >>> percent(0.8333), percent(float("nan")), percent(None)
    ('83.3%', '—', '—')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{100 * float(x):.1f}%"


def hours(x: Any) -> str:
    """Hours with one decimal, or —.

    >>> hours(2.345), hours(float("nan"))
    ('2.3', '—')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{float(x):.1f}"


def performance_table(table: pd.DataFrame, lang: str, *, limit: int = TABLE_ROWS) -> Any:
    """The ranking as one table (ranked units first, then the rest by cases, rank "—").

    It is one Markdown component, not an ``html.Table`` of rows and cells: Dash's renderer
    takes seconds, growing faster than the row count, to mount the 2,600 components of 200
    rows (9 s on the 30-day database), a Markdown table a few hundred milliseconds. Every text
    is escaped (:func:`markdown_cell`), and Markdown's HTML stays off: no text can become markup.
    """
    heads = [
        "coverage.rank", "coverage.unit", "coverage.cases", "coverage.finished",
        "coverage.on_time_raw", "coverage.wilson", "coverage.eb", "coverage.sign_h",
        "coverage.handle_h", "coverage.close_h", "coverage.returns", "coverage.reopen",
    ]  # fmt: skip
    lines = [_markdown_row([t(k, lang) for k in heads]), "|" + "---|" * len(heads)]
    for r in _records(table.head(limit)):
        wilson = (
            "—"
            if _missing(r["wilson_lo"])
            else f"{percent(r['wilson_lo'])} – {percent(r['wilson_hi'])}"
        )
        rank = "—" if _missing(r["rank"]) else str(int(r["rank"]))
        cells = [
            rank, str(r["label"]), str(r["cases"]), str(r["finished"]), percent(r["rate"]),
            wilson, percent(r["eb_rate"]), hours(r["sign_h"]), hours(r["handle_h"]),
            hours(r["close_h"]), str(r["returns"]), percent(r["reopen_rate"]),
        ]  # fmt: skip
        lines.append(_markdown_row(cells))
    more = (
        [html.P(t("coverage.more", lang).format(shown=limit, total=len(table)))]
        if len(table) > limit
        else []
    )
    return [dcc.Markdown("\n".join(lines), id="cov-ranking", className="covtable"), *more]


def markdown_cell(text: str) -> str:
    r"""``text`` as the literal content of a Markdown table cell: every ASCII punctuation mark
    backslash-escaped (CommonMark renders each as itself), line breaks as spaces.

    >>> markdown_cell("a|b *c* <i>"), markdown_cell("83.3%")
    ('a\\|b \\*c\\* \\<i\\>', '83\\.3\\%')
    """
    flat = " ".join(text.split())
    return _PUNCTUATION.sub(r"\\\g<0>", flat)


_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
"""ASCII punctuation (CommonMark: any of it may be backslash-escaped)."""


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(markdown_cell(c) for c in cells) + " |"


def performance_map(
    table: pd.DataFrame,
    *,
    geojson_url: str,
    outline: Outline,
    bounds: tuple[float, float, float, float],
    lang: str,
) -> dict[str, Any]:
    """Ranked units coloured by their empirical-Bayes on-time rate (unranked ones left blank).

    The polygons are a URL (sent once, cached); no ``customdata`` on the choroplethmap trace.

    >>> table = pd.DataFrame({"unit": ["1", "2"], "label": ["甲", "乙"], "ranked": [True, False],
    ...     "eb_rate": [0.8, 0.5], "rank": [1.0, float("nan")], "finished": [12, 2]})
    >>> fig = performance_map(table, geojson_url="/g.json", outline=Outline("/t.json", ("1",)),
    ...     bounds=(120.0, 31.6, 120.6, 32.0), lang="en")
    >>> fig["data"][0]["locations"], fig["data"][0]["z"], "customdata" in fig["data"][0]
    (['1'], [80.0], False)
    """
    ranked = table[table["ranked"]]
    center = {"lon": (bounds[0] + bounds[2]) / 2, "lat": (bounds[1] + bounds[3]) / 2}
    label = t("coverage.eb", lang)
    cells = {
        "type": "choroplethmap",
        "geojson": geojson_url,
        "featureidkey": "properties.code",
        "locations": [str(u) for u in ranked["unit"]],
        "z": [round(100 * float(v), 1) for v in ranked["eb_rate"]],
        "zmin": 0,
        "zmax": 100,
        "colorscale": SCALE,
        "marker": {"line": {"width": 0.5, "color": "#b8c2cc"}, "opacity": 0.85},
        "text": [
            f"{lab}<br>#{int(rk)} · n={n}"
            for lab, rk, n in zip(ranked["label"], ranked["rank"], ranked["finished"], strict=True)
        ],
        "hovertemplate": "%{text}<br>" + label + ": %{z:.1f}%<extra></extra>",
        "colorbar": {"thickness": 10, "len": 0.5, "x": 0.99, "ticksuffix": "%"},
        "name": "ranking",
    }
    layout = map_layout(
        center=(center["lon"], center["lat"]),
        zoom=zoom_for(bounds, width_px=900, height_px=560),
        height=560,
    )
    layout["uirevision"] = "coverage"
    return drawn({"data": [cells, borders_trace(outline)], "layout": layout})


def patrol_view(
    coverage: pd.DataFrame,
    communities: pd.DataFrame,
    lang: str,
    *,
    unit: str = "coverage.community",
) -> list[Any]:
    """Patrol coverage per town or community (least covered first), and the blind cells;
    ``unit`` names the rows' kind (an i18n key)."""
    blind = int(communities["blind"].sum()) if len(communities) else 0
    total = float(coverage["covered_m2"].sum()) / max(float(coverage["area_m2"].sum()), 1.0)
    rows = [
        html.Tr(
            [
                _td(str(r["name"])),
                _td(percent(r["coverage"])),
                _td(f"{r['blind']}/{r['cells']}"),
                _td(
                    "—"
                    if _missing(r["last_seen"])
                    else pd.Timestamp(r["last_seen"]).strftime("%m-%d %H:%M")
                ),
            ]
        )
        for r in _records(communities)
    ]
    heads = (unit, "coverage.patrolled", "coverage.blind", "coverage.last_seen")
    return [
        html.P(
            f"{t('coverage.patrolled', lang)}: {percent(total)} · "
            f"{t('coverage.blind', lang)}: {blind}/{len(coverage)} "
            f"({PATROL_DAYS} {t('coverage.days', lang)})",
            id="cov-patrol-summary",
        ),
        html.Table(
            [html.Tr([html.Th(t(k, lang), style=HEAD) for k in heads]), *rows],
            className="covtable",
            style=TABLE,
        ),
    ]


def _td(text: str) -> Any:
    return html.Td(text, style=CELL)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def _missing(x: Any) -> bool:
    return x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x))


# -- callbacks --------------------------------------------------------------------------------


def _choice(value: Any, allowed: tuple[Any, ...], default: Any) -> Any:
    return value if value in allowed else default


def _bounds(geometry: MapGeometry, town: str | None) -> tuple[float, float, float, float]:
    if town is None:
        return geometry.territory_bounds
    b = geometry.tier(1).bounds[town]
    return (b[0], b[1], b[2], b[3])


def register(app: Dash) -> None:
    app.callback(
        Output("cov-table", "children"),
        Output("cov-map-box", "children"),
        Output("cov-map-box", "style"),
        Output("cov-summary", "children"),
        Input("cov-days", "value"),
        Input("cov-by", "value"),
        Input("cov-town", "value"),
        Input("cov-min", "value"),
        Input("cov-view", "value"),
        prevent_initial_call=True,  # the layout carries the first answer
    )(update)
    app.callback(
        Output("cov-download", "data"),
        Input("cov-export", "n_clicks"),
        State("cov-days", "value"),
        State("cov-by", "value"),
        State("cov-town", "value"),
        State("cov-min", "value"),
        prevent_initial_call=True,
    )(export)
    app.callback(
        Output("cov-patrols", "children"),
        Input("cov-patrol-town", "value"),
        prevent_initial_call=True,
    )(patrols)


def _checked() -> Caller:
    """The caller of a review callback, who must see the whole city."""
    caller = require_caller()
    require_city_wide(caller)
    return caller


def table_for(
    board: Dashboard, caller: Caller, now: datetime, days: Any, by: Any, town: Any, min_cases: Any
) -> tuple[pd.DataFrame, str, str | None]:
    """The ranking for the controls' values (each checked; a bad one falls back)."""
    by = _choice(by, BY, "cell")
    town = town if town in {c for c, _ in reads.towns(board.services)} else None
    table = reads.review_performance(
        board.services,
        board.reviews,
        caller,
        now,
        by=by,
        days=_choice(days, PERIODS, DEFAULT_DAYS),
        min_cases=clean_min(min_cases),
        town=town,
    )
    return table, by, town


def update(days: Any, by: Any, town: Any, min_cases: Any, view: Any) -> Any:
    """The ranking as a table or a map (a graph made here: none in the table view), and its
    summary line."""
    lang = current_lang()
    try:
        caller = _checked()
    except ForbiddenError:
        return forbidden(lang), [], {"display": "none"}, ""
    return ranking(dashboard(), caller, lang, days, by, town, min_cases, view)


def ranking(
    board: Dashboard,
    caller: Caller,
    lang: str,
    days: Any,
    by: Any,
    town: Any,
    min_cases: Any,
    view: Any,
) -> tuple[Any, Any, dict[str, str], str]:
    """The ranking's outputs (table, map box children and style, summary) for the controls."""
    now = board.services.now()
    table, by, town = table_for(board, caller, now, days, by, town, min_cases)
    prior = table.attrs.get("prior")
    summary = t("coverage.summary", lang).format(
        units=len(table),
        ranked=int(table["ranked"].sum()),
        min=clean_min(min_cases),
        mean=percent(None if prior is None else prior.mean),
        strength=0 if prior is None else round(prior.strength),
    )
    if view != "map":
        return performance_table(table, lang), [], {"display": "none"}, summary
    if by == "assignee":  # owners have no polygon: the map shows their cells
        table, _, _ = table_for(board, caller, now, days, "cell", town, min_cases)
        summary += " " + t("coverage.map_cells", lang)
    figure = performance_map(
        table,
        geojson_url=board.geometry.url(MAP_TIER[by], PREFIX),
        outline=board.geometry.outline(PREFIX),
        bounds=_bounds(board.geometry, town),
        lang=lang,
    )
    graph = dcc.Graph(
        id="cov-map", figure=figure, config={"displaylogo": False, "scrollZoom": True}
    )
    return [], graph, {"display": "block"}, summary


def export(n_clicks: Any, days: Any, by: Any, town: Any, min_cases: Any) -> Any:
    """The whole ranking as a CSV file Excel opens."""
    try:
        caller = _checked()
    except ForbiddenError:
        raise PreventUpdate from None
    if not n_clicks:
        raise PreventUpdate
    board = dashboard()
    now = board.services.now()
    table, by, town = table_for(board, caller, now, days, by, town, min_cases)
    name = f"coverage-{by}-{town or 'city'}-{now:%Y%m%d-%H%M}.csv"
    columns = [c for c in CSV_COLUMNS if c in table.columns]
    if "name" in table.columns:
        columns.insert(2, "name")
    # a BOM so that Excel reads the Chinese names as UTF-8
    text = "\ufeff" + neutralise_frame(table[columns]).to_csv(index=False)
    return {"content": text, "filename": name, "type": "text/csv", "base64": False}


def patrols(town: Any) -> Any:
    """The city's patrol coverage per town, or a town's per community."""
    lang = current_lang()
    try:
        caller = _checked()
    except ForbiddenError:
        return forbidden(lang)
    return patrol_section(dashboard(), caller, lang, town)


def patrol_section(board: Dashboard, caller: Caller, lang: str, town: Any) -> list[Any]:
    """The patrol coverage of the city per town, or of ``town`` per community."""
    chosen = town if town in {c for c, _ in reads.towns(board.services)} else None
    coverage, parts = reads.review_patrols(
        board.services, board.reviews, caller, board.services.now(), town=chosen, days=PATROL_DAYS
    )
    return patrol_view(
        coverage, parts, lang, unit="coverage.community" if chosen else "coverage.town"
    )
