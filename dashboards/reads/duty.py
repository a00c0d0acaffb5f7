"""What the duty page shows: each grid worker in the caller's scope now — his status (patrolling,
on duty, absent, off duty), his last patrol point and his field app's last sync — silent ones
(on duty, not heard from within :data:`~gridmgr.services.patrols.SILENT_AFTER`) first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dashboards.reads.names import place
from gridmgr.access import Caller
from gridmgr.services.context import Services
from gridmgr.services.patrols import ON_DUTY, SILENT_AFTER, as_instant, duty_in_scope

RANK = {"patrolling": 1, "on_duty": 1, "absent": 2, "off_duty": 3}
"""The table's order after the silent: on duty, on leave, off duty."""


@dataclass(frozen=True)
class DutyRow:
    """One grid worker as the duty table shows him."""

    person_id: str
    name: str
    place: str
    status: str
    last_seen: datetime | None
    last_sync: datetime | None
    silent: bool


def duty_rows(services: Services, caller: Caller, *, now: datetime) -> list[DutyRow]:
    """The grid workers in ``caller``'s scope at ``now``: silent first, then on duty, on leave
    and off duty, each by place."""
    frame = duty_in_scope(services, caller, now=now).drop_duplicates("person_id")
    rows = []
    for p, n, c, s, seen, sync in zip(
        frame["person_id"],
        frame["name"],
        frame["cell"],
        frame["status"],
        frame["last_seen"],
        frame["last_sync"],
        strict=True,
    ):
        seen_at, sync_at = as_instant(seen), as_instant(sync)
        heard = max((x for x in (seen_at, sync_at) if x is not None), default=None)
        silent = s in ON_DUTY and (heard is None or heard < now - SILENT_AFTER)
        rows.append(
            DutyRow(str(p), str(n), place(services.grid, str(c)), str(s), seen_at, sync_at, silent)
        )
    return sorted(rows, key=lambda r: (not r.silent, RANK.get(r.status, 9), r.place, r.name))
