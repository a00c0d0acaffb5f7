"""The dashboard's pages, one module each; ``render`` picks the page for a path.

Every page's ``layout`` takes the caller (who is asking) and builds only what he may see;
every page's callbacks are registered once, by ``register``, and check the caller again.
"""

from __future__ import annotations

from typing import Any

from dash import Dash, html

from dashboards.data import DashData
from dashboards.i18n import t
from dashboards.pages import (
    case,
    command,
    coverage,
    inspections,
    notifications,
    wall,
    worker,
)
from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError

PREFIX = "/dashboard/"


def register(app: Dash, data: DashData, *, tile_url: str | None) -> None:
    """Register every page's callbacks on ``app``."""
    for page in (command, case, wall, coverage, worker, inspections, notifications):
        page.register(app, data, tile_url=tile_url)


def render(path: str, caller: Caller, data: DashData, lang: str, *, tile_url: str | None) -> Any:
    """The page at ``path`` for ``caller`` (workers land on their own page)."""
    rest = path[len(PREFIX) :] if path.startswith(PREFIX) else path.lstrip("/")
    rest = rest.strip("/")
    try:
        if rest.startswith("case/"):
            return case.layout(caller, data, lang, case_id=rest.removeprefix("case/"))
        if rest == "wall":
            return wall.layout(caller, data, lang)
        if rest == "coverage":
            return coverage.layout(caller, data, lang)
        if rest == "notifications":
            return notifications.layout(caller, data, lang)
        if rest == "inspections":
            return inspections.layout(caller, data, lang)
        if rest == "worker" or (rest == "" and caller.actor.role.value == "worker"):
            return worker.layout(caller, data, lang)
        if rest == "":
            return command.layout(caller, data, lang, tile_url=tile_url)
    except ForbiddenError:
        return html.P(t("forbidden", lang), className="notice")
    return html.P(f"404: {path}", className="notice")
