"""The analysis page (考核分析): a month's composite scorecard for towns, communities and grid
workers — each indicator with its numerator and denominator, the composite score and the rank
(only units with enough cases are ranked) — frozen once the month is closed (``gridmgr assess
close``), computed on request before. For the command center and managers."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html

from dashboards.components import forbidden
from dashboards.context import Dashboard, current_lang, dashboard, require_caller
from dashboards.i18n import t
from dashboards.reads import analysis as reads
from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError, GridMgrError
from gridmgr.services.context import Services


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    """The page (a :class:`ForbiddenError` for field staff, shown as a notice)."""
    services = board.services
    choices = reads.months(services.now())
    first = reads.month_view(services, caller, choices[1], "town", compute=False)
    return html.Div(
        [
            html.H1(t("analysis.title", lang)),
            html.Div(
                [
                    dcc.Dropdown(
                        id="an-month",
                        options=[{"label": m, "value": m} for m in choices],
                        value=choices[1],
                        clearable=False,
                    ),
                    dcc.RadioItems(
                        id="an-level",
                        options=[
                            {"label": t(f"analysis.{lv}", lang), "value": lv}
                            for lv in reads.LEVELS[::-1]
                        ],
                        value="town",
                        inline=True,
                    ),
                    html.Button(
                        t("analysis.compute", lang), id="an-compute", n_clicks=0, className="action"
                    ),
                ],
                className="controls",
            ),
            dcc.Loading(html.Div(view(services, first, choices[1], lang), id="an-body")),
        ],
        className="analysispage",
    )


def view(services: Services, month: reads.MonthView | None, name: str, lang: str) -> list[Any]:
    """The status line and the table of one month (or how to get it)."""
    if month is None:
        return [html.P(t("analysis.open", lang).format(month=name), className="calm")]
    if month.frozen:
        status = t("analysis.frozen", lang).format(
            month=month.month, version=month.version, digest=(month.digest or "")[:16]
        )
    else:
        at = "" if month.at is None else f"{month.at:%Y-%m-%d %H:%M}"
        status = t("analysis.computed", lang).format(month=month.month, at=at)
    if not month.rows:
        return [html.P(status), html.P(t("none", lang), className="calm")]
    return [html.P(status, className="calm small"), table(month.rows, lang)]


def table(rows: list[dict[str, Any]], lang: str) -> Any:
    """Rank, unit, cases, the composite score, then each indicator as numerator/denominator."""
    head = [t("analysis.rank", lang), t("analysis.unit", lang), t("analysis.cases", lang)]
    head.append(t("analysis.score", lang))
    head += [ind.label_zh if lang == "zh" else ind.key for ind in reads.INDICATORS]
    body = []
    for row in rows:
        rank = row.get("rank")
        cells = [
            html.Td("—" if rank is None else str(int(rank))),
            html.Td(str(row.get("name") or row.get("unit") or "")),  # text nodes only
            html.Td(str(row.get("cases", 0))),
            html.Td(_number(row.get("score"), "{:.1f}")),
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
            cells.append(html.Td(text))
        body.append(html.Tr(cells, className="ranked" if rank is not None else "unranked"))
    return html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
        className="scoretable",
    )


def _number(value: Any, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


# -- callbacks --------------------------------------------------------------------------------


def register(app: Dash) -> None:
    app.callback(
        Output("an-body", "children"),
        Input("an-month", "value"),
        Input("an-level", "value"),
        Input("an-compute", "n_clicks"),
        State("an-compute", "n_clicks"),
        prevent_initial_call=True,
    )(on_change)


def on_change(month: Any, level: Any, _clicked: Any, n_clicks: Any) -> Any:
    """Show the chosen month at the chosen level; the button computes an open month."""
    caller = require_caller()
    lang = current_lang()
    services = dashboard().services
    name = month if isinstance(month, str) else ""
    if name not in reads.months(services.now()):
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
    return view(services, found, name, lang)
