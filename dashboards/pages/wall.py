"""The overdue wall: overdue and escalated cases by town, latest first, readable from afar."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import Dash, Input, Output, dcc, html

from dashboards.components import card_badge, case_link, deadline_text
from dashboards.context import Dashboard, current_lang, dashboard, require_caller
from dashboards.i18n import t
from dashboards.reads import wall as reads
from dashboards.reads.names import category_name, place
from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.services.context import Services

REFRESH_MS = 15_000
COLUMNS = ("deadline", "category", "place", "owner", "queue.card")


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    return html.Div(
        [
            dcc.Interval(id="wall-tick", interval=REFRESH_MS),
            html.Div(content(board.services, caller, lang), id="wall-body"),
        ],
        className="wall",
    )


def content(services: Services, caller: Caller, lang: str) -> list[Any]:
    now = services.now()
    cases = [c for c in reads.overdue(services, caller, now) if c.due_at is not None]
    out: list[Any] = [html.H1(f"{t('wall.title', lang)} · {len(cases)}")]
    if not cases:
        out.append(html.P(t("wall.none", lang), className="calm"))
    for town, rows in reads.by_town(services.grid, cases):
        out.append(html.H2(f"{town} · {len(rows)}"))
        out.append(town_table(services, rows, now, lang))
    out += unlocated_list(services, caller, lang)
    out += out_of_grid_list(services, caller, lang)
    return out


def town_table(services: Services, rows: list[Case], now: datetime, lang: str) -> Any:
    head = html.Tr([html.Th(t(k, lang)) for k in COLUMNS])
    return html.Table(
        [head]
        + [
            html.Tr(
                [
                    html.Td(
                        deadline_text(c.due_at, now, lang),
                        className="late" if c.due_at and c.due_at <= now else None,
                    ),
                    html.Td(case_link(category_name(services, c.category, lang), c.case_id)),
                    html.Td(place(services.grid, c.cell)),
                    html.Td(holder_name(c)),
                    html.Td(card_badge(c.card, lang) or ("↑" * c.escalation_level or "—")),
                ]
            )
            for c in rows
        ],
        className="walltable",
    )


def holder_name(case: Case) -> str:
    """Who answers for the late stage now (the holder; else the assignee)."""
    person = case.holder or case.assignee
    return "—" if person is None else person.name or person.person_id


def unlocated_list(services: Services, caller: Caller, lang: str) -> list[Any]:
    """The reports waiting for a pin (city-wide roles)."""
    queue = reads.unlocated(services, caller)
    if not queue:
        return []
    items = [
        html.Li(
            case_link(
                f"{category_name(services, u.case.category, lang)} · {u.address or '—'}",
                u.case.case_id,
            )
        )
        for u in queue
    ]
    return [html.H2(f"{t('unlocated', lang)} · {len(queue)}", id="unlocated"), html.Ul(items)]


def out_of_grid_list(services: Services, caller: Caller, lang: str) -> list[Any]:
    """The reports outside the grid (city-wide roles), with where they were made."""
    queue = reads.out_of_grid(services, caller)
    if not queue:
        return []
    items = []
    for c in queue:
        name = category_name(services, c.category, lang)
        if c.lon is not None and c.lat is not None:
            name = f"{name} ({c.lon:.5f}, {c.lat:.5f})"
        items.append(html.Li(case_link(name, c.case_id)))
    return [html.H2(f"{t('out_of_grid', lang)} · {len(queue)}", id="out-of-grid"), html.Ul(items)]


def register(app: Dash) -> None:
    app.callback(
        Output("wall-body", "children"),
        Input("wall-tick", "n_intervals"),
        prevent_initial_call=True,
    )(refresh)


def refresh(_n: Any) -> Any:
    """The wall again, every :data:`REFRESH_MS`."""
    caller = require_caller()
    return content(dashboard().services, caller, current_lang())
