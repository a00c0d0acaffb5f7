"""Who may see and do what: callers, roles, cell scopes and unit scopes, the same rules for
every door.

A unit's people see the unit's cases (those in its inbox, ``unit:<unit_id>``): a **member**
(a person on the roster whose ``unit_id`` is the unit and who holds no post, 单位成员) sees his
unit's cases, and a **team leader** (the leader of a city or town enforcement team,
单位负责人) sees his team's cases and its members. The leader of a **department** stays a
manager (city-wide reads, 双随机 draws): a department head answers for the city's matters of
his trade, so he sees his department's cases among all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridmgr.cases import Actor, Case, Role, unit_of
from gridmgr.errors import ForbiddenError
from gridmgr.responsibility.roster import FIELD_POSTS, Assignment, PostKind, Roster, UnitKind

_ROLE_OF_POST = (
    (PostKind.OPERATOR, Role.OPERATOR),
    (PostKind.CITY_LEADER, Role.MANAGER),
    (PostKind.CENTER_LEADER, Role.MANAGER),
    (PostKind.UNIT_LEADER, Role.UNIT_LEADER),  # a department's leader: a manager (_role_of)
    (PostKind.TOWN_LEADER, Role.LEADER),
    (PostKind.GRID_HEAD, Role.HEAD),
    (PostKind.GRID_WORKER, Role.WORKER),
)


@dataclass(frozen=True)
class Caller:
    """An authenticated person: as an actor, the cells he may act in (``None``: all), and the
    units whose cases he sees (his own unit, or the team he leads)."""

    actor: Actor
    scope: tuple[str, ...] | None
    units: tuple[str, ...] = ()

    @property
    def city_wide(self) -> bool:
        """Whether the caller acts everywhere (operators and managers)."""
        return self.scope is None

    def covers(self, cell: str | None) -> bool:
        """Whether ``cell`` (a tier-3 code, or ``None`` for out of grid) is in scope."""
        if self.scope is None:
            return True
        return cell is not None and any(cell.startswith(prefix) for prefix in self.scope)

    def may_see(self, case: Case) -> bool:
        """Whether the case is in scope, is in one of the caller's units' inbox, or is assigned
        to or was reported by the caller."""
        mine = case.reporter == self.actor.actor_id or (
            case.assignee is not None and case.assignee.person_id == self.actor.actor_id
        )
        return mine or self.covers(case.cell) or self.in_units(unit_of(case.assignee))

    def in_units(self, unit_id: str | None) -> bool:
        """Whether ``unit_id`` is one of the caller's units (city-wide callers: every unit)."""
        return unit_id is not None and (self.scope is None or unit_id in self.units)

    def leads(self, unit_id: str) -> bool:
        """Whether the caller sees ``unit_id``'s members: its leader, or a city-wide caller."""
        return self.scope is None or (self.actor.role is Role.UNIT_LEADER and unit_id in self.units)


def actor_for(roster: Roster, person_id: str, at: datetime) -> Actor:
    """The person as an actor: the highest role among the posts he holds at ``at``; a member
    of a unit who holds no post acts as an officer (单位成员)."""
    person = roster.persons.get(person_id)
    if person is None:
        raise ForbiddenError(f"{person_id} is not on the roster")
    held = roster.posts_of(person_id, at)
    kinds = {a.post.kind for a in held}
    for kind, role in _ROLE_OF_POST:
        if kind in kinds:
            if role is Role.UNIT_LEADER and _leads_department(roster, held):
                role = Role.MANAGER
            return Actor(person_id, role, person.name)
    if person.unit_id in roster.units:
        return Actor(person_id, Role.OFFICER, person.name)
    raise ForbiddenError(f"{person.name} ({person_id}) holds no post now")


def _leads_department(roster: Roster, held: list[Assignment]) -> bool:
    units = [roster.units.get(a.post.place) for a in held if a.post.kind is PostKind.UNIT_LEADER]
    return any(u is not None and u.kind is UnitKind.DEPARTMENT for u in units)


def units_of(roster: Roster, actor: Actor, at: datetime) -> tuple[str, ...]:
    """The units whose cases the actor sees: the teams he leads, or the unit he is a member of
    (none for city-wide and field roles)."""
    if actor.role is Role.UNIT_LEADER:
        led = {
            a.post.place
            for a in roster.posts_of(actor.actor_id, at)
            if a.post.kind is PostKind.UNIT_LEADER
        }
        return tuple(sorted(led))
    if actor.role is Role.OFFICER:
        return (roster.persons[actor.actor_id].unit_id,)
    return ()


def scope_of(roster: Roster, actor: Actor, at: datetime) -> tuple[str, ...] | None:
    """Cell-code prefixes the actor acts in; ``None`` means city-wide."""
    if actor.role in (Role.OPERATOR, Role.MANAGER, Role.SYSTEM):
        return None
    return tuple(
        sorted(
            {
                a.post.place
                for a in roster.posts_of(actor.actor_id, at)
                if a.post.kind in FIELD_POSTS
            }
        )
    )


def caller_for(roster: Roster, person_id: str, at: datetime) -> Caller:
    """The caller a person is at ``at``."""
    actor = actor_for(roster, person_id, at)
    return Caller(actor, scope_of(roster, actor, at), units_of(roster, actor, at))


def check_report_cell(caller: Caller, cell: str | None) -> None:
    """Refuse a report routed to ``cell`` (``None``: out of grid) outside the caller's cells.

    Field staff report in their own cells; a place elsewhere goes to the command center.
    City-wide callers report anywhere.
    """
    if not caller.covers(cell):
        raise ForbiddenError("this location is outside your cells; report it to the command center")
