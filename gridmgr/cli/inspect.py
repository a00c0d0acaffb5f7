"""``gridmgr inspect``: double-random inspections (双随机一公开) — registry, pool, plans, draws,
verification and public results.

A draw goes: ``plan create`` → ``draw commit`` (publish the seed's hash) → ``draw run`` →
``draw reveal`` → ``draw export`` (the published files) → anyone: ``verify-draw``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from gridmgr.cli.common import console, err_console, load_grid, settings_of
from gridmgr.cli.store import db_option, opened_store
from gridmgr.responsibility.calendar import TZ

actor_option = click.option(
    "--by", "actor", default="cli:inspect", show_default=True, help="Who does this (ledgered)."
)
at_option = click.option(
    "--at", "at_text", default=None, help="As of this time (default now), e.g. 2026-04-01 09:00."
)


def _now(at_text: str | None) -> datetime:
    from gridmgr.responsibility.roster_files import parse_time

    return parse_time(at_text) if at_text else datetime.now(TZ)


@contextmanager
def _working(label: str) -> Iterator[None]:
    """A spinner with elapsed time on stderr while a long step runs."""
    with Progress(
        SpinnerColumn(),
        TextColumn(label),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        bar.add_task(label, total=None)
        yield


@contextmanager
def _staffing(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar of visits staffed, for :func:`~gridmgr.inspection.draw.run_draw`."""
    with Progress(
        SpinnerColumn(),
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("visits staffed"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _read_seed(seed: str | None, seed_file: Path | None) -> str:
    from gridmgr.inspection import DrawError
    from gridmgr.inspection.draw import parse_seed

    if seed_file is not None:
        seed = seed_file.read_text(encoding="utf-8").strip()
    if not seed:
        raise DrawError("give the seed: --seed-file FILE (written by `draw commit`) or --seed HEX")
    parse_seed(seed)
    return seed.strip().lower()


seed_options = [
    click.option("--seed", default=None, help="The seed, 64 hex digits."),
    click.option(
        "--seed-file",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        default=None,
        help="A file holding the seed (as written by `draw commit --seed-out`).",
    ),
]


def _with_seed_options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(seed_options):
        f = option(f)
    return f


@click.group()
def inspect() -> None:
    """Double-random inspections: random targets, random inspectors, verifiable, published."""


# -- registry -------------------------------------------------------------------------------


@inspect.group()
def registry() -> None:
    """The registry of inspection targets (enterprises and premises)."""


@registry.command("generate")
@click.option("--n", "count", type=int, default=50_000, show_default=True, help="Targets.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Generator seed.")
@db_option
@actor_option
@at_option
@click.pass_context
def registry_generate(
    ctx: click.Context, count: int, seed: int, db: str | None, actor: str, at_text: str | None
) -> None:
    """Generate the synthetic registry over the current grid and make it current."""
    from gridmgr.services.inspections import generate_default_registry

    if not 1 <= count <= 1_000_000:
        raise click.BadParameter("1..1,000,000 targets", param_hint="--n")
    grid = load_grid(ctx, None)
    with opened_store(ctx, db) as store, _working(f"generating {count:,} targets"):
        reg = generate_default_registry(
            store, grid, at=_now(at_text), actor=actor, n=count, seed=seed
        )
    console.print(f"registry: {len(reg):,} targets, snapshot {reg.snapshot_hash}")


@registry.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@db_option
@actor_option
@at_option
@click.pass_context
def registry_import(
    ctx: click.Context, path: Path, db: str | None, actor: str, at_text: str | None
) -> None:
    """Import a registry CSV (target_id, name, lon, lat, risk, departments …); every target is
    located in the current grid. A refused file lists every bad row."""
    from gridmgr.services.inspections import import_registry

    grid = load_grid(ctx, None)
    with opened_store(ctx, db) as store, _working(f"importing {path.name}"):
        reg = import_registry(store, path, grid, at=_now(at_text), actor=actor)
    console.print(f"registry: {len(reg):,} targets from {path}, snapshot {reg.snapshot_hash}")


@registry.command("export")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@db_option
@click.pass_context
def registry_export(ctx: click.Context, path: Path, db: str | None) -> None:
    """Write the current registry as CSV."""
    from gridmgr.services.inspections import export_registry

    with opened_store(ctx, db) as store:
        reg = export_registry(store, path)
    console.print(f"{len(reg):,} targets written to {path} (snapshot {reg.snapshot_hash})")


# -- pool -----------------------------------------------------------------------------------


@inspect.group()
def pool() -> None:
    """The pool of enforcement officers."""


@pool.command("generate")
@click.option("--seed", type=int, default=2026, show_default=True, help="Generator seed.")
@db_option
@actor_option
@at_option
@click.pass_context
def pool_generate(
    ctx: click.Context, seed: int, db: str | None, actor: str, at_text: str | None
) -> None:
    """Generate the synthetic pool from the roster (sized on the current registry)."""
    from gridmgr.datafiles import load_roster
    from gridmgr.services.inspections import generate_default_pool

    roster = load_roster(settings_of(ctx), load_grid(ctx, None))
    with opened_store(ctx, db) as store:
        made = generate_default_pool(store, roster, at=_now(at_text), actor=actor, seed=seed)
    console.print(f"pool: {len(made):,} officers, snapshot {made.snapshot_hash}")


@pool.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@db_option
@actor_option
@at_option
@click.pass_context
def pool_import(
    ctx: click.Context, path: Path, db: str | None, actor: str, at_text: str | None
) -> None:
    """Import a pool CSV (officer_id, name, department, team, towns, max_visits, conflicts)."""
    from gridmgr.services.inspections import import_pool

    with opened_store(ctx, db) as store:
        made = import_pool(store, path, at=_now(at_text), actor=actor)
    console.print(f"pool: {len(made):,} officers from {path}, snapshot {made.snapshot_hash}")


@pool.command("export")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@db_option
@click.pass_context
def pool_export(ctx: click.Context, path: Path, db: str | None) -> None:
    """Write the current pool as CSV."""
    from gridmgr.services.inspections import export_pool

    with opened_store(ctx, db) as store:
        made = export_pool(store, path)
    console.print(f"{len(made):,} officers written to {path} (snapshot {made.snapshot_hash})")


# -- plans ----------------------------------------------------------------------------------


@inspect.group()
def plan() -> None:
    """Inspection plans: departments, items, sampling ratio per risk class, period."""


@plan.command("create")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@db_option
@actor_option
@at_option
@click.pass_context
def plan_create(
    ctx: click.Context, path: Path, db: str | None, actor: str, at_text: str | None
) -> None:
    """Store the plan in the JSON file PATH (see the README for its fields)."""
    from gridmgr.services.inspections import create_plan, read_plan_file

    parsed = read_plan_file(path)
    with opened_store(ctx, db) as store:
        record = create_plan(store, parsed, at=_now(at_text), actor=actor)
    console.print(f"plan {record.plan_id} created: {parsed.name} (hash {record.plan_hash})")


@plan.command("show")
@click.argument("plan_id", required=False)
@db_option
@click.pass_context
def plan_show(ctx: click.Context, plan_id: str | None, db: str | None) -> None:
    """List the plans, or show one as JSON."""
    from gridmgr.services.inspections import list_plans, load_plan

    with opened_store(ctx, db) as store:
        if plan_id is None:
            for p in list_plans(store):
                console.print(
                    f"{p.plan_id}  {p.plan.period_start}..{p.plan.period_end}  {p.plan.name}"
                )
            return
        record = load_plan(store, plan_id)
    console.print(json.dumps(record.plan.to_dict(), ensure_ascii=False, indent=2))


# -- draws ----------------------------------------------------------------------------------


@inspect.group()
def draw() -> None:
    """Commit a seed, run the draw, reveal the seed, publish."""


@draw.command("commit")
@click.argument("plan_id")
@click.option(
    "--seed-out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the new secret seed (keep it until `draw run` and `draw reveal`).",
)
@click.option(
    "--commitment", default=None, help="Commit to a seed made elsewhere: its sha256 in hex."
)
@db_option
@actor_option
@at_option
@click.pass_context
def draw_commit(
    ctx: click.Context,
    plan_id: str,
    seed_out: Path | None,
    commitment: str | None,
    db: str | None,
    actor: str,
    at_text: str | None,
) -> None:
    """Fix the draw's inputs (registry and pool snapshots) and publish its seed's hash."""
    from gridmgr.datafiles import load_roster
    from gridmgr.services.inspections import commit

    if (seed_out is None) == (commitment is None):
        raise click.UsageError("give exactly one of --seed-out FILE or --commitment HEX")
    roster = load_roster(settings_of(ctx), load_grid(ctx, None))
    with opened_store(ctx, db) as store:
        made = commit(store, plan_id, roster, at=_now(at_text), actor=actor, commitment=commitment)
    if made.seed is not None and seed_out is not None:
        seed_out.parent.mkdir(parents=True, exist_ok=True)
        seed_out.write_text(made.seed + "\n", encoding="utf-8")
        seed_out.chmod(0o600)
        err_console.print(f"secret seed written to {seed_out}: keep it until the reveal")
    d = made.draw
    console.print(f"draw {d.draw_id} committed for {plan_id}")
    console.print(f"commitment {d.commitment}")
    console.print(f"registry {d.registry_hash}")
    console.print(f"pool {d.pool_hash}")


@draw.command("run")
@click.argument("draw_id")
@_with_seed_options
@db_option
@actor_option
@at_option
@click.pass_context
def draw_run(
    ctx: click.Context,
    draw_id: str,
    seed: str | None,
    seed_file: Path | None,
    db: str | None,
    actor: str,
    at_text: str | None,
) -> None:
    """Run a committed draw with its seed: targets by risk, officers, joint visits."""
    from gridmgr.services.inspections import run

    value = _read_seed(seed, seed_file)
    with opened_store(ctx, db) as store, _staffing(f"drawing {draw_id}") as progress:
        done = run(store, draw_id, value, at=_now(at_text), actor=actor, progress=progress)
    result = done.result
    assert result is not None
    console.print(
        f"draw {draw_id}: {len(result.visits):,} visits for {result.department_visits:,} "
        f"department inspections; bundling saved {result.visits_saved:,} visits"
    )
    for dept, strata in sorted(result.strata.items()):
        text = ", ".join(f"{r} {n}/{pop}" for r, (pop, n) in strata.items())
        console.print(f"  {dept}: {text}")
    if result.unstaffed:
        err_console.print(
            f"{len(result.unstaffed)} officer slot(s) could not be filled (conflicts or limits); "
            f"first: visit {result.unstaffed[0][0]} ({result.unstaffed[0][1]})"
        )
    console.print(f"result hash {result.result_hash}")


@draw.command("reveal")
@click.argument("draw_id")
@_with_seed_options
@db_option
@actor_option
@at_option
@click.pass_context
def draw_reveal(
    ctx: click.Context,
    draw_id: str,
    seed: str | None,
    seed_file: Path | None,
    db: str | None,
    actor: str,
    at_text: str | None,
) -> None:
    """Publish the seed of a run draw (checked against its commitment)."""
    from gridmgr.services.inspections import reveal

    value = _read_seed(seed, seed_file)
    with opened_store(ctx, db) as store:
        reveal(store, draw_id, value, at=_now(at_text), actor=actor)
    console.print(f"draw {draw_id}: seed revealed {value}")


@draw.command("list")
@db_option
@click.pass_context
def draw_list(ctx: click.Context, db: str | None) -> None:
    """The draws, newest first."""
    from gridmgr.services.inspections import list_draws

    with opened_store(ctx, db) as store:
        for d in list_draws(store):
            visits = "-" if d.result is None else f"{len(d.result.visits)} visits"
            console.print(f"{d.draw_id}  {d.state:<9}  {d.plan_id}  {visits}")


@draw.command("show")
@click.argument("draw_id")
@db_option
@click.pass_context
def draw_show(ctx: click.Context, draw_id: str, db: str | None) -> None:
    """A draw's public record as JSON: commitment, input hashes, result hash, seed once revealed."""
    from gridmgr.services.inspections import load_draw

    with opened_store(ctx, db) as store:
        record = load_draw(store, draw_id)
    console.print(json.dumps(record.to_public(), ensure_ascii=False, indent=2))


@draw.command("export")
@click.argument("draw_id")
@click.option("--out", "folder", type=click.Path(path_type=Path, file_okay=False), required=True)
@db_option
@click.pass_context
def draw_export(ctx: click.Context, draw_id: str, folder: Path, db: str | None) -> None:
    """Write the published inputs and result of a draw (plan.json, registry.csv, pool.csv,
    draw.json) so anyone can run `gridmgr inspect verify-draw --published FOLDER`."""
    from gridmgr.services.inspections import export_published

    with opened_store(ctx, db) as store:
        files = export_published(store, draw_id, folder)
    for path in files:
        console.print(str(path))


@inspect.command("verify-draw")
@click.argument("draw_id", required=False)
@click.option(
    "--published",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Verify from published files alone (no database): a folder from `draw export`.",
)
@_with_seed_options
@db_option
@click.pass_context
def verify_draw_command(
    ctx: click.Context,
    draw_id: str | None,
    published: Path | None,
    seed: str | None,
    seed_file: Path | None,
    db: str | None,
) -> None:
    """Re-run a draw from its plan, registry and pool snapshots and revealed seed; exit 0 when
    the result is identical, else exit 1 naming what differs."""
    from gridmgr.inspection import VerificationError
    from gridmgr.services.inspections import verify_published, verify_stored

    if (draw_id is None) == (published is None):
        raise click.UsageError("give a DRAW_ID (from the database) or --published FOLDER")
    value = _read_seed(seed, seed_file) if (seed or seed_file) else None
    try:
        with _staffing("re-running the draw") as progress:
            if published is not None:
                result = verify_published(published, seed=value, progress=progress)
            else:
                assert draw_id is not None
                with opened_store(ctx, db) as store:
                    result = verify_stored(store, draw_id, seed=value, progress=progress)
    except VerificationError as exc:
        err_console.print(f"DRAW DOES NOT VERIFY: {exc}", markup=False)
        sys.exit(1)
    console.print(f"draw verified: {len(result.visits):,} visits, result hash {result.result_hash}")


# -- results --------------------------------------------------------------------------------


@inspect.group()
def results() -> None:
    """Findings per item per visit, and the public list (一公开)."""


@results.command("record")
@click.argument("draw_id")
@click.argument("visit_no", type=int)
@click.option("--department", required=True, help="Department id of the item (e.g. scjg).")
@click.option("--item", required=True, help="The item, as the plan names it.")
@click.option(
    "--outcome",
    type=click.Choice(["compliant", "issues", "not_found", "closed"]),
    required=True,
)
@click.option("--note", default="", help="Internal note (never published).")
@db_option
@actor_option
@at_option
@click.pass_context
def results_record(
    ctx: click.Context,
    draw_id: str,
    visit_no: int,
    department: str,
    item: str,
    outcome: str,
    note: str,
    db: str | None,
    actor: str,
    at_text: str | None,
) -> None:
    """Record the finding of one item of one visit (with issues: its 整改 case opens)."""
    from gridmgr.datafiles import routing_context
    from gridmgr.services.inspections import record_result

    context = None
    if outcome == "issues":
        context = routing_context(settings_of(ctx), load_grid(ctx, None))
    with opened_store(ctx, db) as store:
        finding = record_result(
            store,
            draw_id,
            visit_no,
            department=department,
            item=item,
            outcome=outcome,
            note=note,
            at=_now(at_text),
            actor=actor,
            context=context,
        )
    opened = "" if finding.case_id is None else f"; 整改 case {finding.case_id}"
    console.print(f"{draw_id} visit {visit_no}: {department}/{item} {outcome}{opened}")


@results.command("publish")
@click.option("--csv", "path", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--draw", "draw_id", default=None, help="Only this draw (default: all).")
@db_option
@click.pass_context
def results_publish(ctx: click.Context, path: Path, draw_id: str | None, db: str | None) -> None:
    """Write the public list of results (no officers, no notes) as CSV."""
    from gridmgr.datafiles import cell_names
    from gridmgr.services.inspections import publish_results

    names = cell_names(load_grid(ctx, None))
    with opened_store(ctx, db) as store:
        count = publish_results(store, path, draw_id=draw_id, town_names=names)
    console.print(f"{count} result row(s) written to {path}")
