"""Inspection use cases: load inputs, commit, draw, reveal, verify, record and publish results.

This is the imperative shell over the pure :mod:`gridmgr.inspection` modules and the store's
inspection methods: it reads and writes files and the store, and makes seeds.
Times are passed in; nothing here reads the clock.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridmgr.errors import TableFileError
from gridmgr.inspection import DrawError, UnknownInspectionError
from gridmgr.inspection.draw import DrawResult, commitment_of, parse_seed, run_draw, verify_draw
from gridmgr.inspection.plan import Plan, canonical_plan_json, parse_plan
from gridmgr.inspection.pool import Pool, generate_pool, read_pool, with_grid_duties, write_pool
from gridmgr.inspection.registry import (
    Registry,
    generate_registry,
    read_registry,
    with_last_inspections,
    write_registry,
)
from gridmgr.inspection.results import (
    PUBLIC_COLUMNS,
    Finding,
    check_finding,
    page_data,
    public_rows,
)
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.rectification import open_rectification, reinspect
from gridmgr.store import DrawRecord as DrawRecord
from gridmgr.store import PlanRecord as PlanRecord
from gridmgr.store.inspectionstore import VisitRecord as VisitRecord
from gridmgr.tablefiles import write_table

if TYPE_CHECKING:
    from gridmgr.cases import Case
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.roster import Roster
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.services.context import Services
    from gridmgr.store import Store

PUBLISHED_FILES = ("plan.json", "registry.csv", "pool.csv", "draw.json")
"""What `export_published` writes: everything a third party needs to verify a draw."""


def new_seed() -> str:
    """A fresh secret seed: 32 random bytes from the OS, as 64 hex digits."""
    return secrets.token_hex(32)


# -- snapshots ------------------------------------------------------------------------------


def registry_snapshot(store: Store, digest: str | None = None) -> Registry:
    """A stored registry (default: the current one); decoded once per process and hash."""
    digest = digest or store.current_snapshot("registry")
    if digest is None:
        raise UnknownInspectionError(
            "no inspection registry yet: run `gridmgr inspect registry generate` or "
            "`gridmgr inspect registry import FILE.csv`"
        )
    return _snapshot(store, "registry", digest)  # type: ignore[return-value]


def pool_snapshot(store: Store, digest: str | None = None) -> Pool:
    """A stored pool (default: the current one); decoded once per process and hash."""
    digest = digest or store.current_snapshot("pool")
    if digest is None:
        raise UnknownInspectionError(
            "no inspector pool yet: run `gridmgr inspect pool generate` or "
            "`gridmgr inspect pool import FILE.csv`"
        )
    return _snapshot(store, "pool", digest)  # type: ignore[return-value]


_DECODED: dict[tuple[str, str], Registry | Pool] = {}
_DECODED_LOCK = threading.Lock()
_DECODED_MAX = 8


def _snapshot(store: Store, kind: str, digest: str) -> Registry | Pool:
    # snapshots are content-addressed and never change, so a decoded one is safely shared
    # between requests and threads (a registry of 50,000 takes about a second to decode)
    key = (kind, digest)
    with _DECODED_LOCK:
        found = _DECODED.get(key)
    if found is not None:
        return found
    loaded: Registry | Pool = (
        store.load_registry(digest) if kind == "registry" else store.load_pool(digest)
    )
    with _DECODED_LOCK:
        while len(_DECODED) >= _DECODED_MAX:
            _DECODED.pop(next(iter(_DECODED)))
        _DECODED[key] = loaded
    return loaded


def generate_default_registry(
    store: Store, grid: Grid, *, at: datetime, actor: str, n: int, seed: int = 2026
) -> Registry:
    """Generate the synthetic registry for ``grid`` and make it current."""
    registry = generate_registry(grid, n=n, seed=seed)
    store.save_registry(registry, at=at, actor=actor)
    return registry


def import_registry(store: Store, path: Path, grid: Grid, *, at: datetime, actor: str) -> Registry:
    """Read a registry CSV (every target located in ``grid``) and make it current."""
    registry = read_registry(path, grid=grid)
    store.save_registry(registry, at=at, actor=actor)
    return registry


def export_registry(store: Store, path: Path) -> Registry:
    """Write the current registry as CSV."""
    registry = registry_snapshot(store)
    write_registry(registry, path)
    return registry


def generate_default_pool(
    store: Store, roster: Roster, *, at: datetime, actor: str, seed: int = 2026
) -> Pool:
    """Generate the synthetic pool (sized on the current registry, if any) and make it current."""
    digest = store.current_snapshot("registry")
    registry = None if digest is None else registry_snapshot(store, digest)
    pool = generate_pool(roster, at=at, registry=registry, seed=seed)
    store.save_pool(pool, at=at, actor=actor)
    return pool


def import_pool(store: Store, path: Path, *, at: datetime, actor: str) -> Pool:
    """Read a pool CSV and make it current."""
    pool = read_pool(path)
    store.save_pool(pool, at=at, actor=actor)
    return pool


def export_pool(store: Store, path: Path) -> Pool:
    """Write the current pool as CSV."""
    pool = pool_snapshot(store)
    write_pool(pool, path)
    return pool


# -- plans and draws ------------------------------------------------------------------------


def create_plan(
    store: Store, source: Plan | str | Mapping[str, Any], *, at: datetime, actor: str
) -> PlanRecord:
    """Store a plan (parsed first when given as JSON text or value)."""
    plan = source if isinstance(source, Plan) else parse_plan(source)
    return store.create_plan(plan, at=at, actor=actor)


def list_plans(store: Store) -> list[PlanRecord]:
    """Every stored plan, newest first."""
    return store.list_plans()


def load_plan(store: Store, plan_id: str) -> PlanRecord:
    """One stored plan by id."""
    return store.load_plan(plan_id)


def list_draws(store: Store, plan_id: str | None = None) -> list[DrawRecord]:
    """The draws (of ``plan_id`` when given), newest first."""
    return store.list_draws(plan_id)


def load_draw(store: Store, draw_id: str) -> DrawRecord:
    """One draw's record by id."""
    return store.load_draw(draw_id)


def read_plan_file(path: Path) -> Plan:
    """A plan from a JSON file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TableFileError(f"{path} does not exist; write the plan as JSON") from None
    except UnicodeDecodeError:
        raise TableFileError(f"{path} is not UTF-8 text; save the plan as UTF-8 JSON") from None
    return parse_plan(text)


def last_inspections(store: Store) -> dict[str, tuple[date, tuple[str, ...]]]:
    """Each target's latest visit that has findings: (date, officers)."""
    out: dict[str, tuple[date, tuple[str, ...]]] = {}
    visits: dict[tuple[str, int], tuple[str, tuple[str, ...]]] = {}
    for f in store.list_findings():
        key = (f.draw_id, f.visit_no)
        if key not in visits:
            draw = store.load_draw(f.draw_id)
            assert draw.result is not None
            for v in draw.result.visits:
                visits[(f.draw_id, v.visit_no)] = (v.target_id, v.officers)
        target, officers = visits[key]
        on = f.recorded_at.astimezone(TZ).date()
        if target not in out or on >= out[target][0]:
            out[target] = (on, officers)
    return out


@dataclass(frozen=True)
class Commitment:
    """A committed draw, and the secret seed when this process made it."""

    draw: DrawRecord
    seed: str | None


def commit(
    store: Store,
    plan_id: str,
    roster: Roster,
    *,
    at: datetime,
    actor: str,
    commitment: str | None = None,
) -> Commitment:
    """Fix a draw's inputs and publish the commitment of its seed.

    The current registry gets every target's last inspection (from recorded findings) and the
    current pool every officer's grid duties on the plan's first day; changed snapshots are
    stored, and the draw commits to their hashes. With no ``commitment`` a new seed is made and
    returned (keep it secret until the draw is run).
    """
    record = store.load_plan(plan_id)
    seed = None
    if commitment is None:
        seed = new_seed()
        commitment = commitment_of(seed)
    elif len(commitment) != 64 or any(c not in "0123456789abcdef" for c in commitment.lower()):
        raise DrawError("a commitment is a sha256 in hex (64 digits)")
    registry = with_last_inspections(registry_snapshot(store), last_inspections(store))
    start = datetime.combine(record.plan.period_start, datetime.min.time(), tzinfo=TZ)
    pool = with_grid_duties(pool_snapshot(store), roster, start)
    if registry.snapshot_hash != store.current_snapshot("registry"):
        store.save_registry(registry, at=at, actor=actor)
    if pool.snapshot_hash != store.current_snapshot("pool"):
        store.save_pool(pool, at=at, actor=actor)
    draw = store.commit_draw(
        plan_id=plan_id,
        commitment=commitment.lower(),
        registry_hash=registry.snapshot_hash,
        pool_hash=pool.snapshot_hash,
        at=at,
        actor=actor,
    )
    return Commitment(draw, seed)


def run(
    store: Store,
    draw_id: str,
    seed: str,
    *,
    at: datetime,
    actor: str,
    progress: Callable[[int, int], None] | None = None,
) -> DrawRecord:
    """Run a committed draw with its seed (checked against the commitment) and store it."""
    draw = store.load_draw(draw_id)
    if commitment_of(seed) != draw.commitment:
        raise DrawError(
            f"this seed does not match draw {draw_id}'s commitment {draw.commitment[:16]}…; "
            "use the seed file written by `inspect draw commit`"
        )
    plan = store.load_plan(draw.plan_id).plan
    registry = registry_snapshot(store, draw.registry_hash)
    pool = pool_snapshot(store, draw.pool_hash)
    result = run_draw(plan, registry, pool, seed, progress=progress)
    places = {
        v.target_id: (
            registry.targets[v.target_id].cell,
            registry.targets[v.target_id].lon,
            registry.targets[v.target_id].lat,
        )
        for v in result.visits
    }
    return store.save_draw_result(draw_id, result, places=places, at=at, actor=actor)


def reveal(store: Store, draw_id: str, seed: str, *, at: datetime, actor: str) -> DrawRecord:
    """Publish a run draw's seed."""
    parse_seed(seed)
    return store.reveal_seed(draw_id, seed, at=at, actor=actor)


def verify_stored(
    store: Store,
    draw_id: str,
    *,
    seed: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DrawResult:
    """Re-run a stored draw from its stored inputs and revealed seed (or ``seed``)."""
    draw = store.load_draw(draw_id)
    if draw.result is None:
        raise DrawError(f"draw {draw_id} has not been run yet; nothing to verify")
    seed = seed or draw.seed
    if seed is None:
        raise DrawError(f"the seed of draw {draw_id} is not revealed yet; pass --seed to check")
    plan = store.load_plan(draw.plan_id).plan
    return verify_draw(
        plan,
        registry_snapshot(store, draw.registry_hash),
        pool_snapshot(store, draw.pool_hash),
        seed,
        published=draw.result,
        progress=progress,
    )


def export_published(store: Store, draw_id: str, folder: Path) -> list[Path]:
    """Write a draw's public inputs and result into ``folder`` (see :data:`PUBLISHED_FILES`)."""
    draw = store.load_draw(draw_id)
    if draw.result is None:
        raise DrawError(f"draw {draw_id} has not been run yet; publish it after the draw")
    plan = store.load_plan(draw.plan_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(canonical_plan_json(plan.plan) + "\n", encoding="utf-8")
    write_registry(registry_snapshot(store, draw.registry_hash), folder / "registry.csv")
    write_pool(pool_snapshot(store, draw.pool_hash), folder / "pool.csv")
    body = {"draw_id": draw_id, "plan_id": draw.plan_id, "seed": draw.seed, **draw.result.to_dict()}
    (folder / "draw.json").write_text(
        json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return [folder / name for name in PUBLISHED_FILES]


def verify_published(
    folder: Path,
    *,
    seed: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DrawResult:
    """Verify a draw from published files alone (no database): see :func:`export_published`."""
    missing = [n for n in PUBLISHED_FILES if not (folder / n).exists()]
    if missing:
        raise TableFileError(f"{folder} lacks {', '.join(missing)}; it needs {PUBLISHED_FILES}")
    try:
        body = json.loads((folder / "draw.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DrawError(f"{folder / 'draw.json'} is not a published draw: {exc}") from None
    if not isinstance(body, dict):
        raise DrawError(f"{folder / 'draw.json'} is not a published draw")
    seed = seed or body.get("seed")
    if not seed:
        raise DrawError("the draw's seed is not revealed yet; pass --seed")
    plan = read_plan_file(folder / "plan.json")
    return verify_draw(
        plan,
        read_registry(folder / "registry.csv"),
        read_pool(folder / "pool.csv"),
        str(seed),
        published=DrawResult.from_dict(body),
        progress=progress,
    )


# -- results --------------------------------------------------------------------------------


def record_result(
    store: Store,
    draw_id: str,
    visit_no: int,
    *,
    department: str,
    item: str,
    outcome: str,
    note: str = "",
    at: datetime,
    actor: str,
    context: RoutingContext | None = None,
) -> Finding:
    """Record the finding of one item of one visit; with the routing ``context``, a finding
    with ``issues`` opens its 整改 case (:func:`gridmgr.services.rectification.
    open_rectification`) and comes back naming it."""
    draw = store.load_draw(draw_id)
    if draw.result is None:
        raise DrawError(f"draw {draw_id} has not been run; it has no visits yet")
    visit = next((v for v in draw.result.visits if v.visit_no == visit_no), None)
    if visit is None:
        raise UnknownInspectionError(
            f"draw {draw_id} has no visit {visit_no} (it has {len(draw.result.visits)})"
        )
    check_finding(visit, department=department, item=item, outcome=outcome)
    finding = store.record_finding(
        Finding(draw_id, visit_no, department, item, outcome, note, at, actor)
    )
    if outcome == "issues" and context is not None:
        case = open_rectification(store, context, finding, at=at)
        return replace(finding, case_id=case.case_id)
    return finding


def record_reinspection(
    services: Services,
    draw_id: str,
    visit_no: int,
    *,
    department: str,
    item: str,
    outcome: str,
    note: str,
    actor: str,
) -> Case:
    """The re-inspection (复查) of the finding of one item: its 整改 case closes (``compliant``)
    or reopens under 督办 (``issues``), see :func:`gridmgr.services.rectification.reinspect`."""
    finding = next(
        (
            f
            for f in services.store.list_findings(draw_id)
            if (f.visit_no, f.department, f.item) == (visit_no, department, item)
        ),
        None,
    )
    if finding is None or finding.case_id is None:
        raise UnknownInspectionError(
            f"visit {visit_no} of {draw_id} has no finding with issues for {department}/{item} "
            "that opened a 整改 case; record the finding first"
        )
    return reinspect(
        services.store,
        services.context,
        finding.case_id,
        outcome=outcome,
        note=note,
        at=services.now(),
        actor=actor,
    )


def public_results(
    store: Store, *, draw_id: str | None = None, town_names: Mapping[str, str] | None = None
) -> list[dict[str, object]]:
    """The public list (一公开) of recorded findings, of one draw or of all."""
    out: list[dict[str, object]] = []
    draws = [store.load_draw(draw_id)] if draw_id else store.list_draws()
    for draw in draws:
        if draw.result is None:
            continue
        findings = store.list_findings(draw.draw_id)
        if not findings:
            continue
        plan = store.load_plan(draw.plan_id)
        registry = registry_snapshot(store, draw.registry_hash)
        out += public_rows(
            draw_id=draw.draw_id,
            plan_name=plan.plan.name,
            findings=findings,
            targets=registry.targets,
            visits={v.visit_no: v for v in draw.result.visits},
            town_names=town_names,
        )
    return out


def publish_results(
    store: Store,
    path: Path,
    *,
    draw_id: str | None = None,
    town_names: Mapping[str, str] | None = None,
) -> int:
    """Write the public list as CSV; returns how many rows."""
    rows = public_results(store, draw_id=draw_id, town_names=town_names)
    write_table(path, PUBLIC_COLUMNS, rows)
    return len(rows)


def inspection_page(store: Store, *, draw_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """What a dashboard page shows (see :func:`gridmgr.inspection.results.page_data`): every
    plan and draw, and the visits and results of ``draw_id`` (default: the newest run draw)."""
    plans = store.list_plans()
    draws = store.list_draws()
    chosen = next((d for d in draws if d.result is not None and draw_id in (None, d.draw_id)), None)
    visits: list[tuple[str, Any]] = []
    targets: dict[str, Any] = {}
    findings: list[Finding] = []
    if chosen is not None and chosen.result is not None:
        visits = [(chosen.draw_id, v) for v in chosen.result.visits]
        targets = registry_snapshot(store, chosen.registry_hash).targets
        findings = store.list_findings(chosen.draw_id)
    return page_data(
        plans=[
            {"plan_id": p.plan_id, "created_at": p.created_at.isoformat(), **p.plan.to_dict()}
            for p in plans
        ],
        draws=[d.to_public() for d in draws],
        visits=visits,
        targets=targets,
        findings=findings,
    )


# -- reads for the doors ----------------------------------------------------------------------


def list_visits(store: Store, draw_id: str) -> list[VisitRecord]:
    """The visits of a draw, by number (none before it is run)."""
    return store.list_visits(draw_id)
