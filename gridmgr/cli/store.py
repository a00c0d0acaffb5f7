"""``gridmgr db``, ``gridmgr ledger`` and ``gridmgr escalate``: the database and its proof."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gridmgr.cli.common import console, err_console, settings_of

db_option = click.option(
    "--db",
    default=None,
    help="SQLite file or SQLAlchemy URL (postgresql+psycopg://USER:PASSWORD@HOST/DB); "
    "default: GRIDMGR_DB, else gridmgr.sqlite in the data folder.",
)


def db_url(ctx: click.Context, db: str | None) -> str:
    """The database URL for ``--db`` in this context (else the ``GRIDMGR_DB`` setting)."""
    from gridmgr.store import database_url

    settings = settings_of(ctx)
    return database_url(db or settings.db, data_dir=settings.data_dir)


# -- db -------------------------------------------------------------------------------------


@click.group()
def db() -> None:
    """Create, upgrade and check the database (SQLite by default, or PostgreSQL + PostGIS)."""


@db.command("init")
@db_option
@click.pass_context
def db_init(ctx: click.Context, db: str | None) -> None:
    """Create the database schema (or upgrade it), then load the current grid, roster and
    catalog from the data folder into it; safe to repeat.

    On PostgreSQL + PostGIS the cells and cases are then geometry tables QGIS opens directly.
    """
    _upgrade(ctx, db, verb="created")
    _sync(ctx, db)


@db.command("sync")
@db_option
@click.pass_context
def db_sync(ctx: click.Context, db: str | None) -> None:
    """Copy the data folder's current grid, roster and catalog into the database if changed."""
    _sync(ctx, db)


def _sync(ctx: click.Context, db: str | None) -> None:
    from gridmgr.cli.common import load_grid
    from gridmgr.datafiles import routing_context
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.store import open_store
    from gridmgr.store.reference import sync_reference

    grid = load_grid(ctx, None)
    context = routing_context(settings_of(ctx), grid)
    store = open_store(db_url(ctx, db))
    try:
        result = sync_reference(
            store,
            grid=grid,
            roster=context.roster,
            catalog=context.catalog,
            at=datetime.now(TZ),
            actor="cli:db",
        )
    finally:
        store.close()
    for name, changed in (
        ("grid", result.grid),
        ("roster", result.roster),
        ("catalog", result.catalog),
    ):
        console.print(f"{name}: {'loaded' if changed else 'already current'}")


@db.command("upgrade")
@db_option
@click.pass_context
def db_upgrade(ctx: click.Context, db: str | None) -> None:
    """Upgrade the database schema to this gridmgr's newest (a no-op when current)."""
    _upgrade(ctx, db, verb="upgraded")


def _upgrade(ctx: click.Context, db: str | None, *, verb: str) -> None:
    from gridmgr.store.engine import check_engine, make_engine, redact
    from gridmgr.store.migrate import upgrade

    url = db_url(ctx, db)
    engine = make_engine(url)
    try:
        settings = check_engine(engine)
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    shown = redact(url)
    if before == after:
        console.print(f"{shown}: schema already at {after}")
    else:
        console.print(f"{shown}: schema {verb} ({before or 'empty'} → {after})")
    console.print("durability: " + ", ".join(f"{k}={v}" for k, v in settings.items()))


@db.command("check")
@db_option
@click.pass_context
def db_check(ctx: click.Context, db: str | None) -> None:
    """Check that the database is reachable, safely configured and at the current schema."""
    from gridmgr.store.engine import check_engine, make_engine, redact
    from gridmgr.store.migrate import check_schema

    url = db_url(ctx, db)
    engine = make_engine(url)
    try:
        settings = check_engine(engine)
        revision = check_schema(engine)
    finally:
        engine.dispose()
    console.print(
        f"{redact(url)}: schema {revision} (current); "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
    )


# -- ledger ---------------------------------------------------------------------------------


@click.group()
def ledger() -> None:
    """Prove the record: verify the hash-chained ledger, and export checkpoints of its head."""


@ledger.command("verify")
@db_option
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="A checkpoint written by `ledger checkpoint`: also detects truncation and rewrites.",
)
@click.pass_context
def ledger_verify(ctx: click.Context, db: str | None, checkpoint_path: Path | None) -> None:
    """Verify the whole ledger: every hash, every link, no gap. Exit 0 when intact.

    Otherwise exit 1 and name the first bad event and what is wrong with it.
    """
    from gridmgr.ledger import Checkpoint, LedgerError
    from gridmgr.store import open_store

    checkpoint = None
    if checkpoint_path is not None:
        try:
            text = checkpoint_path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise LedgerError(
                f"{checkpoint_path} is not a checkpoint: not UTF-8 text (use the file written by "
                "`gridmgr ledger checkpoint`)"
            ) from None
        checkpoint = Checkpoint.from_json(text)
    store = open_store(db_url(ctx, db), check=False)
    try:
        head = store.ledger_head()
        total = 0 if head is None else head.seq
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} events"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=total < 200_000,
        ) as bar:
            task = bar.add_task("verify", total=total)
            result = store.verify_ledger(
                checkpoint=checkpoint, progress=lambda n: bar.update(task, completed=n)
            )
    finally:
        store.close()
    if result.ok:
        console.print(str(result))
        return
    err_console.print(f"LEDGER BROKEN: {result.problem}", markup=False)
    console.print(str(result))
    sys.exit(1)


@ledger.command("checkpoint")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@db_option
@click.pass_context
def ledger_checkpoint(ctx: click.Context, path: Path, db: str | None) -> None:
    """Write the verified head of the ledger (sequence, hash, time) to PATH, to publish or sign."""
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.store import open_store

    store = open_store(db_url(ctx, db), check=False)
    try:
        checkpoint = store.checkpoint(at=datetime.now(TZ))
    finally:
        store.close()
    path.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
    console.print(
        f"checkpoint at event {checkpoint.seq} ({checkpoint.hash[:16]}…) written to {path}"
    )


# -- escalate -------------------------------------------------------------------------------


@click.command()
@db_option
@click.option("--at", "at_text", default=None, help="Escalate as of this time (default now).")
@click.pass_context
def escalate(ctx: click.Context, db: str | None, at_text: str | None) -> None:
    """Escalate every overdue stage one tier up its owner chain (each stage at most once).

    The server runs this in a loop; run it by hand (or from cron) when the server is down.
    """
    from gridmgr.cli.common import load_grid
    from gridmgr.datafiles import routing_context
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.responsibility.roster_files import parse_time
    from gridmgr.services.escalation import escalate_overdue
    from gridmgr.store import open_store

    now = parse_time(at_text) if at_text else datetime.now(TZ)
    context = routing_context(settings_of(ctx), load_grid(ctx, None))
    store = open_store(db_url(ctx, db))
    try:
        done = escalate_overdue(store, context, now=now)
    finally:
        store.close()
    console.print(f"escalated {len(done)} overdue stage(s) as of {now:%Y-%m-%d %H:%M}")
    for case in done:
        console.print(f"  - {case.case_id} {case.category} level {case.escalation_level}")
