"""The "nothing escapes the grid" check: one line per invariant, each one query over open cases.

The same lines feed the command center's panel, ``gridmgr check invariants`` (for cron, Zabbix or
Prometheus' textfile collector) and ``GET /api/v1/invariants``. A line is red when:

- **coverage**: the grid does not cover the territory (a grid failing validation is refused at
  load, so a loaded grid passes);
- **owners**: a cell has no owner now (a vacancy);
- **holders**: an open case has no named person;
- **deadlines**: an open case has no deadline;
- **escalated**: an overdue stage (or rung) has not climbed the ladder within
  :data:`ESCALATION_GRACE` (a stage at the top, 红牌, has nowhere to climb and is not counted);
- **queues**: the out-of-grid or the unlocated queue holds a case past its deadline;
- **silent**: a grid worker on duty who carries the field app (a live device token) was not
  heard from — no device contact, no patrol point — for :data:`~gridmgr.services.patrols.
  SILENT_AFTER` (30 minutes);
- **appeals**: an appeal (申诉) of a closed month's scorecard waits for its manager's decision
  past its deadline (:mod:`gridmgr.services.appeals`);
- **ledger**: the latest incremental or full verification of the ledger failed
  (:mod:`gridmgr.services.ledgerwatch`; the line's details show both).

Merged duplicates are not open work (they follow their master case) and are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.staffing import staffing_report
from gridmgr.services.context import Services
from gridmgr.services.ledgerwatch import KINDS, LedgerWatch, verification_status
from gridmgr.services.patrols import silent_workers
from gridmgr.store import InvariantCount

__all__ = ["LABELS", "LedgerWatch", "Line", "check", "check_for", "verification_status"]

ESCALATION_GRACE = timedelta(minutes=5)
"""How long an overdue stage may wait for the escalation loop before its line turns red."""
FIRST_IDS = 5
"""How many offending case ids a line names."""


@dataclass(frozen=True)
class Line:
    """One line of the check: its key, whether it holds, the offending count, what to show,
    the first offending case ids, where they are listed and any explanation."""

    key: str
    ok: bool
    count: int
    value: str
    case_ids: tuple[str, ...] = ()
    link: str | None = None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The line as JSON values."""
        out = asdict(self)
        out["case_ids"] = list(self.case_ids)
        out["details"] = list(self.details)
        return out


LABELS = {
    "coverage": "网格覆盖 territory coverage (tiers 1/2/3)",
    "owners": "网格有主 cells with an owner",
    "holders": "案件有人 open cases with a named person",
    "deadlines": "案件有时限 open cases with a deadline",
    "escalated": "超时已督办 overdue stages escalated within 5 min",
    "queues": "网格外/待定位不超时 out-of-grid and unlocated queues on time",
    "silent": "在岗网格员30分钟内有联系 workers on duty heard from within 30 min",
    "appeals": "申诉按时裁定 appeals decided by their deadline",
    "ledger": "审计链校验 ledger verified",
}
"""What each line checks, in Chinese and English (the CLI prints these)."""


def check(
    services: Services,
    *,
    at: datetime,
    scope: tuple[str, ...] | None = None,
    verified: Mapping[str, Any] | None = None,
) -> list[Line]:
    """Every line of the check at ``at`` for the cases in ``scope`` (``None``: the city).

    ``verified`` is the latest ledger verification (:meth:`LedgerWatch.status`); ``None``
    leaves the ledger line out.
    """
    store = services.store
    counts = store.invariant_counts(at, grace=ESCALATION_GRACE, scope=scope, first=FIRST_IDS)
    lines = [_coverage(services), _owners(services, at)]
    lines += [_case_line(key, counts[key]) for key in ("holders", "deadlines", "escalated")]
    lines.append(_case_line("queues", counts["queues"], link="/dashboard/queue#queues"))
    lines.append(_silent(services, at, scope))
    if scope is None:  # appeals are the managers' inbox: city-wide
        lines.append(_appeals(store.overdue_appeals(at, first=FIRST_IDS)))
    if verified is not None:
        lines.append(_ledger(verified))
    return lines


def check_for(
    services: Services, caller: Caller, *, verified: Mapping[str, Any] | None
) -> list[Line]:
    """:func:`check` now, for a city-wide caller (operators, managers): the door of
    ``GET /api/v1/invariants``."""
    if not caller.city_wide:
        raise ForbiddenError("the invariant check is for city-wide roles (operators, managers)")
    return check(services, at=services.now(), verified=verified)


def _coverage(services: Services) -> Line:
    counts = services.grid.counts
    return Line("coverage", True, 0, f"{counts[1]} / {counts[2]} / {counts[3]}")


def _owners(services: Services, at: datetime) -> Line:
    report = staffing_report(services.grid, services.roster, at)
    vacancies = [f for f in report.of_kind("vacancy") if f.tier is not None]
    owned3, all3 = report.owned_cells[3]
    return Line(
        "owners",
        not vacancies,
        len(vacancies),
        f"{owned3}/{all3}",
        link=None if not vacancies else "/dashboard/coverage#vacancies",
        details=tuple(f.message for f in vacancies[:FIRST_IDS]),
    )


def _case_line(key: str, found: InvariantCount, *, link: str | None = None) -> Line:
    ok = found.count == 0
    first = found.case_ids
    return Line(
        key,
        ok,
        found.count,
        str(found.count)
        if key in ("escalated", "queues")
        else f"{found.total - found.count}/{found.total}",
        case_ids=first,
        link=None if ok else (link or f"/dashboard/case/{first[0]}"),
    )


def _appeals(found: InvariantCount) -> Line:
    """Open appeals past their decision deadline (named by appeal id, listed on the analysis
    page)."""
    ok = found.count == 0
    return Line(
        "appeals",
        ok,
        found.count,
        f"{found.total - found.count}/{found.total}",
        details=tuple(f"appeal {a} is past its decision deadline" for a in found.case_ids),
        link=None if ok else "/dashboard/analysis",
    )


def _silent(services: Services, at: datetime, scope: tuple[str, ...] | None) -> Line:
    silent, on_duty = silent_workers(services, at=at, scope=scope)
    return Line(
        "silent",
        not silent,
        len(silent),
        f"{len(silent)}/{on_duty}",
        details=tuple(
            f"{w.name} ({w.cell}): "
            + ("never" if w.last_heard is None else w.last_heard.astimezone(TZ).strftime("%H:%M"))
            for w in silent[:FIRST_IDS]
        ),
    )


def _ledger(verified: Mapping[str, Any]) -> Line:
    ok = bool(verified.get("ok", True))  # not verified yet (first run under way): no alarm
    details = [str(verified["problem"])] if verified.get("problem") else []
    details += [_pass(kind, verified[kind]) for kind in KINDS if verified.get(kind)]
    return Line("ledger", ok, 0 if ok else 1, str(verified.get("at", "…")), details=tuple(details))


def _pass(kind: str, found: Mapping[str, Any]) -> str:
    """One verification pass as a detail line: when, how far, how it went."""
    at = datetime.fromisoformat(str(found["at"])).strftime("%m-%d %H:%M")
    verdict = "ok" if found["ok"] else "FAILED"
    if kind == "full":
        return f"全链校验 full {at}: events 1–{found['head_seq']:,} {verdict}"
    return (
        f"增量校验 incremental {at}: events {found['from_seq'] + 1:,}–{found['head_seq']:,} "
        f"({found['events_read']:,} read) {verdict}"
    )
