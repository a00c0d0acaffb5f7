"""Coverage review (managers): per-cell and per-owner performance, vacancies, patrol coverage."""

from __future__ import annotations

from typing import Any

from dash import Dash, html

from dashboards.data import DashData, require_city_wide
from dashboards.i18n import t
from gridmgr.api.access import Caller
from gridmgr.staffing import staffing_report


def layout(caller: Caller, data: DashData, lang: str) -> Any:
    require_city_wide(caller)
    now = data.clock()
    report = staffing_report(data.grid, data.context.roster, now)
    vacancies = report.of_kind("vacancy")
    return html.Div(
        [
            html.H1(t("coverage.title", lang)),
            html.H2(f"{t('coverage.vacancies', lang)} · {len(vacancies)}", id="vacancies"),
            html.Ul([html.Li(f.message) for f in vacancies] or [html.Li(t("none", lang))]),
        ]
    )


def register(app: Dash, data: DashData, *, tile_url: str | None) -> None:
    del app, data, tile_url
