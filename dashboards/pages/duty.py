"""在岗 On duty: every grid worker in the caller's scope now — status, last patrol point, the
field app's last sync — silent ones first, refreshed every minute.

The panel's *silent* line counts only workers who carry the field app; this page shows everyone,
so a worker without the app who has not walked today is seen too. Names are of officials; no
contact or position is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import Dash, Input, Output, dcc, html

from dashboards.context import Dashboard, current_lang, dashboard, require_caller
from dashboards.i18n import t
from dashboards.reads.duty import DutyRow, duty_rows
from gridmgr.access import Caller
from gridmgr.responsibility.calendar import TZ

REFRESH_MS = 60_000
MAX_ROWS = 200
"""The most rows the table shows (silent first, then on duty): a city has 1,557 workers, and a
table of all of them is slow to draw and nobody reads its end; the summary counts everyone."""
STATUS = {"patrolling": "on_patrol", "on_duty": "duty.on_duty", "absent": "duty.absent"}


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    return html.Div(
        [
            html.H1(t("duty.title", lang)),
            html.P(t("duty.intro", lang), className="hint"),
            dcc.Interval(id="duty-tick", interval=REFRESH_MS),
            html.Div(
                table(duty_rows(board.services, caller, now=board.services.now()), lang),
                id="duty-table",
            ),
        ],
        className="duty",
    )


def table(rows: list[DutyRow], lang: str) -> Any:
    """The workers as a table (text only: names are never read as HTML)."""
    if not rows:
        return html.P(t("none", lang))
    head = html.Tr(
        [
            html.Th(t(k, lang))
            for k in ("duty.name", "duty.place", "duty.status", "duty.seen", "duty.sync")
        ]
    )
    shown = rows[:MAX_ROWS]
    body = [
        html.Tr(
            [
                html.Td(r.name),
                html.Td(r.place),
                html.Td(
                    t(STATUS.get(r.status, "duty.off_duty"), lang)
                    + (" · " + t("duty.silent", lang) if r.silent else "")
                ),
                html.Td(_when(r.last_seen, lang)),
                html.Td(_when(r.last_sync, lang)),
            ],
            className="silent" if r.silent else None,
        )
        for r in shown
    ]
    silent = sum(r.silent for r in rows)
    summary = t("duty.summary", lang).format(n=len(rows), silent=silent)
    if len(rows) > len(shown):
        summary += " " + t("duty.first", lang).format(shown=len(shown))
    return html.Div(
        [html.P(summary), html.Table([html.Thead(head), html.Tbody(body)], className="table")]
    )


def _when(at: datetime | None, lang: str) -> str:
    return t("duty.never", lang) if at is None else at.astimezone(TZ).strftime("%m-%d %H:%M")


def register(app: Dash) -> None:
    app.callback(
        Output("duty-table", "children"),
        Input("duty-tick", "n_intervals"),
        prevent_initial_call=True,
    )(refresh)


def refresh(_n: int) -> Any:
    """The table again, for whoever asks now (his scope, checked again)."""
    caller = require_caller()
    services = dashboard().services
    return table(duty_rows(services, caller, now=services.now()), current_lang())
