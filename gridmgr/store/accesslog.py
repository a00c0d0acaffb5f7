"""The access log (访问留痕): one append-only row per read of a restricted or confidential case.

The ``access_log`` table is append-only (the database refuses UPDATE and DELETE, migration
0007). A row says who read which case, when, through which door, and the case's cell and
publication tier at that moment, so a manager can list the reads within his own cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select

from gridmgr.store.schema import access_log
from gridmgr.store.transactions import StoreBase


@dataclass(frozen=True)
class CaseRead:
    """One read of a case: who (actor id, name, role), when, through which door, which case."""

    at: datetime
    reader: str
    reader_name: str
    role: str
    door: str
    case_id: str
    cell: str | None
    tier: str


class AccessLogMethods(StoreBase):
    """The store's access log: append reads, list them by case or by reader."""

    def record_reads(self, reads: Sequence[CaseRead]) -> None:
        """Append these reads in one transaction (nothing for an empty list)."""
        if not reads:
            return
        rows = [
            {
                "at": r.at,
                "reader": r.reader[:100],
                "reader_name": r.reader_name[:200],
                "role": r.role[:16],
                "door": r.door[:16],
                "case_id": r.case_id,
                "cell": r.cell,
                "tier": r.tier[:16],
            }
            for r in reads
        ]
        with self._write() as conn:
            conn.execute(insert(access_log), rows)

    def case_reads(
        self,
        *,
        case_id: str | None = None,
        reader: str | None = None,
        scope: tuple[str, ...] | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[CaseRead]:
        """The newest ``limit`` reads (of ``case_id``, by ``reader``, since ``since``, of cases
        whose cell starts with one of ``scope``; ``None``: everywhere), oldest first."""
        c = access_log.c
        query = select(access_log)
        if case_id is not None:
            query = query.where(c.case_id == case_id)
        if reader is not None:
            query = query.where(c.reader == reader)
        if since is not None:
            query = query.where(c.at >= since)
        if scope is not None:
            if not scope:
                return []
            query = query.where(or_(*(c.cell.startswith(p, autoescape=True) for p in scope)))
        query = query.order_by(c.at.desc(), c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            CaseRead(r.at, r.reader, r.reader_name, r.role, r.door, r.case_id, r.cell, r.tier)
            for r in reversed(rows)
        ]
