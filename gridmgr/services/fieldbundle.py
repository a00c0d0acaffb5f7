"""What the field app caches for offline use, in one read: the caller's cells with their
shapes, the category list, his open cases with what he may do on each now, and the server's
time.

Everything is cut to the caller: his own tier-3 cells (a head's community, a leader's town; a
city-wide caller gets none, the app is for the field), and the open cases assigned to him or
waiting in his units' inbox — the worker page's list (:func:`open_cases_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely

from gridmgr.access import Caller
from gridmgr.cases import Action, Case
from gridmgr.responsibility.calendar import TZ
from gridmgr.services import queries
from gridmgr.services.actions import actions_allowed
from gridmgr.services.context import Services
from gridmgr.services.units import unit_cases

MAX_CASES = 100
"""The most open cases a bundle (and the worker page) carries."""
MAX_CELLS = 400
"""The most cells a bundle carries (a town leader's town; never the whole city)."""
SIMPLIFY_DEG = 0.00002
"""How far (degrees, about 2 m) a cached cell outline may stray from the true one."""
PRECISION_DEG = 0.000001
"""The coordinate grid of cached outlines (about 0.1 m): shorter numbers, same picture."""


@dataclass(frozen=True)
class OpenCase:
    """One open case as the app caches it: the case, its number, its photos' ids and the
    actions the rules allow the caller now."""

    case: Case
    number: int
    photo_ids: tuple[str, ...]
    allowed: tuple[Action, ...]


@dataclass(frozen=True)
class Bundle:
    """The field app's offline cache for one caller (see the module docstring)."""

    person_id: str
    name: str
    server_time: datetime
    cells: dict[str, Any]
    """A GeoJSON FeatureCollection (WGS84) of his tier-3 cells, outlines simplified."""
    cells_truncated: bool
    categories: list[dict[str, Any]]
    cases: list[OpenCase]


def open_cases_of(services: Services, caller: Caller, *, limit: int = MAX_CASES) -> list[Case]:
    """The caller's open cases (assigned to him, and those in his units' inbox, which he may
    sign for), soonest deadline first."""
    found = queries.assigned_cases(services.store, caller, limit=limit)
    for unit_id in caller.units:
        mine = {c.case_id for c in found}
        found += [
            c for c in unit_cases(services, caller, unit_id, limit=limit) if c.case_id not in mine
        ]
    far = datetime.max.replace(tzinfo=TZ)
    return sorted(found, key=lambda c: c.due_at or far)[:limit]


def field_bundle(services: Services, caller: Caller) -> Bundle:
    """The caller's offline cache now (see :class:`Bundle`)."""
    now = services.now()
    store = services.store
    found = open_cases_of(services, caller)
    numbers = store.case_numbers([c.case_id for c in found])
    cases = [
        OpenCase(
            c,
            numbers[c.case_id],
            tuple(a.attachment_id for a in store.attachments_of(c.case_id)),
            tuple(actions_allowed(services, caller, c, now)),
        )
        for c in found
    ]
    cells, truncated = _cells(services, caller)
    person = services.roster.persons.get(caller.actor.actor_id)
    return Bundle(
        caller.actor.actor_id,
        "" if person is None else person.name,
        now,
        cells,
        truncated,
        [
            {
                "code": c.code,
                "zh": c.name_zh,
                "en": c.name_en,
                "photo_required": c.photo_required,
            }
            for c in services.catalog
        ],
        cases,
    )


def _cells(services: Services, caller: Caller) -> tuple[dict[str, Any], bool]:
    """The caller's tier-3 cells as GeoJSON (none for a city-wide caller), and whether the
    list was cut at :data:`MAX_CELLS`."""
    grid = services.grid
    leaves = set(grid.codes(3))
    codes: list[str] = []
    for prefix in caller.scope or ():
        if prefix in leaves:
            codes.append(prefix)
        else:  # a head's community, a leader's town (a place the grid lacks: nothing)
            codes += [c for c in leaves if c.startswith(prefix)]
    codes = sorted(set(codes))
    truncated = len(codes) > MAX_CELLS
    codes = codes[:MAX_CELLS]
    features = []
    for code in codes:
        row = grid.cell(code)
        shape = shapely.set_precision(
            shapely.simplify(row["geometry"], SIMPLIFY_DEG, preserve_topology=True),
            PRECISION_DEG,
        )
        features.append(
            {
                "type": "Feature",
                "id": code,
                "geometry": shape.__geo_interface__,
                "properties": {"code": code, "name": row["name"], "name_en": row["name_en"]},
            }
        )
    body = {
        "type": "FeatureCollection",
        "generation_id": grid.generation_id,
        "features": features,
    }
    return body, truncated
