"""My notices (in-app channel of the outbox): dispatched to me, deadline near, escalated to me,
returned, reopened — newest first, with a way to mark them read."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html, no_update

from dashboards.data import DashData
from dashboards.i18n import t
from gridmgr.access import Caller
from gridmgr.responsibility.calendar import TZ


def layout(caller: Caller, data: DashData, lang: str) -> Any:
    return html.Div(
        [
            html.H1(t("notif.title", lang)),
            html.Button(t("notif.read_all", lang), id="notif-read", n_clicks=0, className="action"),
            html.Div(listing(caller, data, lang), id="notif-list"),
        ],
        className="worker",
    )


def listing(caller: Caller, data: DashData, lang: str) -> Any:
    notices = data.notifications(caller)
    if not notices:
        return html.P(t("none", lang))
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(n.created_at.astimezone(TZ).strftime("%m-%d %H:%M"), className="at"),
                    " ",
                    dcc.Link(n.title, href=f"/dashboard/case/{n.case_id}"),  # text, never HTML
                ],
                className="mycase" + ("" if n.read_at else " unread"),
            )
            for n in notices
        ],
        className="mycases",
    )


def register(app: Dash, data: DashData, *, tile_url: str | None) -> None:
    from dashboards.app import current_lang, require_caller

    @app.callback(
        Output("notif-list", "children"),
        Input("notif-read", "n_clicks"),
        prevent_initial_call=True,
    )
    def read_all(n: int) -> Any:
        caller = require_caller()
        if not n:
            return no_update
        data.mark_read(caller, [x.notification_id for x in data.notifications(caller)])
        return listing(caller, data, current_lang())
