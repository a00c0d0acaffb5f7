"""The work queues: what the command center must do now — 待立案, 待派遣, 退回待处理, 待结案,
网格外, 待定位 — each earliest deadline first with its named holder and the time left, and a
search over the cases in scope (for operators; managers read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import Dash, Input, Output, State, dcc, html

from dashboards.components import card_badge, case_link, deadline_text, forbidden, state_label
from dashboards.context import Dashboard, current_lang, dashboard, require_caller
from dashboards.i18n import t
from dashboards.reads import queue as reads
from dashboards.reads.names import category_name, place
from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError
from gridmgr.services.context import Services

REFRESH_MS = 30_000
COLUMNS = ("queue.number", "category", "place", "owner", "deadline", "queue.card")


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    """The page (a :class:`ForbiddenError` for field staff, shown as a notice)."""
    services = board.services
    body = content(services, caller, lang)
    return html.Div(
        [
            dcc.Interval(id="queue-tick", interval=REFRESH_MS),
            html.H1(t("queue.title", lang)),
            html.Div(
                [
                    dcc.Input(
                        id="queue-search",
                        type="search",
                        debounce=True,
                        maxLength=100,
                        placeholder=t("queue.search_hint", lang),
                        className="search",
                    ),
                    html.Button(
                        t("queue.search", lang),
                        id="queue-search-go",
                        n_clicks=0,
                        className="action",
                    ),
                ],
                className="searchbar",
                role="search",
            ),
            html.Div(id="queue-results"),
            html.Div(body, id="queues"),
        ],
        className="queuepage",
    )


def content(services: Services, caller: Caller, lang: str) -> list[Any]:
    """The counts, then each queue's table."""
    queues = reads.work_queues(services, caller)
    now = services.now()
    chips = [
        html.A(
            [html.Span(t(f"queue.{q.key}", lang)), html.B(str(q.count))],
            href=f"#queue-{q.key}",
            className="chip" + (" busy" if q.count else ""),
        )
        for q in queues
    ]
    out: list[Any] = [html.Nav(chips, className="chips")]
    for q in queues:
        out.append(
            html.Section(
                [
                    html.H2(f"{t(f'queue.{q.key}', lang)} · {q.count}"),
                    cases_table(services, q.rows, now, lang)
                    if q.rows
                    else html.P(t("none", lang), className="calm small"),
                ],
                id=f"queue-{q.key}",
                className="queue",
            )
        )
    return out


def cases_table(
    services: Services, rows: list[reads.CaseRow], now: datetime, lang: str, *, state: bool = False
) -> Any:
    """Cases as table rows: number (a link to the case), category, place, holder, time left,
    card; ``state`` adds the state (search results span every state)."""
    keys = (*COLUMNS, "state") if state else COLUMNS
    head = html.Tr([html.Th(t(k, lang)) for k in keys])
    body = []
    for row in rows:
        c = row.case
        late = c.state.is_open and c.due_at is not None and c.due_at <= now
        cells = [
            html.Td(case_link(f"#{row.number}", c.case_id, className="num")),
            html.Td(category_name(services, c.category, lang)),
            html.Td(where(services, row)),
            html.Td(c.holder.name if c.holder is not None else "—"),
            html.Td(
                deadline_text(c.due_at, now, lang) if c.state.is_open else "—",
                className="due late" if late else "due",
            ),
            html.Td(card_badge(c.card, lang)),
        ]
        if state:
            cells.append(html.Td(state_label(c.state, lang)))
        body.append(html.Tr(cells, className="late" if late else None))
    return html.Table([html.Thead(head), html.Tbody(body)], className="queuetable")


def where(services: Services, row: reads.CaseRow) -> str:
    """The cell's name, else the address as reported, else the point (out of grid)."""
    c = row.case
    if c.cell is not None:
        return place(services.grid, c.cell)
    if row.address:
        return row.address  # citizen text: a text node
    if c.lon is not None and c.lat is not None:
        return f"{place(services.grid, None)} ({c.lon:.5f}, {c.lat:.5f})"
    return place(services.grid, None)


def results(services: Services, caller: Caller, text: str | None, lang: str) -> list[Any]:
    """What a search found (nothing searched: nothing shown)."""
    if not text or not text.strip():
        return []
    found = reads.search(services, caller, text)
    title = html.H2(f"{t('queue.found', lang)} · {len(found)}")
    if not found:
        return [title, html.P(t("queue.nothing", lang))]
    return [title, cases_table(services, found, services.now(), lang, state=True)]


# -- callbacks --------------------------------------------------------------------------------


def register(app: Dash) -> None:
    app.callback(
        Output("queues", "children"),
        Input("queue-tick", "n_intervals"),
        prevent_initial_call=True,
    )(refresh)
    app.callback(
        Output("queue-results", "children"),
        Input("queue-search", "value"),
        Input("queue-search-go", "n_clicks"),
        State("queue-search", "value"),
        prevent_initial_call=True,
    )(on_search)


def refresh(_n: Any) -> Any:
    """The queues again, every :data:`REFRESH_MS` (field staff: refused)."""
    caller = require_caller()
    lang = current_lang()
    try:
        return content(dashboard().services, caller, lang)
    except ForbiddenError:
        return forbidden(lang)


def on_search(_typed: Any, _n: Any, text: Any) -> Any:
    """Search when the text is entered or the button pressed (field staff: refused)."""
    caller = require_caller()
    lang = current_lang()
    try:
        return results(dashboard().services, caller, text if isinstance(text, str) else None, lang)
    except ForbiddenError:
        return forbidden(lang)
