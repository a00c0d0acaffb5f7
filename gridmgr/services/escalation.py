"""The 督办 ladder: overdue stages climb rung by rung, each rung a named person with his own clock.

A pass (:func:`escalate_overdue`) takes every open stage whose deadline (or whose current rung's
deadline) has passed and moves it **one** rung up (:func:`gridmgr.services.holders.next_rung`):
the rung's person becomes the case's holder, with a deadline of his own (:data:`LADDER_SPANS`,
working time, per rung), and the rung is one ledger event and a notice to him and the assignee
(the store's outbox, :func:`gridmgr.notifications.notices_for_event`). 黄牌 marks the first
rung, 红牌 the top (nobody above); a stage at the top climbs no further. A pass never skips a
rung (each rung's clock starts when it is reached) and never fires one twice (the state
machine and the store's version check refuse it), from any number of processes.

A pass also hands the command center's open work over at a shift change
(:func:`hand_over`) and warns of stages falling due (:func:`warn_due_soon`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from gridmgr.cases import Action, Actor, Case, CaseError, Role
from gridmgr.errors import ConcurrentUpdateError
from gridmgr.notifications import due_soon_notice
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.responsibility.sla import Span
from gridmgr.services.holders import ladder, next_rung
from gridmgr.services.loops import PeriodicLoop
from gridmgr.store import Store

log = logging.getLogger(__name__)


ESCALATOR = Actor("system:escalator", Role.SYSTEM, "自动升级")
"""The actor every automatic escalation is recorded under."""

LADDER_SPANS: tuple[Span, ...] = (Span(2, "h"), Span(4, "h"), Span(1, "d"))
"""How long each rung gives its person, in working time: the first rung 2 h, the second 4 h,
the third and any above one working day (``GRIDMGR_LADDER_SPANS`` sets them)."""


def rung_span(spans: Sequence[Span], rung: int) -> Span:
    """The span of rung ``rung`` (1 = the first); the last span serves every higher rung."""
    return spans[min(rung, len(spans)) - 1]


def escalate_overdue(
    store: Store,
    context: RoutingContext,
    *,
    now: datetime,
    spans: Sequence[Span] = LADDER_SPANS,
) -> list[Case]:
    """Move every overdue stage (or rung) one rung up the ladder; returns the escalated cases.

    Safe to run often, from several processes, and after downtime: each pass climbs at most one
    rung per case, and each rung's own clock must run out before the next.
    """
    done: list[Case] = []
    for case in store.to_escalate(now):
        target = next_rung(context, case, now)
        assert case.due_at is not None
        late = now - case.due_at
        rung = case.rung + 1
        who = "nobody above" if target is None else f"{target.name} ({target.post})"
        stage = case.stage.value if case.stage else "stage"
        minutes = int(late.total_seconds() // 60)
        comment = f"{stage} overdue by {minutes} min: escalated to {who} (督办 rung {rung})"
        last = target is None or not ladder(context, replace(case, holder=target))
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
                    rung_span=rung_span(spans, rung),
                    last_rung=last,
                )
            )
        except (ConcurrentUpdateError, CaseError) as exc:
            log.info("case %s not escalated: %s", case.case_id, exc)
    return done


def warn_due_soon(
    store: Store, context: RoutingContext, *, now: datetime, within_hours: float
) -> int:
    """Notify each holder whose running stage falls due within ``within_hours`` working
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
        spans: Sequence[Span] = LADDER_SPANS,
    ) -> None:
        def step() -> None:
            escalated = escalate_overdue(store, context, now=clock(), spans=spans)
            if escalated:
                log.info("escalated %d overdue stage(s)", len(escalated))
            if due_within_hours > 0:
                warn_due_soon(store, context, now=clock(), within_hours=due_within_hours)

        super().__init__(step, every=every, name="gridmgr-escalator")
