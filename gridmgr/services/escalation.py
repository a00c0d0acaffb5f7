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
from datetime import datetime, timedelta

from gridmgr.cases import Action, Actor, Assignee, Case, CaseError, Role
from gridmgr.errors import ConcurrentUpdateError
from gridmgr.notifications import digest_notice, due_soon_notice
from gridmgr.responsibility.calendar import WorkCalendar
from gridmgr.responsibility.chains import acting_for
from gridmgr.responsibility.roster import CENTER_LEADER, CITY_LEADER, COMMAND_CENTER, field_post
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


SHIFT = Actor("system:shift", Role.SYSTEM, "交接班")
"""The actor a shift handover is recorded under."""


def hand_over(store: Store, context: RoutingContext, *, now: datetime) -> int:
    """At a shift change, pass the command center's open work held by operators not on duty
    (or by nobody) to the crew on duty: each case to the least loaded of them, all in one
    交接班 (``shift.handover``) ledger event naming both sides and the cases. Returns how many
    cases moved (0 when nothing is held by the outgoing crew, or no crew is on duty).

    Safe from several processes: a case whose holder changed meanwhile is left alone.
    """
    crew = context.roster.on_duty(now)
    if not crew:
        return 0
    incoming = [p.person_id for p in crew]
    stale = store.desk_cases_not_held_by(incoming)
    if not stale:
        return 0
    load = store.open_stages_held(incoming)
    moves: list[tuple[str, str | None, Assignee]] = []
    for case in stale:
        person = min(crew, key=lambda p: (load.get(p.person_id, 0), p.person_id))
        load[person.person_id] = load.get(person.person_id, 0) + 1
        new = Assignee(person.person_id, COMMAND_CENTER.key, person.name)
        moves.append((case.case_id, None if case.holder is None else case.holder.person_id, new))
    outgoing = sorted({old for _, old, _ in moves if old is not None})
    details = {
        "outgoing": outgoing,
        "incoming": incoming,
        "holders": {case_id: new.person_id for case_id, _, new in moves},
    }
    return store.hand_over(moves, at=now, actor=SHIFT.actor_id, details=details)


def send_digests(store: Store, context: RoutingContext, *, now: datetime, days: int) -> int:
    """Once a day (the dedup key is the date), each leader — every town leader for his town,
    the command center's and the city's leader for the city — gets one notice listing the open
    cases in his scope untouched for ``days`` working days. Returns how many notices were new."""
    calendar = context.calendar
    before = _working_days_before(calendar, now, days)
    leaders: list[tuple[Assignee, tuple[str, ...] | None]] = []
    for town in context.grid.codes(1):
        post = field_post(town)
        person, _, _ = acting_for(context.roster, post, now, adjacency=context.adjacency)
        if person is not None:
            leaders.append((Assignee(person.person_id, post.key, person.name), (town,)))
    for seat in (CENTER_LEADER, CITY_LEADER):
        person, _, _ = acting_for(context.roster, seat, now)
        if person is not None:
            leaders.append((Assignee(person.person_id, seat.key, person.name), None))
    day = now.astimezone(calendar.tz).date().isoformat()
    notices = []
    for leader, scope in leaders:
        stale = store.untouched_cases(before, scope=scope)
        if stale:
            notices.append(digest_notice(leader, stale, day=day, days=days, now=now))
    return store.add_notices([(n, now) for n in notices])


def _working_days_before(calendar: WorkCalendar, now: datetime, days: int) -> datetime:
    """The time ``days`` working days before ``now`` (same time of day)."""
    at = now
    counted = 0
    while counted < days:
        at -= timedelta(days=1)
        if calendar.is_workday(at.astimezone(calendar.tz).date()):
            counted += 1
    return at


def warn_due_soon(
    store: Store, context: RoutingContext, *, now: datetime, within_hours: float
) -> int:
    """Notify each holder whose running stage falls due within ``within_hours`` working
    hours (once per stage); returns how many notices were new."""
    end = context.calendar.add_working_hours(now, within_hours)
    soon = store.cases_due_between(now, end)
    notices = [due_soon_notice(c, within_hours=within_hours, now=now) for c in soon]
    return store.add_notices([(n, now) for n in notices if n is not None])


DIGEST_HOUR = 8
"""The leaders' daily digest goes out with the first pass after 08:00 (Beijing time)."""


class EscalationLoop(PeriodicLoop):
    """Runs, at start — catching up with everything overdue — and every ``every`` seconds until
    stopped, each pass on the routing context ``reference`` gives then (a roster imported on
    another node counts from the next pass): the shift handover (:func:`hand_over`),
    :func:`escalate_overdue`, :func:`warn_due_soon` (when ``due_within_hours`` > 0) and, from
    08:00, the day's digests (:func:`send_digests`, once a day by their dedup keys)."""

    def __init__(
        self,
        store: Store,
        reference: Callable[[], RoutingContext],
        *,
        every: float,
        clock: Callable[[], datetime],
        due_within_hours: float = 0.0,
        spans: Sequence[Span] = LADDER_SPANS,
        digest_days: int = 3,
    ) -> None:
        def step() -> None:
            now = clock()
            context = reference()  # once a pass: the roster another node imported counts
            moved = hand_over(store, context, now=now)
            if moved:
                log.info("shift handover: %d case(s) to the crew on duty", moved)
            escalated = escalate_overdue(store, context, now=now, spans=spans)
            if escalated:
                log.info("escalated %d overdue stage(s)", len(escalated))
            if due_within_hours > 0:
                warn_due_soon(store, context, now=now, within_hours=due_within_hours)
            if now.astimezone(context.calendar.tz).hour >= DIGEST_HOUR:
                send_digests(store, context, now=now, days=digest_days)

        super().__init__(step, every=every, name="gridmgr-escalator")
