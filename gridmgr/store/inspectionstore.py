"""Inspections in SQL: registry and pool snapshots, plans, draws, visits and findings.

Every change is one transaction with its ledger event (kinds ``inspection.registry.loaded``,
``inspection.pool.loaded``, ``inspection.plan.created``, ``inspection.seed.committed``,
``inspection.draw.run``, ``inspection.seed.revealed``, ``inspection.result.recorded``), so the
ledger proves which inputs a draw committed to and when its seed was revealed. Snapshots are
content-addressed by their hash and stored as compressed canonical CSV.
:class:`InspectionMethods` are the store's doors to them.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from gridmgr.grid.codes import code_length
from gridmgr.inspection import DrawError, ResultError, UnknownInspectionError
from gridmgr.inspection.draw import DrawResult, Visit, commitment_of
from gridmgr.inspection.plan import Plan, canonical_plan_json, parse_plan
from gridmgr.inspection.pool import Pool, pool_from_csv_text, pool_to_csv_text
from gridmgr.inspection.registry import (
    Registry,
    registry_from_csv_text,
    registry_to_csv_text,
)
from gridmgr.inspection.results import Finding
from gridmgr.responsibility.calendar import TZ
from gridmgr.store import ledgerstore
from gridmgr.store.schema import (
    inspection_draws,
    inspection_plans,
    inspection_results,
    inspection_snapshots,
    inspection_visits,
)
from gridmgr.store.transactions import StoreBase


@dataclass(frozen=True)
class PlanRecord:
    """A stored plan."""

    plan_id: str
    plan: Plan
    plan_hash: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class DrawRecord:
    """A stored draw: committed, then drawn (``result``), then revealed (``seed``)."""

    draw_id: str
    plan_id: str
    commitment: str
    registry_hash: str
    pool_hash: str
    state: str
    committed_at: datetime
    committed_by: str
    drawn_at: datetime | None
    result: DrawResult | None
    seed: str | None
    revealed_at: datetime | None

    def to_public(self) -> dict[str, Any]:
        """What anyone may see of the draw (the seed only once revealed)."""
        return {
            "draw_id": self.draw_id,
            "plan_id": self.plan_id,
            "state": self.state,
            "commitment": self.commitment,
            "registry_hash": self.registry_hash,
            "pool_hash": self.pool_hash,
            "committed_at": _local(self.committed_at),
            "drawn_at": _local(self.drawn_at),
            "result_hash": None if self.result is None else self.result.result_hash,
            "visits": None if self.result is None else len(self.result.visits),
            "visits_saved": None if self.result is None else self.result.visits_saved,
            "seed": self.seed,
            "revealed_at": _local(self.revealed_at),
        }


def _local(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(TZ).isoformat()


def plan_id_for(plan: Plan) -> str:
    """A plan's id: ``plan-`` and the first 12 hex digits of its hash."""
    return f"plan-{plan.plan_hash[:12]}"


def _plan_record(row: Any) -> PlanRecord:
    return PlanRecord(
        row.plan_id, parse_plan(dict(row.body)), row.plan_hash, row.created_at, row.created_by
    )


def _draw_record(row: Any) -> DrawRecord:
    return DrawRecord(
        row.draw_id,
        row.plan_id,
        row.commitment,
        row.registry_hash,
        row.pool_hash,
        row.state,
        row.committed_at,
        row.committed_by,
        row.drawn_at,
        None if row.result is None else DrawResult.from_dict(row.result),
        row.seed,
        row.revealed_at,
    )


def _locked_draw(conn: Connection, draw_id: str) -> DrawRecord:
    row = conn.execute(
        select(inspection_draws).where(inspection_draws.c.draw_id == draw_id)
    ).first()
    if row is None:
        raise UnknownInspectionError(f"no draw {draw_id!r}")
    return _draw_record(row)


@dataclass(frozen=True)
class VisitRecord:
    """A stored visit with its place."""

    draw_id: str
    visit: Visit
    cell: str
    lon: float
    lat: float


class InspectionMethods(StoreBase):
    """The store's double-random inspections: registry and pool snapshots, plans, draws
    (committed, run, revealed), their visits and findings."""

    # -- snapshots and plans -------------------------------------------------------------------

    def save_registry(self, registry: Registry, *, at: datetime, actor: str) -> str:
        """Store ``registry`` as the current registry snapshot (ledgered); returns its hash."""
        text = registry_to_csv_text(registry)
        return self._save_snapshot(
            "registry",
            registry.snapshot_hash,
            text,
            len(registry),
            registry.source,
            at=at,
            actor=actor,
        )

    def save_pool(self, pool: Pool, *, at: datetime, actor: str) -> str:
        """Store ``pool`` as the current pool snapshot (ledgered); returns its hash."""
        text = pool_to_csv_text(pool)
        return self._save_snapshot(
            "pool", pool.snapshot_hash, text, len(pool), pool.source, at=at, actor=actor
        )

    def _save_snapshot(
        self,
        kind: str,
        digest: str,
        text: str,
        rows: int,
        source: str,
        *,
        at: datetime,
        actor: str,
    ) -> str:
        with self._write() as conn:
            top = conn.execute(select(func.max(inspection_snapshots.c.generation))).scalar()
            generation = int(top or 0) + 1
            known = conn.execute(
                select(inspection_snapshots.c.kind).where(
                    inspection_snapshots.c.snapshot_hash == digest
                )
            ).first()
            if known is None:
                conn.execute(
                    insert(inspection_snapshots).values(
                        snapshot_hash=digest,
                        kind=kind,
                        generation=generation,
                        rows=rows,
                        source=source[:300],
                        created_at=at,
                        content=zlib.compress(text.encode(), 6),
                    )
                )
            else:
                conn.execute(
                    update(inspection_snapshots)
                    .where(inspection_snapshots.c.snapshot_hash == digest)
                    .values(generation=generation)
                )
            ledgerstore.append(
                conn,
                at=at,
                kind=f"inspection.{kind}.loaded",
                actor=actor,
                subject=f"inspection-{kind}:{digest}",
                details={"hash": digest, "rows": rows, "source": source},
            )
        return digest

    def current_snapshot(self, kind: str) -> str | None:
        """The hash of the current registry or pool snapshot, or ``None`` when there is none."""
        with self._read() as conn:
            row = conn.execute(
                select(inspection_snapshots.c.snapshot_hash)
                .where(inspection_snapshots.c.kind == kind)
                .order_by(inspection_snapshots.c.generation.desc())
                .limit(1)
            ).first()
        return None if row is None else str(row[0])

    def snapshot_text(self, digest: str, *, kind: str) -> str:
        """The canonical CSV text of a stored snapshot."""
        with self._read() as conn:
            row = conn.execute(
                select(inspection_snapshots.c.content).where(
                    inspection_snapshots.c.snapshot_hash == digest,
                    inspection_snapshots.c.kind == kind,
                )
            ).first()
        if row is None:
            raise UnknownInspectionError(
                f"no {kind} snapshot {digest[:16]}… in this database; "
                f"load one with `gridmgr inspect {kind} generate` or `… import`"
            )
        return zlib.decompress(bytes(row[0])).decode()

    def load_registry(self, digest: str) -> Registry:
        """A stored registry snapshot."""
        return registry_from_csv_text(
            self.snapshot_text(digest, kind="registry"), source=f"registry {digest[:12]}"
        )

    def load_pool(self, digest: str) -> Pool:
        """A stored pool snapshot."""
        return pool_from_csv_text(
            self.snapshot_text(digest, kind="pool"), source=f"pool {digest[:12]}"
        )

    def create_plan(self, plan: Plan, *, at: datetime, actor: str) -> PlanRecord:
        """Store a plan (ledgered); the same plan twice is refused."""
        plan_id = plan_id_for(plan)
        with self._write() as conn:
            if conn.execute(
                select(inspection_plans.c.plan_id).where(inspection_plans.c.plan_id == plan_id)
            ).first():
                raise DrawError(f"this plan already exists as {plan_id}; change its name or period")
            conn.execute(
                insert(inspection_plans).values(
                    plan_id=plan_id,
                    name=plan.name,
                    plan_hash=plan.plan_hash,
                    body=plan.to_dict(),
                    created_at=at,
                    created_by=actor,
                )
            )
            ledgerstore.append(
                conn,
                at=at,
                kind="inspection.plan.created",
                actor=actor,
                subject=f"inspection-plan:{plan_id}",
                details={"plan_hash": plan.plan_hash, "plan": canonical_plan_json(plan)},
            )
        return PlanRecord(plan_id, plan, plan.plan_hash, at, actor)

    def load_plan(self, plan_id: str) -> PlanRecord:
        """One stored plan."""
        with self._read() as conn:
            row = conn.execute(
                select(inspection_plans).where(inspection_plans.c.plan_id == plan_id)
            ).first()
        if row is None:
            raise UnknownInspectionError(
                f"no plan {plan_id!r}; `gridmgr inspect plan show` lists them"
            )
        return _plan_record(row)

    def list_plans(self) -> list[PlanRecord]:
        """Every stored plan, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(inspection_plans).order_by(
                    inspection_plans.c.created_at.desc(), inspection_plans.c.plan_id
                )
            ).all()
        return [_plan_record(r) for r in rows]

    # -- draws, visits and findings ------------------------------------------------------------

    def commit_draw(
        self,
        *,
        plan_id: str,
        commitment: str,
        registry_hash: str,
        pool_hash: str,
        at: datetime,
        actor: str,
    ) -> DrawRecord:
        """Record a seed commitment for a plan and the input snapshots it binds (ledgered)."""
        draw_id = f"draw-{commitment[:12]}"
        plan = self.load_plan(plan_id)
        with self._write() as conn:
            used = conn.execute(
                select(inspection_draws.c.draw_id).where(
                    (inspection_draws.c.commitment == commitment)
                    | (inspection_draws.c.draw_id == draw_id)
                )
            ).first()
            if used is not None:
                raise DrawError(f"commitment {commitment[:16]}… is already used; make a new seed")
            conn.execute(
                insert(inspection_draws).values(
                    draw_id=draw_id,
                    plan_id=plan_id,
                    commitment=commitment,
                    registry_hash=registry_hash,
                    pool_hash=pool_hash,
                    state="committed",
                    committed_at=at,
                    committed_by=actor,
                )
            )
            ledgerstore.append(
                conn,
                at=at,
                kind="inspection.seed.committed",
                actor=actor,
                subject=f"inspection-draw:{draw_id}",
                details={
                    "plan_id": plan_id,
                    "plan_hash": plan.plan_hash,
                    "commitment": commitment,
                    "registry_hash": registry_hash,
                    "pool_hash": pool_hash,
                },
            )
        return self.load_draw(draw_id)

    def load_draw(self, draw_id: str) -> DrawRecord:
        """One stored draw."""
        with self._read() as conn:
            row = conn.execute(
                select(inspection_draws).where(inspection_draws.c.draw_id == draw_id)
            ).first()
        if row is None:
            raise UnknownInspectionError(
                f"no draw {draw_id!r}; `gridmgr inspect draw list` names them"
            )
        return _draw_record(row)

    def list_draws(self, plan_id: str | None = None) -> list[DrawRecord]:
        """Stored draws (of one plan), newest first."""
        query = select(inspection_draws).order_by(
            inspection_draws.c.committed_at.desc(), inspection_draws.c.draw_id
        )
        if plan_id is not None:
            query = query.where(inspection_draws.c.plan_id == plan_id)
        with self._read() as conn:
            return [_draw_record(r) for r in conn.execute(query).all()]

    def save_draw_result(
        self,
        draw_id: str,
        result: DrawResult,
        *,
        places: Mapping[str, tuple[str, float, float]],
        at: datetime,
        actor: str,
    ) -> DrawRecord:
        """Store a committed draw's result and its visits (``places``: target → cell, lon, lat)."""
        with self._write() as conn:
            draw = _locked_draw(conn, draw_id)
            if draw.state != "committed":
                raise DrawError(f"draw {draw_id} was already run; a draw runs once")
            if (result.commitment, result.registry_hash, result.pool_hash) != (
                draw.commitment,
                draw.registry_hash,
                draw.pool_hash,
            ):
                raise DrawError(f"this result is not of draw {draw_id}'s committed inputs")
            conn.execute(
                update(inspection_draws)
                .where(inspection_draws.c.draw_id == draw_id)
                .values(
                    state="drawn",
                    drawn_at=at,
                    result=result.to_dict(),
                    result_hash=result.result_hash,
                )
            )
            if result.visits:
                conn.execute(
                    insert(inspection_visits),
                    [
                        {
                            "draw_id": draw_id,
                            "visit_no": v.visit_no,
                            "target_id": v.target_id,
                            "cell": places[v.target_id][0],
                            "tier1": places[v.target_id][0][: code_length(1)],
                            "lon": places[v.target_id][1],
                            "lat": places[v.target_id][2],
                            "departments": ";".join(v.departments),
                            "officers": ";".join(v.officers),
                        }
                        for v in result.visits
                    ],
                )
            ledgerstore.append(
                conn,
                at=at,
                kind="inspection.draw.run",
                actor=actor,
                subject=f"inspection-draw:{draw_id}",
                details={
                    "result_hash": result.result_hash,
                    "visits": len(result.visits),
                    "visits_saved": result.visits_saved,
                    "unstaffed": len(result.unstaffed),
                },
            )
        return self.load_draw(draw_id)

    def reveal_seed(self, draw_id: str, seed: str, *, at: datetime, actor: str) -> DrawRecord:
        """Publish a drawn draw's seed after checking it against the commitment (ledgered)."""
        commitment = commitment_of(seed)
        with self._write() as conn:
            draw = _locked_draw(conn, draw_id)
            if draw.state == "committed":
                raise DrawError(f"draw {draw_id} has not been run; reveal the seed after the draw")
            if draw.state == "revealed":
                raise DrawError(f"the seed of draw {draw_id} is already revealed")
            if commitment != draw.commitment:
                raise DrawError(
                    f"this seed does not match draw {draw_id}'s commitment "
                    f"{draw.commitment[:16]}…; reveal the seed that was committed"
                )
            conn.execute(
                update(inspection_draws)
                .where(inspection_draws.c.draw_id == draw_id)
                .values(state="revealed", seed=seed.strip().lower(), revealed_at=at)
            )
            ledgerstore.append(
                conn,
                at=at,
                kind="inspection.seed.revealed",
                actor=actor,
                subject=f"inspection-draw:{draw_id}",
                details={"seed": seed.strip().lower(), "commitment": commitment},
            )
        return self.load_draw(draw_id)

    def list_visits(
        self, draw_id: str, *, town: str | None = None, officer: str | None = None
    ) -> list[VisitRecord]:
        """The visits of a draw (in one town, or of one officer), by number."""
        draw = self.load_draw(draw_id)
        if draw.result is None:
            return []
        by_no = {v.visit_no: v for v in draw.result.visits}
        query = (
            select(inspection_visits)
            .where(inspection_visits.c.draw_id == draw_id)
            .order_by(inspection_visits.c.visit_no)
        )
        if town is not None:
            query = query.where(inspection_visits.c.tier1 == town)
        with self._read() as conn:
            rows = conn.execute(query).all()
        out = [VisitRecord(draw_id, by_no[r.visit_no], r.cell, r.lon, r.lat) for r in rows]
        if officer is not None:
            out = [v for v in out if officer in v.visit.officers]
        return out

    def record_finding(self, finding: Finding) -> Finding:
        """Store one finding with its ledger event; a second finding for the same item is
        refused."""
        with self._write() as conn:
            exists = conn.execute(
                select(inspection_results.c.id).where(
                    inspection_results.c.draw_id == finding.draw_id,
                    inspection_results.c.visit_no == finding.visit_no,
                    inspection_results.c.department == finding.department,
                    inspection_results.c.item == finding.item,
                )
            ).first()
            if exists is not None:
                raise ResultError(
                    f"visit {finding.visit_no} of {finding.draw_id} already has a finding for "
                    f"{finding.department}/{finding.item}; findings are not overwritten"
                )
            event = ledgerstore.append(
                conn,
                at=finding.recorded_at,
                kind="inspection.result.recorded",
                actor=finding.recorded_by,
                subject=f"inspection-draw:{finding.draw_id}",
                details={
                    "visit_no": finding.visit_no,
                    "department": finding.department,
                    "item": finding.item,
                    "outcome": finding.outcome,
                    "note": finding.note,
                },
            )
            conn.execute(
                insert(inspection_results).values(
                    draw_id=finding.draw_id,
                    visit_no=finding.visit_no,
                    department=finding.department,
                    item=finding.item,
                    outcome=finding.outcome,
                    note=finding.note,
                    recorded_at=finding.recorded_at,
                    recorded_by=finding.recorded_by,
                    ledger_seq=event.seq,
                )
            )
        return finding

    def list_findings(self, draw_id: str | None = None) -> list[Finding]:
        """Stored findings (of one draw), in recording order."""
        query = select(inspection_results).order_by(inspection_results.c.id)
        if draw_id is not None:
            query = query.where(inspection_results.c.draw_id == draw_id)
        with self._read() as conn:
            rows: Sequence[Any] = conn.execute(query).all()
        return [_finding(r) for r in rows]

    def link_finding_case(self, finding: Finding, case_id: str) -> Finding:
        """Name the 整改 case ``case_id`` on the stored finding (once: a finding opens one case)."""
        where = (
            (inspection_results.c.draw_id == finding.draw_id)
            & (inspection_results.c.visit_no == finding.visit_no)
            & (inspection_results.c.department == finding.department)
            & (inspection_results.c.item == finding.item)
            & inspection_results.c.case_id.is_(None)
        )
        with self._write() as conn:
            done = conn.execute(update(inspection_results).where(where).values(case_id=case_id))
        if done.rowcount != 1:
            raise ResultError(
                f"visit {finding.visit_no} of {finding.draw_id}: no finding for "
                f"{finding.department}/{finding.item} without a case to link {case_id} to"
            )
        return replace(finding, case_id=case_id)

    def finding_of_case(self, case_id: str) -> Finding | None:
        """The finding that opened the 整改 case ``case_id`` (``None``: no finding did)."""
        query = select(inspection_results).where(inspection_results.c.case_id == case_id)
        with self._read() as conn:
            r = conn.execute(query).first()
        return None if r is None else _finding(r)


def _finding(r: Any) -> Finding:
    return Finding(
        r.draw_id,
        r.visit_no,
        r.department,
        r.item,
        r.outcome,
        r.note,
        r.recorded_at,
        r.recorded_by,
        r.case_id,
    )
