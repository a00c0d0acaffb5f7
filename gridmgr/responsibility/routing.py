"""Routing: from a place, a kind of matter and a time to the people who answer for it, with reasons.

:func:`route_incident` is deterministic and pure: it reads the grid, roster, catalog and working
calendar held by a :class:`RoutingContext` and the ``at`` it is given, never the clock. Its
:class:`RoutingDecision` names the cell path, the owner chain at that time (tier-3 grid worker →
tier-2 grid head → tier-1 town leader → command center), the unit that handles the matter, the
stage deadlines, and a reason for every choice.

- A vacant post is passed over: the matter goes to the next post up and the vacancy is raised.
- A point outside the territory goes to the command center's out-of-grid queue; it is never
  dropped.
- A point within :attr:`RoutingContext.border_m` metres (default 30 m, about a phone's GPS error)
  of another tier-3 cell is flagged with that cell, so an operator can check the location.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from gridmgr.errors import CellError, TimeError
from gridmgr.grid.datum import Datum, parse_datum, to_wgs84
from gridmgr.grid.model import CellPath, Grid
from gridmgr.responsibility.calendar import WorkCalendar
from gridmgr.responsibility.catalog import Catalog, Category, Competence, Handler
from gridmgr.responsibility.chains import Acting, ChainLink, escalation_graph, owner_chain
from gridmgr.responsibility.powers import Holding, PowerCatalog
from gridmgr.responsibility.roster import Person, Post, PostKind, Roster, Unit, UnitKind
from gridmgr.responsibility.sla import FIELD_STAGES, Stage

if TYPE_CHECKING:
    import networkx as nx

    from gridmgr.responsibility.sla import Clock, Span

BORDER_M = 30.0
"""Default distance to another cell under which a location is flagged as near a border."""


class Queue(enum.Enum):
    """Where a routed report waits: its cell's owner chain, or the command center's triage."""

    CELL = "cell"
    OUT_OF_GRID = "out_of_grid"
    UNLOCATED = "unlocated"
    """No usable coordinates (an address only): an operator must place it on the map."""


@dataclass(frozen=True)
class StageDeadline:
    """When a stage must be done if every earlier stage uses its full span."""

    stage: Stage
    due: datetime
    span: Span
    clock: Clock


@dataclass(frozen=True)
class Handling:
    """The unit that handles the matter, and its leader at the time (``None`` when vacant)."""

    unit: Unit | None
    leader: Person | None
    dispatched_by: str


@dataclass(frozen=True)
class RoutingDecision:
    """Everything routing decided about one report, and why."""

    at: datetime
    category: Category
    queue: Queue
    lon: float | None
    lat: float | None
    generation_id: str
    cell_path: CellPath | None
    chain: tuple[ChainLink, ...]
    handling: Handling
    deadlines: tuple[StageDeadline, ...]
    near_cells: tuple[str, ...] = ()
    border_distance_m: float | None = None
    vacancies: tuple[Post, ...] = ()
    reasons: tuple[str, ...] = field(default=())
    power: Holding | None = None
    """The power item the matter is exercised under and who holds it there and then, if the
    category names one and the context has a power catalog."""

    @property
    def responsible(self) -> ChainLink:
        """The first link of the chain with someone acting: who signs for the matter."""
        for link in self.chain:
            if link.person is not None:
                return link
        return self.chain[-1]

    @property
    def is_near_border(self) -> bool:
        """Whether the location is close enough to another cell to be checked."""
        return bool(self.near_cells)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times in ISO 8601 with their +08:00 offset)."""

        def person(p: Person | None) -> dict[str, str] | None:
            return (
                None if p is None else {"person_id": p.person_id, "name": p.name, "phone": p.phone}
            )

        return {
            "at": self.at.isoformat(),
            "category": {"code": self.category.code, "name_zh": self.category.name_zh},
            "queue": self.queue.value,
            "location": None if self.lon is None else {"lon": self.lon, "lat": self.lat},
            "generation_id": self.generation_id,
            "cell_path": None if self.cell_path is None else self.cell_path._asdict(),
            "responsible": {
                "post": str(self.responsible.post),
                "person": person(self.responsible.person),
            },
            "chain": [
                {
                    "post": str(link.post),
                    "tier": link.tier,
                    "cell_name": link.cell_name,
                    "acting": link.acting.value,
                    "person": person(link.person),
                    "on_duty": [person(p) for p in link.on_duty],
                    "reason": link.reason,
                }
                for link in self.chain
            ],
            "handling": {
                "unit": None
                if self.handling.unit is None
                else {"unit_id": self.handling.unit.unit_id, "name": self.handling.unit.name},
                "leader": person(self.handling.leader),
                "dispatched_by": self.handling.dispatched_by,
            },
            "deadlines": [
                {
                    "stage": d.stage.value,
                    "due": d.due.isoformat(),
                    "span": str(d.span),
                    "clock": d.clock.value,
                }
                for d in self.deadlines
            ],
            "near_border": {"cells": list(self.near_cells), "distance_m": self.border_distance_m},
            "vacancies": [str(p) for p in self.vacancies],
            "reasons": list(self.reasons),
            "power": self._power_dict(),
        }

    def _power_dict(self) -> dict[str, Any] | None:
        if self.power is None:
            return None
        item, unit = self.power.item, self.handling.unit
        return {
            "code": item.code,
            "name": item.name_zh,
            "class": item.power_class.value,
            "legal_basis": item.legal_basis,
            "devolved": self.power.devolved,
            "holder": {
                "handler": str(self.power.holder),
                "unit_id": None if unit is None else unit.unit_id,
                "name": None if unit is None else unit.name,
            },
        }


class RoutingContext:
    """The read-only inputs of routing, with the graphs and indexes built from them once."""

    def __init__(
        self,
        grid: Grid,
        roster: Roster,
        catalog: Catalog,
        calendar: WorkCalendar,
        *,
        border_m: float = BORDER_M,
        powers: PowerCatalog | None = None,
    ) -> None:
        self.grid = grid
        self.roster = roster
        self.catalog = catalog
        self.calendar = calendar
        self.border_m = border_m
        self.powers = powers

    def warm(self) -> RoutingContext:
        """Build the lazy graphs and indexes now (a server does this before taking requests)."""
        _ = self.escalation, self.adjacency, self.cell_names, self._leaves_local
        return self

    def with_reference(
        self,
        *,
        roster: Roster | None = None,
        catalog: Catalog | None = None,
        calendar: WorkCalendar | None = None,
    ) -> RoutingContext:
        """This context with another roster, catalog or calendar on the same grid: the graphs
        and indexes (all built from the grid alone) are shared, not rebuilt."""
        new = RoutingContext(
            self.grid,
            roster or self.roster,
            catalog or self.catalog,
            calendar or self.calendar,
            border_m=self.border_m,
            powers=self.powers,
        )
        for name in ("escalation", "adjacency", "cell_names", "_leaves_local"):
            if name in self.__dict__:  # a cached_property already built
                new.__dict__[name] = self.__dict__[name]
        return new

    @cached_property
    def escalation(self) -> nx.DiGraph:
        """The escalation graph of the grid's posts."""
        return escalation_graph(self.grid)

    @cached_property
    def adjacency(self) -> dict[int, nx.Graph]:
        """The cell adjacency graph of each tier, for backup coverage."""
        return {tier: self.grid.grid_to_graph(tier) for tier in (1, 2, 3)}

    @cached_property
    def cell_names(self) -> dict[str, str]:
        """Cell code → name."""
        cells = self.grid.cells
        return dict(zip(cells["code"], cells["name"], strict=True))

    @cached_property
    def _leaves_local(self) -> tuple[np.ndarray, shapely.STRtree, list[str], tuple[float, ...]]:
        leaves = self.grid.tier(3)
        x0, y0, x1, y1 = leaves.total_bounds
        lon0, lat0 = (x0 + x1) / 2, (y0 + y1) / 2
        frame = (lon0, lat0, EARTH_RADIUS_M * math.cos(math.radians(lat0)), EARTH_RADIUS_M)
        geoms = shapely.transform(np.asarray(leaves.geometry.values, dtype=object), _plane(frame))
        return geoms, shapely.STRtree(geoms), leaves["code"].tolist(), frame

    def near_cells(self, lon: float, lat: float, cell: str) -> tuple[tuple[str, ...], float]:
        """Other tier-3 cells within :attr:`border_m` of the point, and the nearest's distance.

        Distances are measured in a local equirectangular plane centred on the grid (no PROJ
        call per report); over a county the scale error stays under 0.5 %.
        """
        geoms, tree, codes, frame = self._leaves_local
        lon0, lat0, kx, ky = frame
        point = shapely.Point(math.radians(lon - lon0) * kx, math.radians(lat - lat0) * ky)
        hits = tree.query(point, predicate="dwithin", distance=self.border_m)
        near = sorted(
            (float(shapely.distance(point, geoms[i])), codes[i]) for i in hits if codes[i] != cell
        )
        if not near:
            return (), float("inf")
        return tuple(code for _, code in near), near[0][0]


EARTH_RADIUS_M = 6_371_008.8


def _plane(frame: tuple[float, ...]) -> Callable[[np.ndarray], np.ndarray]:
    lon0, lat0, kx, ky = frame

    def forward(xy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xy)
        out[:, 0] = np.radians(xy[:, 0] - lon0) * kx
        out[:, 1] = np.radians(xy[:, 1] - lat0) * ky
        return out

    return forward


def route_incident(
    context: RoutingContext,
    *,
    category: str | Category,
    at: datetime,
    lon: float | None = None,
    lat: float | None = None,
    cell: str | None = None,
    datum: str | Datum = Datum.WGS84,
) -> RoutingDecision:
    """Route a matter of ``category`` reported at ``at``, at a location or in a known cell.

    Give either ``lon``/``lat`` (in ``datum``; WGS84 by default) or the tier-3 ``cell``.
    ``at`` must be timezone-aware.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise TimeError(f"at={at.isoformat()} has no timezone; pass an aware time (+08:00)")
    at = at.astimezone(context.calendar.tz)
    grid = context.grid
    kind = category if isinstance(category, Category) else context.catalog.category(category)
    reasons: list[str] = [f"category {kind.code} ({kind.name_zh}): {kind.priority.value} priority"]
    path: CellPath | None
    near: tuple[str, ...] = ()
    distance: float | None = None
    wgs_lon = wgs_lat = None
    if (lon is None) == (cell is None) or (lon is None) != (lat is None):
        raise CellError("route a report with either lon and lat, or a tier-3 cell code, not both")
    if cell is not None:
        if grid.tier_of(cell) != 3:
            raise CellError(f"cell {cell} is not a tier-3 cell; route to a unit grid cell")
        t1, t2 = grid.cell_to_ancestors(cell)
        path = CellPath(t1, t2, cell)
        reasons.append(f"reported in cell {cell} ({context.cell_names[cell]})")
    else:
        assert lon is not None
        assert lat is not None
        if parse_datum(datum) is not Datum.WGS84:
            x, y = to_wgs84(lon, lat, datum)
            reasons.append(
                f"({lon}, {lat}) in {parse_datum(datum).value} is "
                f"({float(x):.6f}, {float(y):.6f}) in WGS84"
            )
            lon, lat = float(x), float(y)
        wgs_lon, wgs_lat = float(lon), float(lat)
        path = grid.point_to_cell(wgs_lon, wgs_lat)
        if path is None:
            reasons.append(
                f"({wgs_lon:.6f}, {wgs_lat:.6f}) is outside the territory of grid "
                f"{grid.generation_id}: queued for the command center's out-of-grid triage"
            )
        else:
            reasons.append(
                f"({wgs_lon:.6f}, {wgs_lat:.6f}) lies in {path.tier3} "
                f"({context.cell_names[path.tier3]}), {context.cell_names[path.tier2]}, "
                f"{context.cell_names[path.tier1]}"
            )
            near, distance = context.near_cells(wgs_lon, wgs_lat, path.tier3)
            if near:
                reasons.append(
                    f"near a border: {distance:.1f} m from {near[0]} "
                    f"(within {context.border_m:g} m); an operator should check the location"
                )
            else:
                distance = None
    chain = owner_chain(
        context.roster,
        context.escalation,
        None if path is None else path.tier3,
        at,
        adjacency=context.adjacency,
        cell_names=context.cell_names,
    )
    reasons.extend(link.reason for link in chain)
    vacancies = tuple(link.post for link in chain if link.acting is Acting.VACANT)
    power = _power(context, kind, path, at, reasons)
    handling = _handling(context, kind, path, at, reasons, power)
    deadlines = _deadlines(context.calendar, kind, at, reasons)
    return RoutingDecision(
        at=at,
        category=kind,
        queue=Queue.CELL if path is not None else Queue.OUT_OF_GRID,
        lon=wgs_lon,
        lat=wgs_lat,
        generation_id=grid.generation_id,
        cell_path=path,
        chain=chain,
        handling=handling,
        deadlines=deadlines,
        near_cells=near,
        border_distance_m=distance,
        vacancies=vacancies,
        reasons=tuple(reasons),
        power=power,
    )


def route_unlocated(
    context: RoutingContext, *, category: str | Category, at: datetime, address: str
) -> RoutingDecision:
    """Route a report that has an address but no coordinates to the command center's unlocated
    queue: it waits, visible, until an operator places it (then it is routed to its cell)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise TimeError(f"at={at.isoformat()} has no timezone; pass an aware time (+08:00)")
    at = at.astimezone(context.calendar.tz)
    kind = category if isinstance(category, Category) else context.catalog.category(category)
    reasons = [
        f"category {kind.code} ({kind.name_zh}): {kind.priority.value} priority",
        f"no coordinates, address {address!r}: queued for an operator to place it on the map",
    ]
    chain = owner_chain(
        context.roster,
        context.escalation,
        None,
        at,
        adjacency=context.adjacency,
        cell_names=context.cell_names,
    )
    reasons.extend(link.reason for link in chain)
    power = _power(context, kind, None, at, reasons)
    return RoutingDecision(
        at=at,
        category=kind,
        queue=Queue.UNLOCATED,
        lon=None,
        lat=None,
        generation_id=context.grid.generation_id,
        cell_path=None,
        chain=chain,
        handling=_handling(context, kind, None, at, reasons, power),
        deadlines=_deadlines(context.calendar, kind, at, reasons),
        vacancies=tuple(link.post for link in chain if link.acting is Acting.VACANT),
        reasons=tuple(reasons),
        power=power,
    )


def _power(
    context: RoutingContext, kind: Category, path: CellPath | None, at: datetime, reasons: list[str]
) -> Holding | None:
    """The power the matter is exercised under, held by whom in its town at ``at``."""
    powers = context.powers
    if powers is None or not kind.power_code:
        return None
    if kind.power_code not in powers:
        reasons.append(
            f"power {kind.power_code} named by the category is not in {powers.source}: "
            "the catalog's handler decides"
        )
        return None
    holding = powers.holding(kind.power_code, town=None if path is None else path.tier1, at=at)
    if holding is None:
        reasons.append(
            f"power {kind.power_code} is not in force at {at:%Y-%m-%d}: the catalog's handler "
            "decides"
        )
        return None
    reasons.append(holding.reason)
    return holding


def _handling(
    context: RoutingContext,
    kind: Category,
    path: CellPath | None,
    at: datetime,
    reasons: list[str],
    power: Holding | None = None,
) -> Handling:
    roster = context.roster
    handler: Handler = kind.handler if power is None else power.holder
    if power is None:
        town_matter = kind.competent_tier is Competence.TOWN
        tier = "town (devolved power)" if town_matter else "city"
    else:
        town_matter = handler.kind == "town_team"
        tier = f"power {power.item.code} " + ("devolved to the town" if town_matter else "kept")
    dispatched_by = "town" if town_matter and path is not None else "command center"
    unit: Unit | None
    if handler.kind == "department":
        unit = roster.units.get(handler.department or "")
        wanted = f"department {handler.department}"
    elif path is None:
        unit = None
        wanted = f"the {handler.kind.replace('_', ' ')} of the town (unknown: out of grid)"
    else:
        unit_kind = UnitKind.TOWN_TEAM if handler.kind == "town_team" else UnitKind.CITY_TEAM
        unit = roster.unit_for(unit_kind, path.tier1)
        wanted = f"the {unit_kind.value.replace('_', ' ')} covering {path.tier1}"
    if unit is None:
        reasons.append(
            f"competent tier: {tier}; {wanted} is not on the roster: the command center "
            "dispatches by hand"
        )
        return Handling(None, None, "command center")
    leader = roster.owner(Post(PostKind.UNIT_LEADER, unit.unit_id), at)
    who = (
        "no leader on the roster"
        if leader is None
        else f"leader {leader.name} ({leader.person_id})"
    )
    reasons.append(
        f"competent tier: {tier}; handled by {unit.name} ({unit.unit_id}), {who}; "
        f"dispatched by the {dispatched_by}"
    )
    return Handling(unit, leader, dispatched_by)


def _deadlines(
    calendar: WorkCalendar, kind: Category, at: datetime, reasons: list[str]
) -> tuple[StageDeadline, ...]:
    out: list[StageDeadline] = []
    start = at
    for stage in FIELD_STAGES:
        span = kind.sla[stage]
        due = calendar.deadline(start, span, kind.clock)
        out.append(StageDeadline(stage, due, span, kind.clock))
        start = due
    clock = "working time" if kind.clock.value == "working" else "natural time, around the clock"
    reasons.append(
        "deadlines in "
        + clock
        + ": "
        + "; ".join(
            f"{d.stage.value} ({d.stage.label_zh}) {d.span} → {d.due:%Y-%m-%d %H:%M}" for d in out
        )
    )
    if kind.clock.value == "working":
        note = calendar.describe_start(at)
        if note:
            reasons.append(note)
        for year in calendar.assumed_years(at.date(), out[-1].due.date()):
            reasons.append(
                f"the official calendar for {year} is not known to chinese-calendar; Monday-Friday "
                "assumed — add the State Council's schedule to the calendar overrides"
            )
    return tuple(out)
