"""My notices (in-app channel of the outbox): dispatched to me, deadline near, escalated to me,
returned, reopened — newest first, with a way to mark them read."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, html, no_update

from dashboards import actions
from dashboards.components import case_link
from dashboards.context import Dashboard, current_lang, dashboard, require_caller
from dashboards.i18n import t
from dashboards.reads.notifications import notifications
from gridmgr.access import Caller
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.context import Services


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    return html.Div(
        [
            html.H1(t("notif.title", lang)),
            html.Button(t("notif.read_all", lang), id="notif-read", n_clicks=0, className="action"),
            html.Div(listing(board.services, caller, lang), id="notif-list"),
        ],
        className="worker",
    )


def listing(services: Services, caller: Caller, lang: str) -> Any:
    notices = notifications(services, caller)
    if not notices:
        return html.P(t("none", lang))
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(n.created_at.astimezone(TZ).strftime("%m-%d %H:%M"), className="at"),
                    " ",
                    case_link(n.title, n.case_id),  # text, never HTML
                ],
                className="mycase" + ("" if n.read_at else " unread"),
            )
            for n in notices
        ],
        className="mycases",
    )


def register(app: Dash) -> None:
    app.callback(
        Output("notif-list", "children"),
        Input("notif-read", "n_clicks"),
        prevent_initial_call=True,
    )(read_all)


def read_all(n: int) -> Any:
    """Mark every listed notice read."""
    caller = require_caller()
    services = dashboard().services
    if not n:
        return no_update
    actions.mark_read(
        services, caller, [x.notification_id for x in notifications(services, caller)]
    )
    return listing(services, caller, current_lang())
