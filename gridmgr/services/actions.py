"""Act on a case: one lifecycle action through the state machine and one store transaction."""

from __future__ import annotations

from datetime import datetime

from gridmgr.cases import (
    Action,
    Actor,
    Assignee,
    Case,
    CaseError,
    decision_to_assignee,
)
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.responsibility.routing import (
    RoutingContext,
    route_incident,
)
from gridmgr.responsibility.sla import Span
from gridmgr.store import Store


def act(
    store: Store,
    context: RoutingContext,
    case_id: str,
    action: Action,
    *,
    actor: Actor,
    at: datetime,
    comment: str,
    assignee: Assignee | None = None,
    approver: Actor | None = None,
    extend: Span | None = None,
    rating: int | None = None,
) -> Case:
    """Apply one lifecycle action (for DISPATCH without an assignee: the cell's owner now)."""
    if action is Action.DISPATCH and assignee is None:
        assignee = owner_now(store, context, case_id, at)
    return store.apply(
        case_id,
        action,
        actor=actor,
        at=at,
        comment=comment,
        calendar=context.calendar,
        catalog=context.catalog,
        assignee=assignee,
        approver=approver,
        extend=extend,
        rating=rating,
    )


def owner_now(store: Store, context: RoutingContext, case_id: str, at: datetime) -> Assignee:
    """Who answers for a case's cell now: the first acting person of its owner chain."""
    case = store.case(case_id)
    decision = (
        route_incident(context, category=case.category, at=at, cell=case.cell)
        if (case.cell is not None)
        else None
    )
    assignee = None if decision is None else decision_to_assignee(decision)
    if assignee is None:
        crew = context.roster.on_duty(at)
        if not crew:
            raise CaseError(f"case {case_id}: nobody to dispatch to; name an assignee")
        return Assignee(crew[0].person_id, COMMAND_CENTER.key, crew[0].name)
    return assignee
