"""What the inspections page shows: plans, draws, and one draw's visits and results."""

from __future__ import annotations

from typing import Any

from dashboards.permissions import require_city_wide
from gridmgr.access import Caller
from gridmgr.services.context import Services
from gridmgr.services.inspections import inspection_page


def inspections(
    services: Services, caller: Caller, *, draw_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Plans, draws, and the visits and results of ``draw_id`` (default: the newest run
    draw) — for city-wide roles only."""
    require_city_wide(caller)
    return inspection_page(services.store, draw_id=draw_id)
