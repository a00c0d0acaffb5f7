"""The demo simulator: a seeded city of reporters, operators and grid workers acting through the
service layer, fast (``gridmgr simulate``) or in real time (``gridmgr serve`` in demo mode).

:class:`Simulator` keeps a queue of future steps in simulated time. :meth:`Simulator.advance`
moves it to a given moment: it draws Poisson arrivals (:mod:`gridmgr.simulation.activity`),
reports them, runs every step that falls due — operators register, reject and dispatch, workers
sign for, return, request deferrals (which their approver approves) and handle, operators
verify, reopen, close and evaluate, each with a
realistic delay measured against the stage's SLA (a share of stages finish late) — runs an
escalation pass every ``escalate_every``, and writes workers' patrol walks
(:mod:`gridmgr.simulation.walks`) as they happen. Every change goes through
:func:`gridmgr.services.act`, :func:`gridmgr.services.escalate_overdue`, the report path of
:func:`gridmgr.services.report_incident` and :meth:`gridmgr.store.Store.record_patrol_batches`,
with roster persons as actors, so the ledger stays valid and every rule of the loop holds.

The simulator never reads the clock: :meth:`advance` is told what time it is. The same seed,
start and sequence of :meth:`advance` calls give the same ledger, byte for byte.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np

from gridmgr.cases import (
    Action,
    Actor,
    Assignee,
    Case,
    CaseError,
    CaseState,
    Role,
)
from gridmgr.errors import CaseNotFoundError, ConcurrentUpdateError
from gridmgr.grid.datum import Datum, wgs84_to_gcj02
from gridmgr.intake.channels import Channel as IntakeChannel
from gridmgr.intake.open311 import ServiceRequestForm
from gridmgr.responsibility.roster import COMMAND_CENTER, PostKind, field_post
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.responsibility.sla import Clock, Span
from gridmgr.services.actions import act
from gridmgr.services.escalation import escalate_overdue, hand_over
from gridmgr.services.patrols import record_batches
from gridmgr.services.reports import Reported, report_incident
from gridmgr.simulation.activity import (
    ActivityModel,
    Arrival,
    ArrivalModel,
    Channel,
    arrival_times,
    lateness,
    response_fraction,
)
from gridmgr.simulation.habits import Habits
from gridmgr.simulation.texts import COMMENTS, describe
from gridmgr.simulation.walks import walk_in_cell
from gridmgr.store import CaseFilter, PatrolBatch, Store

log = logging.getLogger(__name__)

SIMULATOR_ACTOR = "system:simulator"
MARKER_KIND = "demo.simulator"
"""The ledger event kind that marks a database as driven by the simulator (synthetic data)."""
HOTLINE = Actor("apikey:demo-12345", Role.PARTNER, "12345 热线（模拟合作系统）")
"""The Open311 partner the simulated hotline reports come from."""
DEFER_BY = Span(1, "d")
LIVE_REPORTS_PER_DAY = 3000.0
"""The live demo's default volume: a few reports a minute in the busy hours."""

_ROLE_OF_POST = {
    PostKind.GRID_WORKER.value: Role.WORKER,
    PostKind.GRID_HEAD.value: Role.HEAD,
    PostKind.TOWN_LEADER.value: Role.LEADER,
    PostKind.OPERATOR.value: Role.OPERATOR,
    PostKind.UNIT_LEADER.value: Role.MANAGER,
}
_OWN_STEP = frozenset(
    {Action.ACCEPT, Action.RETURN, Action.START, Action.REQUEST_DEFER, Action.HANDLE}
)


@dataclass(order=True)
class _Step:
    at: datetime
    seq: int
    action: Action = field(compare=False)
    case: Case | None = field(compare=False)


@dataclass
class _Walk:
    person_id: str
    times: list[datetime]
    lon: np.ndarray
    lat: np.ndarray
    written: int = 0


class Simulator:
    """Seeded activity over a store, advanced in simulated time by :meth:`advance`.

    Parameters
    ----------
    start
        The simulated time to start from (aware).
    escalate_every
        How often to run an escalation pass; ``None`` when someone else escalates (the server's
        escalation loop).
    speed
        Live demo acceleration: arrival rates are multiplied and on-time response delays divided
        by it (deadlines, and so lateness, stay real).
    patrol_flush
        How much simulated time of walks to gather into one batch per worker.
    """

    def __init__(
        self,
        store: Store,
        context: RoutingContext,
        *,
        seed: int,
        start: datetime,
        model: ActivityModel | None = None,
        escalate_every: timedelta | None = timedelta(minutes=5),
        speed: float = 1.0,
        patrols: bool = True,
        patrol_flush: timedelta = timedelta(hours=1),
    ) -> None:
        if start.tzinfo is None:
            raise CaseError(
                "the simulator's start must be aware (tzinfo=gridmgr.responsibility.calendar.TZ)"
            )
        if speed <= 0:
            raise CaseError(f"speed must be positive, got {speed}")
        self.store, self.context = store, context
        self.model = model or ActivityModel()
        self.arrivals = ArrivalModel(context.grid, context.catalog, seed=seed, model=self.model)
        self.seed, self.speed, self.patrols = seed, speed, patrols
        self.escalate_every = escalate_every
        self.patrol_flush = patrol_flush
        self.now = start.astimezone(context.calendar.tz)
        self.tally: Counter[str] = Counter()
        self._rng = np.random.default_rng([seed, 1])
        self._ids = random.Random(f"gridmgr-simulator-{seed}")
        self._seq = itertools.count()
        # a heap of (at, seq, step): tuples compare in C, a dataclass's __lt__ in Python
        self._steps: list[tuple[datetime, int, _Step]] = []
        self._next_escalation = self.now if escalate_every is not None else None
        self._walks: list[_Walk] = []
        self._planned_days: set[date] = set()
        self._last_flush = self.now
        self._geoms = dict(zip(self.arrivals.codes, self.arrivals.geoms, strict=True))
        # each worker's habits, diligent to careless: how often and how long he walks, how much
        # he finds before residents call, how often he is late (the blind spots and the ranks
        # a manager should find)
        self.habits = Habits(seed, self.model)

    # -- driving ------------------------------------------------------------------------------

    def advance(self, until: datetime, *, stop: Callable[[], bool] | None = None) -> None:
        """Run everything that happens from :attr:`now` up to ``until``, in time order."""
        until = until.astimezone(self.context.calendar.tz)
        chunk = timedelta(minutes=10)
        while self.now < until:
            if stop is not None and stop():
                return
            self._advance_to(min(until, self.now + chunk))

    def adopt_open_cases(self, *, limit: int = 5000) -> int:
        """Plan the next step of open cases already in the store (a restarted demo)."""
        found = self.store.cases(CaseFilter(open_only=True), limit=limit)
        for case in sorted(found, key=lambda c: (c.reported_at, c.case_id)):
            self._plan(case, max(self.now, case.updated_at))
        return len(found)

    def _advance_to(self, until: datetime) -> None:
        per_day = self.model.reports_per_day * self.speed
        for at in arrival_times(self._rng, self.now, until, per_day=per_day):
            self._push(at, Action.REPORT, None)
        if self.patrols:
            self._plan_walks(until)
        while True:
            step_at = self._steps[0][0] if self._steps else None
            esc_at = self._next_escalation
            if esc_at is not None and esc_at < until and (step_at is None or esc_at <= step_at):
                self._escalate(esc_at)
                assert self.escalate_every is not None
                self._next_escalation = esc_at + self.escalate_every
                continue
            if step_at is None or step_at >= until:
                break
            _, _, step = heapq.heappop(self._steps)
            self._run(step)
        self.now = until
        if self.patrols and until - self._last_flush >= self.patrol_flush:
            self._flush_walks(until)

    def stop_escalating(self) -> None:
        """Leave escalation to someone else from now on (the server's escalation loop)."""
        self.escalate_every = None
        self._next_escalation = None

    def flush(self) -> None:
        """Write the walked points up to :attr:`now` (at the end of a run)."""
        if self.patrols:
            self._flush_walks(self.now)

    def _push(self, at: datetime, action: Action, case: Case | None) -> None:
        seq = next(self._seq)
        heapq.heappush(self._steps, (at, seq, _Step(at, seq, action, case)))

    def _escalate(self, at: datetime) -> None:
        hand_over(self.store, self.context, now=at)  # the server's loop does both, too
        done = escalate_overdue(self.store, self.context, now=at)
        self.tally["escalate"] += len(done)

    # -- steps --------------------------------------------------------------------------------

    def _run(self, step: _Step) -> None:
        if step.case is None:
            self._report(step.at)
            return
        try:
            case = self._act(step.case, step.action, step.at)
        except (CaseError, ConcurrentUpdateError, CaseNotFoundError) as exc:
            # someone else (a real user, in a live demo) moved the case: follow it as it is now
            log.debug("simulated %s on %s refused: %s", step.action.value, step.case.case_id, exc)
            self.tally["refused"] += 1
            try:
                case = self.store.case(step.case.case_id)
            except CaseNotFoundError:
                return
            if case.state.is_open:  # never leave a case without its next step (it would rot)
                self._plan(case, step.at)
            return
        self.tally[step.action.value] += 1
        self._plan(case, step.at)

    def _report(self, at: datetime) -> None:
        arrival = self.arrivals.draw(self._rng, at)
        arrival = self.habits.found_by(self._rng, arrival, self.context.roster)
        reporter = self._reporter(arrival)
        category = self.context.catalog.category(arrival.category)
        lon, lat, datum = arrival.lon, arrival.lat, arrival.datum
        if datum is Datum.GCJ02:
            glon, glat = wgs84_to_gcj02(lon, lat)
            lon, lat = float(glon), float(glat)
        if reporter is HOTLINE:
            # the partner's form, checked by the Open311 mapping exactly as the endpoint does
            form = ServiceRequestForm(
                api_key="demo",
                service_code=category.code,
                lat=lat,
                long=lon,
                description=describe(self._ids, arrival, category.name_zh),
            )
            assert form.lat is not None
            assert form.long is not None
            description = form.description or category.name_zh
            lon, lat = form.long, form.lat
        else:
            description = describe(self._ids, arrival, category.name_zh)
        reported = self._open(reporter, arrival, category.code, description, lon, lat, datum)
        self.tally["report"] += 1
        self.tally[f"report:{arrival.channel}"] += 1
        if reported.decision.cell_path is None:
            self.tally["out_of_grid"] += 1
        self._plan(reported.case, at)

    def _open(
        self,
        reporter: Actor,
        arrival: Arrival,
        category: str,
        description: str,
        lon: float,
        lat: float,
        datum: Datum,
    ) -> Reported:
        """Report through :func:`gridmgr.services.report_incident`, with a case id drawn from
        the seed (so a seed gives the same ledger)."""
        return report_incident(
            self.store,
            self.context,
            reporter=reporter,
            category=category,
            at=arrival.at,
            description=description,
            lon=lon,
            lat=lat,
            datum=datum,
            case_id=f"{self._ids.getrandbits(128):032x}",
            channel=_INTAKE_CHANNEL[arrival.channel],
        )

    def _reporter(self, arrival: Arrival) -> Actor:
        if arrival.channel == Channel.OPEN311:
            return HOTLINE
        if arrival.channel == Channel.WORKER and arrival.cell is not None:
            person = self.context.roster.owner(field_post(arrival.cell), arrival.at)
            if person is not None:
                return Actor(person.person_id, Role.WORKER, person.name)
        return self._operator(arrival.at)

    def _operator(self, at: datetime, *, besides: str | None = None) -> Actor:
        roster = self.context.roster
        crew = [p for p in roster.on_duty(at) if p.person_id != besides]
        if not crew:
            held = sorted(a.person_id for a in roster.holders(COMMAND_CENTER, at))
            crew = [roster.persons[p] for p in held if p != besides]
        if not crew:
            raise CaseError(f"no command-center operator on the roster at {at.isoformat()}")
        person = crew[int(self._rng.integers(len(crew)))]
        return Actor(person.person_id, Role.OPERATOR, person.name)

    def _plan(self, case: Case, now: datetime) -> None:
        """Schedule the next step of ``case`` from its state (nothing when it is finished)."""
        m, rng, s = self.model, self._rng, case.state

        def soon(lo: float, hi: float) -> datetime:
            return now + timedelta(minutes=float(rng.uniform(lo, hi)) / self.speed)

        if s is CaseState.REPORTED:
            reject = case.cell is None or rng.random() < m.reject_share
            self._push(
                self._desk_time(case, now), Action.REJECT if reject else Action.REGISTER, case
            )
        elif s in (CaseState.REGISTERED, CaseState.RETURNED):
            self._push(self._desk_time(case, now), Action.DISPATCH, case)
        elif s is CaseState.DISPATCHED:
            own = case.assignee is not None and case.assignee.post.startswith("grid_worker:")
            back = own and case.return_count == 0 and rng.random() < m.return_share
            self._push(self._stage_time(case, now), Action.RETURN if back else Action.ACCEPT, case)
        elif s is CaseState.ACCEPTED:
            self._push(soon(2, 30), Action.START, case)
        elif s is CaseState.IN_PROGRESS:
            if case.deferral is not None:  # the approver the rules picked decides
                self._push(soon(10, 120), Action.APPROVE_DEFER, case)
            elif case.deferrals == 0 and rng.random() < m.defer_share:
                self._push(self._stage_time(case, now, on_time=True), Action.REQUEST_DEFER, case)
            else:
                self._push(self._stage_time(case, now), Action.HANDLE, case)
        elif s is CaseState.HANDLED:
            again = case.reopen_count < 2 and rng.random() < m.reopen_share
            self._push(self._stage_time(case, now), Action.REOPEN if again else Action.VERIFY, case)
        elif s is CaseState.VERIFIED:
            self._push(self._desk_time(case, now), Action.CLOSE, case)
        elif s is CaseState.CLOSED and rng.random() < m.evaluate_share:
            self._push(soon(60, 24 * 60), Action.EVALUATE, case)

    def _desk_time(self, case: Case, now: datetime) -> datetime:
        """When the command center takes its step: the crew on shift works around the clock, so
        within minutes (or, a share of them, late on the stage's own clock)."""
        planned = self._stage_time(case, now)
        if case.due_at is not None and planned > case.due_at:
            return planned  # one of the late ones
        quick = now + timedelta(minutes=float(self._rng.uniform(2, 25)) / self.speed)
        return min(planned, quick)

    def _stage_time(self, case: Case, now: datetime, *, on_time: bool = False) -> datetime:
        """When the running stage's step happens: within its deadline, or a share of them late."""
        start, due = case.stage_started_at or now, case.due_at
        if due is None:
            return now + timedelta(minutes=30)
        category = self.context.catalog.category(case.category)
        calendar = self.context.calendar
        working = category.clock is Clock.WORKING
        late_share = self.habits.late_share(case, self.model.late_share)
        if not on_time and self._rng.random() < late_share:
            span = category.sla[case.stage] if case.stage is not None else None
            allowed = timedelta(hours=span.hours(hours_per_day=8)) if span else due - start
            return max(now, due) + lateness(self._rng, allowed)
        frac = response_fraction(self._rng) / self.speed
        if working:
            hours = calendar.working_hours_between(start, due)
            at = calendar.add_working_hours(start, max(hours * frac, 1 / 60))
        else:
            at = start + (due - start) * frac
        return max(at, now + timedelta(minutes=1))

    def _act(self, case: Case, action: Action, at: datetime) -> Case:
        ctx, rng = self.context, self._rng
        comment = COMMENTS[action]
        kwargs: dict[str, object] = {}
        if action in _OWN_STEP:
            assert case.assignee is not None
            kind = case.assignee.post.partition(":")[0]
            actor = Actor(
                case.assignee.person_id, _ROLE_OF_POST.get(kind, Role.WORKER), case.assignee.name
            )
            if action is Action.REQUEST_DEFER:
                kwargs = {"extend": DEFER_BY}
        elif action is Action.APPROVE_DEFER and case.deferral is not None:
            approver = case.deferral.approver
            kind = approver.post.partition(":")[0]
            actor = Actor(approver.person_id, _ROLE_OF_POST.get(kind, Role.HEAD), approver.name)
        elif action in (Action.VERIFY, Action.REOPEN):
            actor = self._operator(at, besides=case.handler)
        else:
            actor = self._operator(at)
        if action is Action.REJECT and case.cell is None:
            comment = "位置不在本市网格范围内，不予立案，已告知报告人向属地反映"
        elif action is Action.DISPATCH and case.state is CaseState.RETURNED:
            kwargs = {"assignee": self._head_of(case, at)}
            comment = "原网格员退回，改派网格长统筹处置"
        elif action is Action.EVALUATE:
            kwargs = {"rating": int(rng.choice([5, 4, 3, 2], p=[0.55, 0.3, 0.1, 0.05]))}
        return act(
            self.store,
            ctx,
            case.case_id,
            action,
            actor=actor,
            at=at,
            comment=comment,
            **kwargs,  # type: ignore[arg-type]
        )

    def _head_of(self, case: Case, at: datetime) -> Assignee | None:
        if case.cell is None:
            return None
        parent = self.context.grid.cell_to_parent(case.cell)
        if parent is None:
            return None
        post = field_post(parent)
        person = self.context.roster.owner(post, at)
        return None if person is None else Assignee(person.person_id, post.key, person.name)

    # -- patrols ------------------------------------------------------------------------------

    def _plan_walks(self, until: datetime) -> None:
        """Plan each working day's walks once, when the simulation gets past its midnight."""
        day = self.now.date()
        last = (until - timedelta(microseconds=1)).date()
        while day <= last:
            if day not in self._planned_days:
                self._planned_days.add(day)
                self._walks.extend(self._day_walks(day))
            day += timedelta(days=1)

    def _day_walks(self, day: date) -> list[_Walk]:
        calendar, roster, m = self.context.calendar, self.context.roster, self.model
        tz = calendar.tz
        noon = datetime.combine(day, time(12, 0), tzinfo=tz)
        if not calendar.is_working_time(datetime.combine(day, time(10, 0), tzinfo=tz)):
            return []
        rng = np.random.default_rng([self.seed, 2, day.toordinal()])
        walks = []
        for code in self.arrivals.codes:
            person = roster.owner(field_post(code), noon)
            habit = self.habits.of(person.person_id) if person is not None else None
            if person is None or habit is None or rng.random() >= habit.patrol_share:
                continue
            morning = rng.random() < 0.6
            hour = float(rng.uniform(8.6, 10.5) if morning else rng.uniform(13.6, 15.0))
            start = datetime.combine(day, time(0, 0), tzinfo=tz) + timedelta(hours=hour)
            duration = timedelta(minutes=float(rng.uniform(*habit.walk_minutes)))
            times, lon, lat = walk_in_cell(
                rng,
                self._geoms[code],
                start=start,
                duration=duration,
                every=m.patrol_point_every,
                speed_mps=m.walking_speed_mps,
            )
            walks.append(_Walk(person.person_id, times, lon, lat))
        return walks

    def _flush_walks(self, until: datetime) -> None:
        batches, keep = [], []
        for w in self._walks:
            end = bisect.bisect_right(w.times, until, lo=w.written)  # times in order
            if end > w.written:
                batches.append(
                    PatrolBatch(
                        w.person_id,
                        w.times[w.written : end],
                        w.lon[w.written : end].tolist(),
                        w.lat[w.written : end].tolist(),
                        source="simulator",
                    )
                )
                w.written = end
            if w.written < len(w.times):
                keep.append(w)
        self._walks = keep
        self._last_flush = until
        if batches:
            self.tally["patrol_points"] += record_batches(
                self.store, self.context.grid, batches, at=until, actor=SIMULATOR_ACTOR
            )


_INTAKE_CHANNEL = {
    Channel.WORKER: IntakeChannel.GRID_WORKER.value,
    Channel.OPEN311: IntakeChannel.HOTLINE.value,  # 12345 calls, through its partner system
    Channel.OPERATOR: IntakeChannel.CITIZEN.value,  # a resident calling the command center's desk
}
"""The intake channel recorded on a simulated case (主动发现率 counts the grid workers' own)."""


def mark_database(store: Store, *, at: datetime, details: dict[str, object]) -> None:
    """Record in the ledger that the simulator writes synthetic data into this database."""
    store.record(at=at, kind=MARKER_KIND, actor=SIMULATOR_ACTOR, subject="demo", details=details)


def is_simulated(store: Store) -> bool:
    """Whether the simulator has ever written into this database (its ledger marker)."""
    return store.has_ledger_event(MARKER_KIND)


class SimulatorLoop:
    """The live demo: a daemon thread that backfills recent history, then follows the clock.

    On start it marks the database, adopts open cases left by an earlier run, then advances the
    simulator to "now" every ``every`` seconds. With an empty database the simulator starts
    ``backfill`` before now, so the map is busy from the first minute.
    """

    def __init__(
        self,
        store: Store,
        context: RoutingContext,
        *,
        clock: Callable[[], datetime],
        seed: int,
        speed: float = 1.0,
        backfill: timedelta = timedelta(hours=6),
        escalate: bool = False,
        every: float = 2.0,
        model: ActivityModel | None = None,
    ) -> None:
        self._store, self._context, self._clock = store, context, clock
        self._seed, self._speed, self._backfill = seed, speed, backfill
        self._escalate, self._every = escalate, every
        self._model = model or ActivityModel(reports_per_day=LIVE_REPORTS_PER_DAY)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gridmgr-simulator", daemon=True)
        self.simulator: Simulator | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for the running step to finish."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            now = self._clock()
            empty = self._store.count_cases() == 0
            start = now - self._backfill if empty else now
            sim = Simulator(
                self._store,
                self._context,
                seed=self._seed,
                start=start,
                model=self._model,
                speed=1.0,  # history at the natural pace; live at the demo's speed
                # the backfill escalates itself; live, the server's escalation loop does
                escalate_every=timedelta(minutes=5),
                patrol_flush=timedelta(minutes=1),
            )
            self.simulator = sim
            mark_database(
                self._store,
                at=now,
                details={"seed": self._seed, "speed": self._speed, "start": start.isoformat()},
            )
            adopted = 0 if empty else sim.adopt_open_cases()
            log.info("demo simulator from %s (adopted %d open cases)", start, adopted)
        except Exception:
            log.exception("the demo simulator could not start")
            return
        backfilling = True
        while not self._stop.is_set():
            try:
                sim.advance(self._clock(), stop=self._stop.is_set)
                sim.flush()
                if backfilling:
                    backfilling = False
                    sim.speed = self._speed
                    if not self._escalate:
                        sim.stop_escalating()
            except Exception:  # a bad step must not end the demo; the next round goes on
                log.exception("demo simulator step failed")
            self._stop.wait(self._every)
