"""Escalate overdue stages and warn of stages falling due, once each, from any number of passes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gridmgr.cases import (
    Action,
    Actor,
    Assignee,
    Case,
    CaseError,
    Role,
)
from gridmgr.errors import ConcurrentUpdateError
from gridmgr.notifications import due_soon_notice
from gridmgr.responsibility.chains import acting_for, escalation_path
from gridmgr.responsibility.roster import COMMAND_CENTER, Post, PostKind
from gridmgr.responsibility.routing import (
    RoutingContext,
)
from gridmgr.services.loops import PeriodicLoop
from gridmgr.store import Store

log = logging.getLogger(__name__)


ESCALATOR = Actor("system:escalator", Role.SYSTEM, "自动升级")


"""The actor every automatic escalation is recorded under."""


def escalation_target(context: RoutingContext, case: Case, now: datetime) -> Assignee | None:
    """The person one tier above the case's assignee post who acts for that post ``now``."""
    if case.assignee is None:
        return None
    kind, _, place = case.assignee.post.partition(":")
    try:
        post = Post(PostKind(kind), place)
        path = escalation_path(context.escalation, post)
    except (ValueError, KeyError):
        path = [COMMAND_CENTER]
    for upper in path[1:] or [COMMAND_CENTER]:
        person, _, _ = acting_for(context.roster, upper, now, adjacency=context.adjacency)
        if person is not None:
            return Assignee(person.person_id, upper.key, person.name)
    return None


def escalate_overdue(store: Store, context: RoutingContext, *, now: datetime) -> list[Case]:
    """Escalate every overdue stage not yet escalated, one tier up; returns the escalated cases.

    Safe to run often, from several processes, and after downtime: a stage is escalated at most
    once (the state machine refuses a second time; the store's version check refuses a race).
    """
    done: list[Case] = []
    for case in store.to_escalate(now):
        target = escalation_target(context, case, now)
        assert case.due_at is not None
        late = now - case.due_at
        who = "nobody available" if target is None else f"{target.name} ({target.post})"
        comment = (
            f"{case.stage.value if case.stage else 'stage'} overdue by "
            f"{int(late.total_seconds() // 60)} min: escalated to {who}"
        )
        try:
            done.append(
                store.apply(
                    case.case_id,
                    Action.ESCALATE,
                    actor=ESCALATOR,
                    at=now,
                    comment=comment,
                    calendar=context.calendar,
                    catalog=context.catalog,
                    escalate_to=target,
                )
            )
        except (ConcurrentUpdateError, CaseError) as exc:
            log.info("case %s not escalated: %s", case.case_id, exc)
    return done


def warn_due_soon(
    store: Store, context: RoutingContext, *, now: datetime, within_hours: float
) -> int:
    """Notify each assignee whose running stage falls due within ``within_hours`` working
    hours (once per stage); returns how many notices were new."""
    end = context.calendar.add_working_hours(now, within_hours)
    soon = store.cases_due_between(now, end)
    notices = [due_soon_notice(c, within_hours=within_hours, now=now) for c in soon]
    return store.add_notices([(n, now) for n in notices if n is not None])


class EscalationLoop(PeriodicLoop):
    """Runs :func:`escalate_overdue` (and :func:`warn_due_soon`, when ``due_within_hours`` > 0)
    at start — catching up with everything overdue — and every ``every`` seconds until stopped."""

    def __init__(
        self,
        store: Store,
        context: RoutingContext,
        *,
        every: float,
        clock: Callable[[], datetime],
        due_within_hours: float = 0.0,
    ) -> None:
        def step() -> None:
            escalated = escalate_overdue(store, context, now=clock())
            if escalated:
                log.info("escalated %d overdue stage(s)", len(escalated))
            if due_within_hours > 0:
                warn_due_soon(store, context, now=clock(), within_hours=due_within_hours)

        super().__init__(step, every=every, name="gridmgr-escalator")
