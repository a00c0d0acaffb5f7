"""Units at work: who signs for a unit, routing's default assignee, 移交执法, the unit's inbox and
members, and the choices of the 派遣 picker.

A case dispatched to a unit sits in the unit's inbox (post ``unit:<unit_id>``, see
:mod:`gridmgr.cases.units`), held by the unit's leader until a member signs for it. The rule of
routing's default (the grid worker for a town matter, the competent unit otherwise) is
:func:`gridmgr.cases.suggested_assignee`; this module applies it to a stored case at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridmgr.access import Caller
from gridmgr.cases import (
    Action,
    Assignee,
    Case,
    CaseError,
    competent_unit,
    power_named,
    suggested_assignee,
    unit_assignee,
    unit_inbox,
    unit_of,
)
from gridmgr.errors import ForbiddenError, UnknownPersonError
from gridmgr.grid.codes import code_length
from gridmgr.responsibility.chains import acting_for
from gridmgr.responsibility.roster import (
    COMMAND_CENTER,
    Person,
    Post,
    PostKind,
    Roster,
    UnitKind,
)
from gridmgr.responsibility.routing import RoutingContext, RoutingDecision, route_incident
from gridmgr.services.context import Services
from gridmgr.store import CaseFilter, Store


def unit_posts(roster: Roster, person_id: str, at: datetime) -> frozenset[str]:
    """The unit inboxes ``person_id`` signs for at ``at``: his own unit's (a member) and those of
    the units whose leader post he holds."""
    person = roster.persons.get(person_id)
    units = {a.post.place for a in roster.posts_of(person_id, at) if a.post.kind is _LEADER}
    if person is not None and person.unit_id in roster.units:
        units.add(person.unit_id)
    return frozenset(unit_inbox(u) for u in units)


_LEADER = PostKind.UNIT_LEADER


def unit_to_assignee(context: RoutingContext, unit_id: str, at: datetime) -> Assignee:
    """The unit ``unit_id`` as an assignee, held by whoever acts for its leader at ``at``.

    Raises :class:`~gridmgr.errors.UnknownPersonError` for a unit not on the roster and
    :class:`~gridmgr.cases.CaseError` for a unit nobody leads now.
    """
    unit = context.roster.units.get(unit_id)
    if unit is None:
        known = ", ".join(sorted(context.roster.units)[:8])
        raise UnknownPersonError(f"no unit {unit_id!r} on the roster (e.g. {known})")
    leader, _, _ = acting_for(context.roster, Post(_LEADER, unit_id), at)
    if leader is None:
        raise CaseError(f"unit {unit.name} ({unit_id}) has no leader now; dispatch to a person")
    return unit_assignee(unit_id, leader.person_id, leader.name)


def decision_for(context: RoutingContext, case: Case, at: datetime) -> RoutingDecision | None:
    """Routing's decision for ``case``'s category in its cell at ``at`` (``None``: no cell)."""
    if case.cell is None:
        return None
    return route_incident(context, category=case.category, at=at, cell=case.cell)


def default_assignee(context: RoutingContext, case: Case, at: datetime) -> Assignee | None:
    """Routing's default for 派遣: the competent unit for a unit matter, else the cell's grid
    worker (the first acting person of its owner chain); ``None`` without a cell or anybody."""
    decision = decision_for(context, case, at)
    return None if decision is None else suggested_assignee(decision)


def transfer_target(
    context: RoutingContext, case: Case, at: datetime
) -> tuple[Assignee | None, dict[str, str] | None]:
    """Whom 移交执法 hands ``case`` to at ``at`` (the competent unit, held by its leader) and the
    power item it names; ``(None, None)`` when routing finds no unit with a leader."""
    decision = decision_for(context, case, at)
    if decision is None:
        return None, None
    return competent_unit(decision), power_named(decision)


def may_transfer(context: RoutingContext, case: Case, at: datetime) -> bool:
    """Whether 移交执法 has somewhere to go: a competent unit other than the case's own."""
    target, _ = transfer_target(context, case, at)
    return target is not None and unit_of(target) != unit_of(case.assignee)


# -- reads of a unit -------------------------------------------------------------------------


def unit_cases(services: Services, caller: Caller, unit_id: str, *, limit: int = 200) -> list[Case]:
    """The unit's inbox: its open cases, newest first (its members and leader, city-wide roles).

    Raises :class:`~gridmgr.errors.ForbiddenError` for anybody else.
    """
    if not caller.in_units(unit_id):
        raise ForbiddenError(f"unit {unit_id}'s cases are for its members and leader")
    where = CaseFilter(open_only=True, assignee_post=unit_inbox(unit_id))
    return services.store.cases(where, limit=limit)


def unit_members(services: Services, caller: Caller, unit_id: str) -> list[Person]:
    """The members of the unit, its leader first then by id (its leader, city-wide roles).

    Raises :class:`~gridmgr.errors.ForbiddenError` for anybody else.
    """
    if not caller.leads(unit_id):
        raise ForbiddenError(f"unit {unit_id}'s members are shown to its leader")
    roster, now = services.roster, services.now()
    leader = roster.owner(Post(_LEADER, unit_id), now)
    members = sorted(
        (p for p in roster.persons.values() if p.unit_id == unit_id),
        key=lambda p: (leader is None or p.person_id != leader.person_id, p.person_id),
    )
    return members


# -- the 派遣 picker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One entry of the 派遣 picker: a person (``unit_id`` ``None``) or a unit, and why it is
    offered (``reason``: ``routing``, ``owner_chain`` or ``unit``)."""

    person_id: str
    name: str
    post: str
    reason: str
    unit_id: str | None = None
    returned_it: bool = False

    @property
    def value(self) -> str:
        """The picker's value: ``unit:<unit_id>`` for a unit, else the person id."""
        return self.post if self.unit_id is not None else self.person_id


@dataclass(frozen=True)
class ReturnNote:
    """Who returned the case last (退回), when, and why."""

    returned_by: Assignee | None
    at: datetime
    comment: str


@dataclass(frozen=True)
class DispatchChoices:
    """What the 派遣 picker offers: routing's suggestion first, then the owner chain of the
    case's cell, then the competent units; and the last return, if the case was returned."""

    choices: tuple[Choice, ...]
    last_return: ReturnNote | None

    @property
    def suggested(self) -> Choice | None:
        """The entry picked by default: the first one that did not return the case."""
        return next((c for c in self.choices if not c.returned_it), None)


def dispatch_choices(services: Services, caller: Caller, case: Case) -> DispatchChoices:
    """The 派遣 picker's entries for ``case`` (one the caller may see), at the services' now."""
    at, context = services.now(), services.context
    note = last_return(services.store, case)
    returner = None if note is None or note.returned_by is None else note.returned_by
    out: list[Choice] = []

    def add(who: Assignee | None, reason: str) -> None:
        if who is None or any(c.post == who.post and c.person_id == who.person_id for c in out):
            return
        unit = unit_of(who)
        back = returner is not None and (
            who.person_id == returner.person_id or (unit is not None and unit == unit_of(returner))
        )
        out.append(Choice(who.person_id, who.name, who.post, reason, unit, back))

    decision = decision_for(context, case, at)
    if decision is not None:
        add(suggested_assignee(decision), "routing")
        for link in decision.chain:
            if link.person is not None:
                add(Assignee(link.person.person_id, link.post.key, link.person.name), "owner_chain")
        add(competent_unit(decision), "unit")
    else:  # no cell: 派遣 goes to the command center, as act's default does
        crew = context.roster.on_duty(at)
        if crew:
            add(Assignee(crew[0].person_id, COMMAND_CENTER.key, crew[0].name), "routing")
    for unit_id in _units_for_cell(context.roster, case.cell):
        try:
            add(unit_to_assignee(context, unit_id, at), "unit")
        except CaseError:
            continue
    return DispatchChoices(tuple(out), note)


def _units_for_cell(roster: Roster, cell: str | None) -> list[str]:
    """The teams that act in the cell's town (town team first), for the picker."""
    if cell is None:
        return []
    town = cell[: code_length(1)]
    teams = [roster.unit_for(kind, town) for kind in (UnitKind.TOWN_TEAM, UnitKind.CITY_TEAM)]
    return [u.unit_id for u in teams if u is not None]


def last_return(store: Store, case: Case) -> ReturnNote | None:
    """The case's last 退回 (RETURN) event: who returned it and why; ``None`` if never returned."""
    if case.return_count == 0:
        return None
    for entry in reversed(store.trail(case.case_id)):
        if entry.action == Action.RETURN.value:
            by = entry.details.get("returned_by")
            who = Assignee(**by) if isinstance(by, dict) else None
            return ReturnNote(who, entry.at, entry.comment)
    return None
