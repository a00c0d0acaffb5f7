"""The analysis page (考核分析) for a chosen month: the composite scorecard of towns,
communities and grid workers (each indicator with its numerator and denominator, the score, the
rank; frozen once the month is closed, computed on request before) with its appeals (申诉) —
filed by town leaders and grid heads, decided by managers — and the month's hot spots on the
map, recurring problems and stage times, computed by the notebooks' functions.

Managers and operators see the city; a town leader or a grid head sees his area; grid workers
are refused. Every callback checks the caller again on the server."""

from __future__ import annotations

import uuid
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboards import analysisview as view
from dashboards.components import forbidden
from dashboards.context import PREFIX, Dashboard, current_lang, dashboard, require_caller
from dashboards.i18n import t
from dashboards.reads import analysis as reads
from dashboards.reads.names import categories as category_choices
from dashboards.reads.period import period_analysis
from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError, GridMgrError
from gridmgr.responsibility.calendar import TZ

HIDDEN = {"display": "none"}
FORM = {"display": "flex", "flexWrap": "wrap", "gap": "0.6rem 1rem", "alignItems": "end",
        "margin": "0.6rem 0"}  # fmt: skip


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    """The page (a :class:`ForbiddenError` for grid workers, shown as a notice)."""
    reads.require_reader(caller)
    services = board.services
    choices = reads.months(services.now())
    first = reads.month_view(services, caller, choices[1], "town", compute=False)
    appeals, units, pending = appeals_parts(caller, choices[1], "town", lang)
    return html.Div(
        [
            html.H1(t("analysis.title", lang)),
            html.Div(controls(choices, lang), className="controls"),
            dcc.Loading(html.Div(view.scorecard_view(first, choices[1], lang), id="an-body")),
            html.H2(t("analysis.appeals", lang)),
            # with the page, not by a callback after it (one round trip less)
            html.Div(appeals, id="an-appeals"),
            file_form(caller, lang, units),
            decide_form(caller, lang, pending),
            dcc.Store(id="an-filed", data=0),
            dcc.Store(id="an-decided", data=0),
            dcc.Store(id="an-client", data=uuid.uuid4().hex),
            html.H2(t("analysis.hotspots", lang)),
            # drawn with the page, not by a callback after it: one round trip less
            dcc.Loading(html.Div(period_view(board, caller, choices[1], lang), id="an-period")),
        ],
        className="analysispage",
    )


def controls(choices: list[str], lang: str) -> list[Any]:
    """The month, the level, and the button that computes an open month."""
    levels = [{"label": t(f"analysis.{lv}", lang), "value": lv} for lv in reads.LEVELS[::-1]]
    return [
        dcc.Dropdown(
            id="an-month",
            options=[{"label": m, "value": m} for m in choices],
            value=choices[1],
            clearable=False,
        ),
        dcc.RadioItems(id="an-level", options=levels, value="town", inline=True),
        html.Button(t("analysis.compute", lang), id="an-compute", n_clicks=0, className="action"),
    ]


def file_form(caller: Caller, lang: str, units: list[dict[str, str]]) -> Any:
    """Unit, indicator, reason and a button: shown to town leaders and grid heads only."""
    indicators = [
        {"label": i.label_zh if lang == "zh" else i.key, "value": i.key} for i in reads.INDICATORS
    ]
    return html.Div(
        [
            html.Strong(t("analysis.file", lang)),
            dcc.Dropdown(
                id="an-unit",
                options=units,
                placeholder=t("analysis.unit", lang),
                style={"minWidth": "14rem"},
            ),
            dcc.Dropdown(
                id="an-indicator",
                options=indicators,
                placeholder=t("analysis.indicator", lang),
                style={"minWidth": "10rem"},
            ),
            dcc.Textarea(
                id="an-reason",
                placeholder=t("analysis.reason", lang),
                maxLength=2000,
                style={"width": "22rem", "height": "3rem"},
            ),
            html.Button(t("analysis.file", lang), id="an-file", n_clicks=0, className="action"),
            html.Span(t("analysis.file_hint", lang), className="calm small"),
            html.Div(id="an-file-result", role="status"),
        ],
        id="an-file-form",
        style=FORM if reads.may_file(caller) else HIDDEN,
    )


def decide_form(caller: Caller, lang: str, pending: list[dict[str, str]]) -> Any:
    """An open appeal, uphold or reject, a reason and a button: shown to managers only."""
    verdicts = [{"label": t("analysis.uphold", lang), "value": "uphold"},
                {"label": t("analysis.reject", lang), "value": "reject"}]  # fmt: skip
    return html.Div(
        [
            html.Strong(t("analysis.decide", lang)),
            dcc.Dropdown(id="an-decide-id", options=pending, style={"minWidth": "12rem"}),
            dcc.RadioItems(id="an-verdict", options=verdicts, value="reject", inline=True),
            dcc.Textarea(
                id="an-decide-reason",
                placeholder=t("analysis.reason", lang),
                maxLength=2000,
                style={"width": "22rem", "height": "3rem"},
            ),
            html.Button(t("analysis.decide", lang), id="an-decide", n_clicks=0, className="action"),
            html.Div(id="an-decide-result", role="status"),
        ],
        id="an-decide-form",
        style=FORM if reads.may_decide(caller) else HIDDEN,
    )


# -- callbacks --------------------------------------------------------------------------------


def register(app: Dash) -> None:
    app.callback(
        Output("an-body", "children"),
        Input("an-month", "value"),
        Input("an-level", "value"),
        Input("an-compute", "n_clicks"),
        Input("an-decided", "data"),
        State("an-compute", "n_clicks"),
        prevent_initial_call=True,
    )(on_change)
    app.callback(
        Output("an-appeals", "children"),
        Output("an-unit", "options"),
        Output("an-decide-id", "options"),
        Input("an-month", "value"),
        Input("an-level", "value"),
        Input("an-filed", "data"),
        Input("an-decided", "data"),
        prevent_initial_call=True,
    )(on_appeals)
    app.callback(
        Output("an-file-result", "children"),
        Output("an-filed", "data"),
        Output("an-client", "data"),
        Input("an-file", "n_clicks"),
        State("an-month", "value"),
        State("an-level", "value"),
        State("an-unit", "value"),
        State("an-indicator", "value"),
        State("an-reason", "value"),
        State("an-client", "data"),
        State("an-filed", "data"),
        prevent_initial_call=True,
    )(on_file)
    app.callback(
        Output("an-decide-result", "children"),
        Output("an-decided", "data"),
        Input("an-decide", "n_clicks"),
        State("an-decide-id", "value"),
        State("an-verdict", "value"),
        State("an-decide-reason", "value"),
        State("an-decided", "data"),
        prevent_initial_call=True,
    )(on_decide)
    app.callback(
        Output("an-period", "children"), Input("an-month", "value"), prevent_initial_call=True
    )(on_period)


def _month(value: Any) -> str | None:
    months = reads.months(dashboard().services.now())
    return value if isinstance(value, str) and value in months else None


def on_change(month: Any, level: Any, _clicked: Any, _decided: Any, n_clicks: Any) -> Any:
    """Show the chosen month at the chosen level; the button computes an open month."""
    caller = require_caller()
    lang = current_lang()
    services = dashboard().services
    name = _month(month)
    if name is None:
        return [html.P(t("analysis.bad_month", lang))]
    compute = ctx.triggered_id == "an-compute" and bool(n_clicks)
    try:
        found = reads.month_view(
            services, caller, name, level if isinstance(level, str) else "town", compute=compute
        )
    except ForbiddenError:
        return forbidden(lang)
    except GridMgrError as exc:  # e.g. a month that has not begun
        return [html.P(str(exc), className="calm")]
    return view.scorecard_view(found, name, lang)


def on_appeals(month: Any, level: Any, _filed: Any, _decided: Any) -> Any:
    """The month's appeals the caller may see; the units he may appeal for at the chosen level
    (a closed month only); the open appeals a manager may decide."""
    caller = require_caller()
    lang = current_lang()
    name = _month(month)
    if name is None:
        return [html.P(t("analysis.bad_month", lang))], [], []
    return appeals_parts(caller, name, level if level in reads.LEVELS else "town", lang)


def appeals_parts(
    caller: Caller, name: str, level: str, lang: str
) -> tuple[Any, list[dict[str, str]], list[dict[str, str]]]:
    """Month ``name``'s appeals table, the units ``caller`` may appeal for at ``level`` and
    the open appeals he may decide."""
    services = dashboard().services
    try:
        rows = reads.month_appeals(services, caller, name)
        shown = reads.month_view(services, caller, name, level, compute=False)
    except ForbiddenError:
        return forbidden(lang), [], []
    units = []
    if reads.may_file(caller) and shown is not None and shown.frozen:
        units = [{"label": f"{r['name']} ({r['unit']})", "value": r["unit"]} for r in shown.rows]
    pending = []
    if reads.may_decide(caller):
        pending = [
            {"label": f"{r.appeal.appeal_id} · {r.unit_name}", "value": r.appeal.appeal_id}
            for r in rows
            if r.appeal.decision is None
        ]
    return view.appeals_table(rows, lang), units, pending


def on_file(
    n_clicks: Any, month: Any, level: Any, unit: Any, indicator: Any, reason: Any, client: Any,
    filed: Any,
) -> Any:  # fmt: skip
    """File the caller's appeal; a double click resends the same client id (nothing twice)."""
    if not n_clicks:
        raise PreventUpdate
    caller = require_caller()
    lang = current_lang()
    name = _month(month)
    fields = (level, unit, indicator, reason, client)
    if name is None or not all(isinstance(v, str) and v.strip() for v in fields):
        return html.P(t("analysis.choose", lang), className="calm"), filed, client
    try:
        appeal = reads.file(dashboard().services, caller, name, level=level, unit=unit,
                            indicator=indicator, reason=reason, client_id=client)  # fmt: skip
    except GridMgrError as exc:  # refused (not his area, not his role) or not possible
        return html.P(str(exc), className="notice"), filed, client
    due = f"{appeal.due_at.astimezone(TZ):%Y-%m-%d %H:%M}"
    done = t("analysis.filed", lang).format(appeal=appeal.appeal_id, due=due)
    return html.P(done, className="ok"), (filed or 0) + 1, uuid.uuid4().hex


def on_decide(n_clicks: Any, appeal_id: Any, verdict: Any, reason: Any, decided: Any) -> Any:
    """A manager's decision on an open appeal."""
    if not n_clicks:
        raise PreventUpdate
    caller = require_caller()
    lang = current_lang()
    fields = (appeal_id, verdict, reason)
    if not all(isinstance(v, str) and v.strip() for v in fields):
        return html.P(t("analysis.choose", lang), className="calm"), decided
    try:
        appeal = reads.decide(dashboard().services, caller, appeal_id,
                              uphold=verdict == "uphold", reason=reason)  # fmt: skip
    except GridMgrError as exc:  # refused (not a manager) or decided already
        return html.P(str(exc), className="notice"), decided
    row = reads.AppealRow(appeal, "", "", "", False)
    done = t("analysis.decided", lang).format(appeal=appeal.appeal_id,
                                              state=view.appeal_state(row, lang))  # fmt: skip
    return html.P(done, className="ok"), (decided or 0) + 1


def on_period(month: Any) -> Any:
    """The month's hot spots on the map, its recurring problems and its stage times."""
    caller = require_caller()
    lang = current_lang()
    board = dashboard()
    name = _month(month)
    if name is None:
        return [html.P(t("analysis.bad_month", lang))]
    return period_view(board, caller, name, lang)


def period_view(board: Dashboard, caller: Caller, name: str, lang: str) -> Any:
    """Month ``name``'s hot spots, recurring problems and stage times, for ``caller``."""
    try:
        found = period_analysis(board.services, caller, name, cache=board.reviews)
    except ForbiddenError:
        return forbidden(lang)
    except GridMgrError as exc:
        return [html.P(str(exc), className="calm")]
    figure = view.hotspot_map(
        found,
        shapes=lambda codes: board.geometry.subset(3, codes),
        outline=board.geometry.outline(PREFIX),
        bounds=_bounds(board, caller),
        lang=lang,
    )
    categories = dict(category_choices(board.services, lang))
    towns = {str(r["tier1"]): str(r["name"]) for _, r in found.by_town.iterrows()}
    return [
        html.P(view.period_summary(found, lang), className="calm small", id="an-period-summary"),
        dcc.Graph(id="an-map", figure=figure, config={"displayModeBar": False}),
        html.H3(t("analysis.recurring", lang)),
        view.recurring_table(found, categories, lang),
        html.H3(t("analysis.times_town", lang)),
        view.times_table(found.by_town, "tier1", towns, lang, title=t("analysis.town", lang)),
        html.H3(t("analysis.times_category", lang)),
        view.times_table(
            found.by_category,
            "category",
            categories,
            lang,
            title=t("analysis.indicator_category", lang),
        ),
    ]


def _bounds(board: Dashboard, caller: Caller) -> tuple[float, float, float, float]:
    """The city, or the caller's cells."""
    if caller.city_wide:
        return board.geometry.territory_bounds
    boxes = [b for c, b in board.geometry.tier(3).bounds.items() if caller.covers(c)]
    if not boxes:
        return board.geometry.territory_bounds
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))  # fmt: skip
