"""Double-random inspections (双随机一公开): plans, draws (commitment, seed once revealed),
the visits of a draw on the map by status, and the recorded results."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html, no_update

from dashboards.context import PREFIX, Dashboard, current_lang, dashboard, require_caller
from dashboards.figures import borders_trace, drawn, map_layout
from dashboards.geo import MapGeometry, zoom_for
from dashboards.i18n import t
from dashboards.reads.inspections import inspections
from gridmgr.access import Caller

STATUS_COLOURS = {"planned": "#8896a5", "partial": "#d69e2e", "done": "#2f855a"}
MAX_RESULTS = 200


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    page = inspections(board.services, caller)
    run = [d for d in page["draws"] if d.get("visits") is not None]
    chosen = run[0]["draw_id"] if run else None
    return html.Div(
        [
            html.H1(t("insp.title", lang)),
            html.H2(t("insp.plans", lang)),
            plans_table(page["plans"], lang),
            html.H2(t("insp.draws", lang)),
            draws_table(page["draws"], lang),
            html.Div(
                [
                    html.Label(t("insp.draw", lang)),
                    dcc.Dropdown(
                        id="insp-draw",
                        options=[{"label": d["draw_id"], "value": d["draw_id"]} for d in run],
                        value=chosen,
                        clearable=False,
                        className="field",
                    ),
                ]
            ),
            html.Div(draw_body(board.geometry, page, lang), id="insp-body"),
        ]
    )


def plans_table(plans: list[dict[str, Any]], lang: str) -> Any:
    if not plans:
        return html.P(t("none", lang))
    head = ["insp.plan_id", "insp.name", "insp.period", "insp.departments", "insp.joint"]
    return html.Table(
        [html.Tr([html.Th(t(k, lang)) for k in head])]
        + [
            html.Tr(
                [
                    html.Td(p["plan_id"]),
                    html.Td(p["name"]),
                    html.Td(f"{p['period']['start']} – {p['period']['end']}"),
                    html.Td(", ".join(p["departments"])),
                    html.Td("✓" if p.get("joint") else ""),
                ]
            )
            for p in plans
        ],
        className="walltable",
    )


def draws_table(draws: list[dict[str, Any]], lang: str) -> Any:
    if not draws:
        return html.P(t("none", lang))
    head = ["insp.draw", "insp.plan_id", "state", "insp.commitment", "insp.visits", "insp.saved"]
    return html.Table(
        [html.Tr([html.Th(t(k, lang)) for k in head])]
        + [
            html.Tr(
                [
                    html.Td(d["draw_id"]),
                    html.Td(d["plan_id"]),
                    html.Td(d["state"]),
                    html.Td(html.Code(str(d["commitment"])[:16] + "…"), title=d["commitment"]),
                    html.Td("—" if d.get("visits") is None else str(d["visits"])),
                    html.Td("—" if d.get("visits_saved") is None else str(d["visits_saved"])),
                ]
            )
            for d in draws
        ],
        className="walltable",
    )


def draw_body(geometry: MapGeometry, page: dict[str, list[dict[str, Any]]], lang: str) -> list[Any]:
    visits = [v for v in page["visits"] if v.get("lon") is not None and v.get("lat") is not None]
    counts = {s: sum(v["status"] == s for v in visits) for s in STATUS_COLOURS}
    summary = " · ".join(f"{t('insp.' + s, lang)} {n}" for s, n in counts.items())
    return [
        html.P(summary, className="summary"),
        dcc.Graph(figure=visits_map(geometry, visits, lang), config={"displayModeBar": False}),
        html.H2(t("insp.results", lang)),
        results_table(page["results"][-MAX_RESULTS:], lang),
    ]


def visits_map(geometry: MapGeometry, visits: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """The draw's visits by status over the town borders (trace per status, for the legend)."""
    bounds = geometry.territory_bounds
    traces = []
    for status, colour in STATUS_COLOURS.items():
        rows = [v for v in visits if v["status"] == status]
        traces.append(
            {
                "type": "scattermap",
                "mode": "markers",
                "name": t("insp." + status, lang),
                "lon": [v["lon"] for v in rows],
                "lat": [v["lat"] for v in rows],
                "text": [
                    f"{v['target_name']} · {', '.join(v['departments'])} · {v['items']}"
                    for v in rows
                ],
                "marker": {"size": 7, "color": colour},
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    layout = map_layout(
        center=((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2),
        zoom=zoom_for(bounds, width_px=900, height_px=480),
        height=520,
    )
    layout.update(showlegend=True, legend={"orientation": "h", "y": 1.02})
    borders = {**borders_trace(geometry.outline(PREFIX)), "showlegend": False}
    return drawn({"data": [*traces, borders], "layout": layout})


def results_table(results: list[dict[str, Any]], lang: str) -> Any:
    if not results:
        return html.P(t("none", lang))
    head = ["insp.visit", "insp.department", "insp.item", "insp.outcome", "insp.recorded"]
    return html.Table(
        [html.Tr([html.Th(t(k, lang)) for k in head])]
        + [
            html.Tr(
                [
                    html.Td(str(r["visit_no"])),
                    html.Td(r["department"]),
                    html.Td(r["item"]),
                    html.Td(r["outcome"]),
                    html.Td(str(r["recorded_at"])[:16].replace("T", " ")),
                ]
            )
            for r in results
        ],
        className="walltable",
    )


def register(app: Dash) -> None:
    app.callback(
        Output("insp-body", "children"),
        Input("insp-draw", "value"),
        prevent_initial_call=True,
    )(choose)


def choose(draw_id: Any) -> Any:
    """Another draw: its visits and results (city-wide roles only)."""
    caller = require_caller()
    board = dashboard()
    if not isinstance(draw_id, str):
        return no_update
    page = inspections(board.services, caller, draw_id=draw_id)
    return draw_body(board.geometry, page, current_lang())
