"""The ``gridmgr`` command line: serve the command center, and work with grids, rosters and routing.

Every command prints a clear message and exits non-zero on bad input; no stack trace reaches a
user (``--debug`` shows one).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from gridmgr.cli.access import access_log, apikey, token
from gridmgr.cli.accounts import account
from gridmgr.cli.appeals import assess_appeal, assess_appeals, assess_decide
from gridmgr.cli.assess import assess
from gridmgr.cli.check import check
from gridmgr.cli.common import console, err_console, print_problems, settings_of
from gridmgr.cli.display import display
from gridmgr.cli.dossier import case
from gridmgr.cli.grid import grid
from gridmgr.cli.inspect import inspect
from gridmgr.cli.intake import intake
from gridmgr.cli.patrol import patrol
from gridmgr.cli.powers import powers
from gridmgr.cli.responsibility import calendar, catalog, roster, route
from gridmgr.cli.simulate import simulate
from gridmgr.cli.store import db, db_option, db_url, escalate, ledger, opened_store
from gridmgr.errors import GridMgrError, InvalidTableError
from gridmgr.settings import Settings

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where gridmgr keeps its data (default: the user data folder).",
)
@click.option("--debug", is_flag=True, help="Show a stack trace on errors.")
@click.version_option(package_name="gridmgr")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, debug: bool) -> None:
    """gridmgr: the grid-management command center."""
    ctx.obj = {"settings": Settings.from_env(data_dir=data_dir), "debug": debug}


# -- serve ----------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8050).")
@db_option
@click.option(
    "--escalate-every",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds between escalation passes (0: no escalation loop in this process).",
)
@click.option(
    "--demo/--no-demo",
    default=None,
    help="Demo mode (default on, or GRIDMGR_DEMO): a generated session key is acceptable. "
    "With --no-demo, GRIDMGR_SECRET_KEY must be set, and a database demo mode left open (a "
    "login with the demo password, the simulator's data) is refused; the first such start "
    "revokes the API tokens made during the demo.",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes sharing the port (Linux; e.g. the number of CPU cores).",
)
@click.option(
    "--simulate/--no-simulate",
    default=None,
    help="Run the demo simulator (default: in demo mode, when the database is new or was "
    "made by the simulator; GRIDMGR_SIMULATE).",
)
@click.option(
    "--simulate-speed",
    type=float,
    default=None,
    help="Demo simulator speed factor (default 1, GRIDMGR_SIMULATE_SPEED): more reports, "
    "faster responses.",
)
@click.option(
    "--role",
    type=click.Choice(["all", "web", "worker"]),
    default="all",
    show_default=True,
    help="What this node does when several share one PostgreSQL database: web (HTTP only), "
    "worker (background work only: escalation, deliveries, digests, the ledger watch, the "
    "simulator; no HTTP) or all.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    db: str | None,
    escalate_every: float,
    demo: bool | None,
    workers: int,
    simulate: bool | None,
    simulate_speed: float | None,
    role: str,
) -> None:
    """Start the command center on the embedded default (one process, one port).

    On first start it creates the SQLite database in the data folder and the demo roster; it
    escalates overdue stages in the background. In demo mode on a new database the demo
    simulator brings the city to life: a few hours of history at once, then live activity.
    Several nodes may share one PostgreSQL database (``--role``; README "Several nodes").
    """
    from gridmgr.datafiles import load_roster, routing_context
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.responsibility.demo_roster import DEMO_PASSWORD
    from gridmgr.server import Prepared, serve_forever, wants_simulator
    from gridmgr.services.accounts import ensure_demo_logins
    from gridmgr.services.context import wall_clock
    from gridmgr.services.database import is_new_database, redact
    from gridmgr.services.demo import end_demo, refuse_demo_leftovers
    from gridmgr.services.reference import adopt_reference
    from gridmgr.web.sessions import secret_key_for

    if workers < 1:
        raise click.BadParameter("at least one worker", param_hint="--workers")
    if role == "worker" and workers > 1:
        raise click.BadParameter(
            "a worker node serves no HTTP: it runs one process (leave --workers out)",
            param_hint="--workers",
        )
    settings = settings_of(ctx).with_overrides(
        host=host, port=port, demo=demo, simulate=simulate, simulate_speed=simulate_speed
    )
    # a missing session key outside demo mode fails here, before anything is started
    secret = secret_key_for(settings.data_dir, settings.secret_key, demo=settings.demo)
    grid = load_current_grid(settings)
    roster = load_roster(settings, grid)  # the demo roster is generated on first start
    context = routing_context(settings, grid).warm()
    url = db_url(ctx, db)
    fresh = is_new_database(url)
    with opened_store(ctx, db, create=True) as store:  # closed: each worker opens its own
        ended = None
        if not settings.demo:  # a database demo mode left open is refused before anything runs
            refuse_demo_leftovers(store, now=wall_clock(), data_dir=str(settings.data_dir))
            ended = end_demo(store, now=wall_clock())
        # the database wins: this node's data folder only seeds a new one
        context = adopt_reference(
            store, grid=grid, context=context, at=wall_clock(), actor="system:serve"
        )
        roster = context.roster
        logins = ensure_demo_logins(store, context.roster, at=wall_clock()) if settings.demo else []
        simulating = wants_simulator(settings, store, fresh=fresh)
    console.print(
        f"gridmgr serving grid {grid.generation_id} "
        f"({grid.counts[1]} / {grid.counts[2]} / {grid.counts[3]} cells), roster of "
        f"{len(roster.persons)} persons (as the database holds it), database {redact(url)}, "
        f"{workers} worker process(es)"
    )
    if role == "worker":
        console.print("worker node: background work only, no HTTP (Ctrl-C to stop)")
    else:
        console.print(f"open http://{settings.host}:{settings.port}/  (Ctrl-C to stop)")
    if ended is not None:
        console.print(f"demo mode ended: {ended} API token(s) and api_key(s) of the demo revoked")
    if logins:
        console.print(f"demo logins at /login (password {DEMO_PASSWORD}; demo mode only):")
        for label, person in logins:
            console.print(f"  {label:<24} {person.person_id}  {person.name}")
    if simulating:
        console.print(
            f"demo simulator on (speed {settings.simulate_speed:g}; --no-simulate to turn it off): "
            "reports, case work and patrols appear within a minute"
        )
    prepared = Prepared(
        settings, grid, context, url, secret, escalate_every, simulate=simulating, role=role
    )
    serve_forever(prepared, workers=workers)


for command in (grid, roster, catalog, calendar, route, db, ledger, escalate, token, apikey):
    cli.add_command(command)
cli.add_command(account)
cli.add_command(access_log)
cli.add_command(simulate)
cli.add_command(patrol)
cli.add_command(inspect)
cli.add_command(intake)
cli.add_command(check)
cli.add_command(powers)
for _command in (assess_appeal, assess_decide, assess_appeals):
    assess.add_command(_command)
cli.add_command(assess)
cli.add_command(case)
cli.add_command(display)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridmgr`` console script."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="gridmgr", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GridMgrError as exc:
        if debug:
            raise
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        if isinstance(exc, InvalidTableError):
            print_problems(exc.problems)
        sys.exit(1)
    except Exception as exc:  # a bug: say so plainly, and how to see the details
        if debug:
            raise
        err_console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {escape(str(exc))}\n"
            "run again with --debug for the details and report it"
        )
        sys.exit(70)
