"""The dashboard's pages, one module each; ``render`` picks the page for a path.

Every page's ``layout`` takes the :class:`~dashboards.context.Dashboard` and the caller (who is
asking) and builds only what he may see; every page's callbacks are module-level functions,
registered once on the Dash app by ``register``, that take the dashboard and the caller from
:mod:`dashboards.context` and check the caller again. Pages import neither the app nor each
other: shared pieces are in :mod:`dashboards.components`.
"""

from __future__ import annotations

from typing import Any

from dash import Dash

from dashboards.components import forbidden, notice
from dashboards.context import PREFIX, Dashboard
from dashboards.pages import (
    analysis,
    case,
    command,
    coverage,
    duty,
    inspections,
    notifications,
    queue,
    wall,
    worker,
)
from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError


def register(app: Dash) -> None:
    """Register every page's callbacks on ``app``."""
    pages = (
        command,
        case,
        wall,
        queue,
        coverage,
        duty,
        analysis,
        worker,
        inspections,
        notifications,
    )
    for page in pages:
        page.register(app)


GRAPH_PAGES = frozenset({"", "coverage", "analysis", "inspections", "worker"})
"""The pages that draw a Plotly graph (a map), by their path under the prefix (``""``: the
command center, or a worker's own page); every case page (``case/<id>``) draws one too."""


def _rest(path: str) -> str:
    rest = path[len(PREFIX) :] if path.startswith(PREFIX) else path.lstrip("/")
    return rest.strip("/")


def draws_graphs(path: str) -> bool:
    """Whether the page at ``path`` draws a Plotly graph, so that its page loads plotly.js at
    once (``assets/plotly_early.js``) rather than after its content arrives; the other pages
    are spared evaluating it (a graph still draws on them: ``dcc.Graph`` then loads it)."""
    rest = _rest(path)
    return rest in GRAPH_PAGES or rest.startswith("case/")


def render(path: str, board: Dashboard, caller: Caller, lang: str) -> Any:
    """The page at ``path`` for ``caller`` (workers and unit members land on their own page)."""
    rest = _rest(path)
    try:
        if rest.startswith("case/"):
            return case.layout(board, caller, lang, case_id=rest.removeprefix("case/"))
        if rest == "wall":
            return wall.layout(board, caller, lang)
        if rest == "queue":
            return queue.layout(board, caller, lang)
        if rest == "coverage":
            return coverage.layout(board, caller, lang)
        if rest == "duty":
            return duty.layout(board, caller, lang)
        if rest == "analysis":
            return analysis.layout(board, caller, lang)
        if rest == "notifications":
            return notifications.layout(board, caller, lang)
        if rest == "inspections":
            return inspections.layout(board, caller, lang)
        if rest == "worker" or (rest == "" and caller.actor.role.value in ("worker", "officer")):
            return worker.layout(board, caller, lang)
        if rest == "":
            return command.layout(board, caller, lang)
    except ForbiddenError:
        return forbidden(lang)
    return notice(f"404: {path}")
