"""The state changes of many cases in one read: what Open311's ``notes`` are made of."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from gridmgr.store.schema import case_events
from gridmgr.store.transactions import StoreBase

StateChange = tuple[datetime, str | None, str]
"""(when, state before or ``None`` for the report, state after)."""


class StateChangeMethods(StoreBase):
    """The store's read of cases' state changes, many cases at a time."""

    def state_changes(self, case_ids: Iterable[str]) -> dict[str, list[StateChange]]:
        """Each case's events as (at, from state, to state), in order, by case id; events that
        leave the state as it was are left out."""
        ids = list(dict.fromkeys(case_ids))
        out: dict[str, list[StateChange]] = {case_id: [] for case_id in ids}
        e = case_events.c
        with self._read() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    select(e.case_id, e.at, e.from_state, e.to_state)
                    .where(e.case_id.in_(ids[start : start + 500]))
                    .order_by(e.case_id, e.id)
                ).all()
                for r in rows:
                    if r.from_state != r.to_state:
                        out[r.case_id].append((r.at, r.from_state, r.to_state))
        return out
