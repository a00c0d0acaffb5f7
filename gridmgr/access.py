"""Who may see and do what: callers, roles and cell scopes, the same rules for every door."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridmgr.cases import Actor, Case, Role
from gridmgr.errors import ForbiddenError
from gridmgr.responsibility.roster import FIELD_POSTS, PostKind, Roster

_ROLE_OF_POST = (
    (PostKind.OPERATOR, Role.OPERATOR),
    (PostKind.CITY_LEADER, Role.MANAGER),
    (PostKind.CENTER_LEADER, Role.MANAGER),
    (PostKind.UNIT_LEADER, Role.MANAGER),
    (PostKind.TOWN_LEADER, Role.LEADER),
    (PostKind.GRID_HEAD, Role.HEAD),
    (PostKind.GRID_WORKER, Role.WORKER),
)


@dataclass(frozen=True)
class Caller:
    """An authenticated person: as an actor, and the cells he may act in (``None``: all)."""

    actor: Actor
    scope: tuple[str, ...] | None

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
        """Whether the case is in scope, or is assigned to or was reported by the caller."""
        mine = case.reporter == self.actor.actor_id or (
            case.assignee is not None and case.assignee.person_id == self.actor.actor_id
        )
        return mine or self.covers(case.cell)


def actor_for(roster: Roster, person_id: str, at: datetime) -> Actor:
    """The person as an actor: the highest role among the posts he holds at ``at``."""
    person = roster.persons.get(person_id)
    if person is None:
        raise ForbiddenError(f"{person_id} is not on the roster")
    kinds = {a.post.kind for a in roster.posts_of(person_id, at)}
    for kind, role in _ROLE_OF_POST:
        if kind in kinds:
            return Actor(person_id, role, person.name)
    raise ForbiddenError(f"{person.name} ({person_id}) holds no post now")


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
    return Caller(actor, scope_of(roster, actor, at))


def check_report_cell(caller: Caller, cell: str | None) -> None:
    """Refuse a report routed to ``cell`` (``None``: out of grid) outside the caller's cells.

    Field staff report in their own cells; a place elsewhere goes to the command center.
    City-wide callers report anywhere.
    """
    if not caller.covers(cell):
        raise ForbiddenError("this location is outside your cells; report it to the command center")
