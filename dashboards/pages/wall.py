"""The overdue wall: overdue and escalated cases by town, latest first, readable from afar."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dash import Dash, Input, Output, dcc, html

from dashboards.data import DashData
from dashboards.i18n import t
from dashboards.pages.case import deadline_text
from gridmgr.access import Caller
from gridmgr.cases import Case

REFRESH_MS = 15_000


def layout(caller: Caller, data: DashData, lang: str) -> Any:
    return html.Div(
        [
            dcc.Interval(id="wall-tick", interval=REFRESH_MS),
            html.Div(content(caller, data, lang), id="wall-body"),
        ],
        className="wall",
    )


def groups(data: DashData, cases: list[Case]) -> list[tuple[str, list[Case]]]:
    """Cases by town (towns with the latest case first), each town's latest first."""
    by_town: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        town = "网格外 out of grid"
        if case.cell is not None:
            code = data.grid.cell_to_ancestors(case.cell)[0]
            town = str(data.grid.cell(code)["name"])
        by_town[town].append(case)
    far = {town: min(c.due_at for c in rows if c.due_at) for town, rows in by_town.items()}
    return sorted(by_town.items(), key=lambda kv: far[kv[0]])


def content(caller: Caller, data: DashData, lang: str) -> list[Any]:
    now = data.clock()
    cases = [c for c in data.overdue(caller, now) if c.due_at is not None]
    out: list[Any] = [html.H1(f"{t('wall.title', lang)} · {len(cases)}")]
    if not cases:
        out.append(html.P(t("wall.none", lang), className="calm"))
    for town, rows in groups(data, cases):
        out.append(html.H2(f"{town} · {len(rows)}"))
        out.append(
            html.Table(
                [
                    html.Tr(
                        [
                            html.Th(t(k, lang))
                            for k in ("late_by", "category", "place", "owner", "escalated")
                        ]
                    )
                ]
                + [
                    html.Tr(
                        [
                            html.Td(deadline_text(c.due_at, now, lang), className="late"),
                            html.Td(
                                dcc.Link(
                                    data.category_name(c.category, lang),
                                    href=f"/dashboard/case/{c.case_id}",
                                )
                            ),
                            html.Td(data.place(c.cell)),
                            html.Td(c.assignee.name if c.assignee else "—"),
                            html.Td("↑" * c.escalation_level or "—"),
                        ]
                    )
                    for c in rows
                ],
                className="walltable",
            )
        )
    unlocated = data.unlocated(caller)
    if unlocated:
        out.append(html.H2(f"{t('unlocated', lang)} · {len(unlocated)}", id="unlocated"))
        out.append(
            html.Ul(
                [
                    html.Li(
                        dcc.Link(
                            f"{data.category_name(u.case.category, lang)} · {u.address or '—'}",
                            href=f"/dashboard/case/{u.case.case_id}",
                        )
                    )
                    for u in unlocated
                ]
            )
        )
    queue = data.out_of_grid(caller)
    if queue:
        out.append(html.H2(f"{t('out_of_grid', lang)} · {len(queue)}", id="out-of-grid"))
        out.append(
            html.Ul(
                [
                    html.Li(
                        dcc.Link(
                            f"{data.category_name(c.category, lang)} ({c.lon:.5f}, {c.lat:.5f})"
                            if c.lon is not None and c.lat is not None
                            else data.category_name(c.category, lang),
                            href=f"/dashboard/case/{c.case_id}",
                        )
                    )
                    for c in queue
                ]
            )
        )
    return out


def register(app: Dash, data: DashData, *, tile_url: str | None) -> None:
    from dashboards.app import current_lang, require_caller

    @app.callback(
        Output("wall-body", "children"),
        Input("wall-tick", "n_intervals"),
        prevent_initial_call=True,
    )
    def refresh(_n: Any) -> Any:
        return content(require_caller(), data, current_lang())
