"""``gridmgr db``, ``gridmgr ledger`` and ``gridmgr escalate``: the database and its proof."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gridmgr.cli.common import console, err_console, settings_of

if TYPE_CHECKING:
    from gridmgr.services.database import Store

db_option = click.option(
    "--db",
    default=None,
    help="SQLite file or SQLAlchemy URL (postgresql+psycopg://USER:PASSWORD@HOST/DB); "
    "default: GRIDMGR_DB, else gridmgr.sqlite in the data folder.",
)


def db_url(ctx: click.Context, db: str | None) -> str:
    """The database URL for ``--db`` in this context (else the ``GRIDMGR_DB`` setting)."""
    from gridmgr.services.database import database_url

    return database_url(settings_of(ctx), db)


@contextmanager
def opened_store(
    ctx: click.Context, db: str | None, *, create: bool = False, check: bool = True
) -> Iterator[Store]:
    """The database for ``--db`` in this context, open for the block (see
    :func:`gridmgr.services.database.open_database`)."""
    from gridmgr.services.database import open_database

    store = open_database(settings_of(ctx), db=db, create=create, check=check)
    try:
        yield store
    finally:
        store.close()


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
    from gridmgr.services.reference import sync_reference

    grid = load_grid(ctx, None)
    context = routing_context(settings_of(ctx), grid)
    with opened_store(ctx, db) as store:
        result = sync_reference(
            store, grid=grid, context=context, at=datetime.now(TZ), actor="cli:db"
        )
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
    from gridmgr.services.database import redact, upgrade_database

    url = db_url(ctx, db)
    done = upgrade_database(url)
    shown = redact(url)
    if not done.changed:
        console.print(f"{shown}: schema already at {done.after}")
    else:
        console.print(f"{shown}: schema {verb} ({done.before or 'empty'} → {done.after})")
    console.print("durability: " + ", ".join(f"{k}={v}" for k, v in done.durability.items()))


@db.command("check")
@db_option
@click.pass_context
def db_check(ctx: click.Context, db: str | None) -> None:
    """Check that the database is reachable, safely configured and at the current schema."""
    from gridmgr.services.database import check_database, redact

    url = db_url(ctx, db)
    checked = check_database(url)
    console.print(
        f"{redact(url)}: schema {checked.revision} (current); "
        + ", ".join(f"{k}={v}" for k, v in checked.durability.items())
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
    with opened_store(ctx, db, check=False) as store:
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
    if result.ok:
        console.print(str(result))
        return
    err_console.print(f"LEDGER BROKEN: {result.problem}", markup=False)
    console.print(str(result))
    sys.exit(1)


@ledger.command("checkpoint")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--sth",
    "sth_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the signed tree head (default: PATH with the suffix .sth.json).",
)
@db_option
@click.pass_context
def ledger_checkpoint(
    ctx: click.Context, path: Path, sth_path: Path | None, db: str | None
) -> None:
    """Write the verified head of the ledger (sequence, hash, time) to PATH, and publish a signed
    tree head: the Merkle root of every event, signed with Ed25519 (GRIDMGR_SIGNING_KEY; demo
    mode: a key kept in the data folder), served at /api/v1/ledger/sth and written to --sth."""
    from gridmgr.ledger.treehead import tree_head_problem
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.treeheads import checkpoint_tree_head, signing_key

    key = signing_key(settings_of(ctx))
    now = datetime.now(TZ)
    with opened_store(ctx, db, check=False) as store:
        checkpoint = store.checkpoint(at=now)
        head = store.ledger_head()
        total = 0 if head is None else head.seq
        with Progress(
            TextColumn("hashing the Merkle tree"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} events"),
            console=err_console,
            transient=True,
            disable=total < 200_000,
        ) as bar:
            task = bar.add_task("merkle", total=total)
            sth = checkpoint_tree_head(
                store, key, now=now, progress=lambda n: bar.update(task, completed=n)
            )
    assert tree_head_problem(sth) is None
    path.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
    sth_path = sth_path or path.with_name(path.stem + ".sth.json")
    sth_path.write_text(sth.to_json(), encoding="utf-8")
    console.print(
        f"checkpoint at event {checkpoint.seq} ({checkpoint.hash[:16]}…) written to {path}"
    )
    console.print(
        f"signed tree head of {sth.size} events (root {sth.root_hash[:16]}…, key "
        f"{sth.key_id[:16]}…) published and written to {sth_path}"
    )


# -- escalate -------------------------------------------------------------------------------


@click.command()
@db_option
@click.option("--at", "at_text", default=None, help="Escalate as of this time (default now).")
@click.pass_context
def escalate(ctx: click.Context, db: str | None, at_text: str | None) -> None:
    """Move every overdue stage one rung up the 督办 ladder (grid head, town leader, the command
    center's leader; the city's leader for city matters). Each rung gets its own deadline
    (GRIDMGR_LADDER_SPANS, working time); a pass climbs at most one rung per case.

    The server runs this in a loop; run it by hand (or from cron) when the server is down.
    """
    from gridmgr.cli.common import load_grid
    from gridmgr.datafiles import routing_context
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.responsibility.roster_files import parse_time
    from gridmgr.services.escalation import escalate_overdue

    now = parse_time(at_text) if at_text else datetime.now(TZ)
    settings = settings_of(ctx)
    context = routing_context(settings, load_grid(ctx, None))
    with opened_store(ctx, db) as store:
        done = escalate_overdue(store, context, now=now, spans=settings.ladder)
    console.print(f"escalated {len(done)} overdue stage(s) as of {now:%Y-%m-%d %H:%M}")
    for case in done:
        holder = (
            "nobody above" if case.holder is None else f"{case.holder.name} ({case.holder.post})"
        )
        due = "—" if case.due_at is None else f"{case.due_at.astimezone(TZ):%Y-%m-%d %H:%M}"
        console.print(
            f"  - {case.case_id} {case.category} rung {case.rung} {case.card}: {holder}, due {due}"
        )
