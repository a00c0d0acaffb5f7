"""``gridmgr simulate``: fill a database with seeded, realistic history via the service layer."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from gridmgr.cli.common import console, settings_of
from gridmgr.cli.store import db_option, db_url, opened_store

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.ledger import LedgerEvent
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.services.database import Store
    from gridmgr.services.simulator import Simulator
    from gridmgr.simulation.activity import ActivityModel


@click.command()
@click.option("--days", type=float, default=30.0, show_default=True, help="Days of history.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed.")
@db_option
@click.option(
    "--end",
    "end_text",
    default=None,
    help="End of the simulated period: '2026-11-01 00:00' (Beijing time) or ISO 8601 "
    "(default: today 00:00, Beijing time).",
)
@click.option(
    "--per-day",
    type=float,
    default=1000.0,
    show_default=True,
    help="Mean number of reports a day, city-wide.",
)
@click.option(
    "--speed",
    type=float,
    default=None,
    help="Replay paced at SPEED times real time (60: an hour a minute) instead of at full speed.",
)
@click.option("--patrols/--no-patrols", default=True, show_default=True, help="Simulate walks.")
@click.pass_context
def simulate(
    ctx: click.Context,
    days: float,
    seed: int,
    db: str | None,
    end_text: str | None,
    per_day: float,
    speed: float | None,
    patrols: bool,
) -> None:
    """Write DAYS days of simulated activity ending at --end into the database: reports (some
    by Open311, some outside the grid), the whole case loop with late stages and escalations,
    returns, deferrals, reopenings, and patrol walks.

    Everything goes through the service layer with roster persons as actors, so the ledger
    verifies afterwards. The same --seed and --end give the same ledger. The database is
    marked as holding synthetic data (a demo.simulator ledger event).
    """
    from gridmgr.datafiles import routing_context
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.services.database import redact
    from gridmgr.simulation.activity import ActivityModel

    if days <= 0:
        raise click.BadParameter("must be positive", param_hint="--days")
    if speed is not None and speed <= 0:
        raise click.BadParameter("must be positive", param_hint="--speed")
    start, end = _period(days, end_text)
    settings = settings_of(ctx)
    grid = load_current_grid(settings)
    context = routing_context(settings, grid).warm()
    with opened_store(ctx, db, create=True) as store:
        began = time.perf_counter()
        before, sim = _start(
            store,
            grid,
            context,
            start=start,
            seed=seed,
            model=ActivityModel(reports_per_day=per_day),
            patrols=patrols,
            details={"seed": seed, "days": days, "per_day": per_day, "end": end.isoformat()},
        )
        _replay(sim, start=start, end=end, speed=speed)
        head = store.ledger_head()
        states = Counter(
            c.state.value for c in store.cases(limit=10**9) if start <= c.reported_at < end
        )
    took = time.perf_counter() - began
    events = (head.seq if head else 0) - (before.seq if before else 0)
    tally = sim.tally
    console.print(
        f"simulated {days:g} days ({start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}, seed {seed}) "
        f"into {redact(db_url(ctx, db))} in {took:.1f} s"
    )
    console.print(
        f"  {tally['report']} reports ({tally['report:open311']} by Open311, "
        f"{tally['out_of_grid']} outside the grid), {tally['escalate']} escalations, "
        f"{tally['return']} returns, {tally['approve_defer']} deferrals, "
        f"{tally['reopen']} reopenings, "
        f"{tally['patrol_points']} patrol points; {events} ledger events"
    )
    console.print("  cases by state: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    console.print(
        f"  head of the ledger: seq {head.seq if head else 0} {head.hash if head else ''}"
    )


def _period(days: float, end_text: str | None) -> tuple[datetime, datetime]:
    """(start, end) of the simulated period: ``days`` days up to ``end_text``, else up to
    today 00:00 in Beijing time."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.responsibility.roster_files import parse_time

    if end_text:
        end = parse_time(end_text)
    else:
        end = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def _start(
    store: Store,
    grid: Grid,
    context: RoutingContext,
    *,
    start: datetime,
    seed: int,
    model: ActivityModel,
    patrols: bool,
    details: dict[str, object],
) -> tuple[LedgerEvent | None, Simulator]:
    """Copy the reference data in, mark the database as simulated (with ``details``), and make
    the simulator; returns the head of the ledger before the mark, and the simulator."""
    from gridmgr.services.reference import sync_reference
    from gridmgr.services.simulator import SIMULATOR_ACTOR, Simulator, mark_database

    sync_reference(store, grid=grid, context=context, at=start, actor=SIMULATOR_ACTOR)
    before = store.ledger_head()
    mark_database(store, at=start, details=details)
    return before, Simulator(store, context, seed=seed, start=start, model=model, patrols=patrols)


BATCH_HOURS = 6
"""At full speed, the hours of history written in one transaction.

Each commit writes every page it changed to the WAL and then into the database file, and an
hour of walks changes a leaf page of the points' indexes for each of some 3,000 people and
cells, the same pages the next hour changes again: six hours a commit write them once, not six
times. Longer holds SQLite's write lock for more seconds at a time (another process's writer
waits, up to its busy timeout), for little more gain."""


def _replay(sim: Simulator, *, start: datetime, end: datetime, speed: float | None) -> None:
    """Advance ``sim`` hour by hour from ``start`` to ``end`` with a progress bar; paced at
    ``speed`` times real time when given, else at full speed, :data:`BATCH_HOURS` hours a
    :meth:`~gridmgr.store.Store.batch` (the ledger is the same either way)."""
    hours = max(1, int((end - start) / timedelta(hours=1) + 0.999))
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.fields[when]}  {task.fields[cases]} cases"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("simulate", total=hours, when="", cases=0)
        paced = time.monotonic()
        with ExitStack() as batch:
            for h in range(hours):
                target = min(end, start + timedelta(hours=h + 1))
                if speed is not None:
                    wait = paced + (target - start).total_seconds() / speed - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                elif h % BATCH_HOURS == 0:
                    # at full speed hours of history are one transaction (one fsync, not
                    # thousands); paced, every change commits on its own, as in production
                    batch.close()
                    batch.enter_context(sim.store.batch())
                sim.advance(target)
                bar.update(
                    task, advance=1, when=f"{target:%Y-%m-%d %H:%M}", cases=sim.tally["report"]
                )
        sim.flush()
