"""Results: a finding per item per visit, and the public list (一公开) made of them.

The public list names the inspected enterprise (public registration data), the departments,
items, outcomes and dates; it never names officers or carries free-text notes, which may hold
personal data. :func:`page_data` shapes plans, draws, visits and results for a dashboard page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gridmgr.inspection import ResultError
from gridmgr.inspection.draw import Visit
from gridmgr.inspection.registry import Target
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog import DEPARTMENTS

OUTCOMES: Mapping[str, str] = {
    "compliant": "未发现问题",
    "issues": "发现问题，责令整改",
    "not_found": "通过登记的住所（经营场所）无法联系",
    "closed": "已关闭停业",
}
"""Outcome codes and their public Chinese wording (the national 双随机 result categories)."""

PUBLIC_COLUMNS = (
    "draw_id",
    "plan",
    "visit_no",
    "target_id",
    "target_name",
    "industry",
    "town",
    "department",
    "department_name",
    "item",
    "outcome",
    "outcome_zh",
    "inspected_on",
)


@dataclass(frozen=True)
class Finding:
    """The outcome of one item of one visit."""

    draw_id: str
    visit_no: int
    department: str
    item: str
    outcome: str
    note: str
    recorded_at: datetime
    recorded_by: str
    case_id: str | None = None
    """The 整改 (rectification) case a finding with issues opened, once it is open."""


def check_finding(visit: Visit, *, department: str, item: str, outcome: str) -> None:
    """Refuse a finding for an item the visit does not carry, or an unknown outcome."""
    if outcome not in OUTCOMES:
        raise ResultError(f"outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    if (department, item) not in visit.items:
        listed = "; ".join(f"{d}/{i}" for d, i in visit.items)
        raise ResultError(
            f"visit {visit.visit_no} has no item {department}/{item}; its items are {listed}"
        )


def is_complete(visit: Visit, findings: Iterable[Finding]) -> bool:
    """Whether every item of the visit has a finding."""
    done = {(f.department, f.item) for f in findings if f.visit_no == visit.visit_no}
    return set(visit.items) <= done


def public_rows(
    *,
    draw_id: str,
    plan_name: str,
    findings: Sequence[Finding],
    targets: Mapping[str, Target],
    visits: Mapping[int, Visit],
    town_names: Mapping[str, str] | None = None,
) -> list[dict[str, object]]:
    """The public list: one row per recorded finding, without officers or notes."""
    names = town_names or {}
    out: list[dict[str, object]] = []
    for f in sorted(findings, key=lambda f: (f.visit_no, f.department, f.item)):
        visit = visits[f.visit_no]
        target = targets.get(visit.target_id)
        out.append(
            {
                "draw_id": draw_id,
                "plan": plan_name,
                "visit_no": f.visit_no,
                "target_id": visit.target_id,
                "target_name": "" if target is None else target.name,
                "industry": "" if target is None else target.industry,
                "town": "" if target is None else names.get(target.town, target.town),
                "department": f.department,
                "department_name": DEPARTMENTS.get(f.department, f.department),
                "item": f.item,
                "outcome": f.outcome,
                "outcome_zh": OUTCOMES[f.outcome],
                "inspected_on": f.recorded_at.astimezone(TZ).date().isoformat(),
            }
        )
    return out


def page_data(
    *,
    plans: Sequence[Mapping[str, Any]],
    draws: Sequence[Mapping[str, Any]],
    visits: Sequence[tuple[str, Visit]],
    targets: Mapping[str, Target],
    findings: Sequence[Finding],
) -> dict[str, list[dict[str, Any]]]:
    """What an inspections dashboard page shows: plans, draws, visits as map points, results.

    ``visits`` are (draw id, visit) pairs; each visit row carries ``lon``/``lat``, its cell and
    town, how many items it has and how many have findings (``status``: planned, partial, done).
    """
    done: dict[tuple[str, int], int] = {}
    for f in findings:
        done[(f.draw_id, f.visit_no)] = done.get((f.draw_id, f.visit_no), 0) + 1
    rows = []
    for draw_id, v in visits:
        t = targets.get(v.target_id)
        n_done = done.get((draw_id, v.visit_no), 0)
        rows.append(
            {
                "draw_id": draw_id,
                "visit_no": v.visit_no,
                "target_id": v.target_id,
                "target_name": "" if t is None else t.name,
                "lon": None if t is None else t.lon,
                "lat": None if t is None else t.lat,
                "cell": None if t is None else t.cell,
                "town": None if t is None else t.town,
                "risk": None if t is None else t.risk,
                "departments": list(v.departments),
                "joint": len(v.departments) > 1,
                "officers": list(v.officers),
                "items": len(v.items),
                "findings": n_done,
                "status": "planned"
                if n_done == 0
                else "done"
                if n_done >= len(v.items)
                else "partial",
            }
        )
    results = [
        {
            "draw_id": f.draw_id,
            "visit_no": f.visit_no,
            "department": f.department,
            "item": f.item,
            "outcome": f.outcome,
            "recorded_at": f.recorded_at.astimezone(TZ).isoformat(),
        }
        for f in findings
    ]
    return {
        "plans": [dict(p) for p in plans],
        "draws": [dict(d) for d in draws],
        "visits": rows,
        "results": results,
    }
