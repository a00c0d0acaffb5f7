"""Notifications: who must hear of a case event, and what they are told (pure).

:func:`notices_for_event` maps one case event to the notices it causes — dispatched to you,
escalated to you (and to the worker whose stage ran late), returned (to the command center),
reopened (to the assignee), moved to another cell (to its previous owner) — and
:func:`due_soon_notice` the warning that a running stage falls due within N working hours.
The store writes them to its outbox in the same transaction as the event
(:mod:`gridmgr.store.outboxstore`); :mod:`gridmgr.services.delivery` delivers them later.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from gridmgr.cases import Action, Assignee, Case, CaseEvent

COMMAND_CENTER_INBOX = "command_center"
"""The recipient of notices for the command center's duty crew (every operator sees them)."""


class Trigger(enum.Enum):
    """Why someone is notified."""

    DISPATCHED = "dispatched"
    DUE_SOON = "due_soon"
    ESCALATED = "escalated"
    RETURNED = "returned"
    REOPENED = "reopened"
    DEFER_REQUESTED = "defer_requested"
    DEFER_DECIDED = "defer_decided"
    DIGEST = "digest"
    MOVED = "moved"

    @property
    def label_zh(self) -> str:
        """The trigger's Chinese name, as in the message title."""
        return {
            "dispatched": "新派遣案件",
            "due_soon": "即将超时",
            "escalated": "超时升级",
            "returned": "案件退回",
            "reopened": "案件重开",
            "defer_requested": "延期申请待审批",
            "defer_decided": "延期申请已处理",
            "moved": "案件移出本网格",
            "digest": "每日督办提醒",
        }[self.value]


@dataclass(frozen=True)
class Notice:
    """One notification for one recipient; ``dedup_key`` makes writing it twice harmless."""

    case_id: str
    recipient: str
    trigger: Trigger
    title: str
    body: Mapping[str, Any] = field(hash=False)
    dedup_key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", MappingProxyType(dict(self.body)))


TRIGGER_ACTIONS = frozenset(
    {
        Action.DISPATCH,
        Action.ESCALATE,
        Action.RETURN,
        Action.REOPEN,
        Action.REQUEST_DEFER,
        Action.APPROVE_DEFER,
        Action.REFUSE_DEFER,
        Action.PLACE,
    }
)
"""The actions whose events notify someone (the store looks up the assignee only for these)."""


def notices_for_event(event: CaseEvent, *, assignee: Assignee | None) -> list[Notice]:
    """The notices ``event`` causes; ``assignee`` is the case's assignee after the event.

    >>> from gridmgr.cases import Actor, CaseState, Role
    >>> from gridmgr.responsibility.calendar import TZ
    >>> t = datetime(2026, 10, 8, 10, 0, tzinfo=TZ)
    >>> worker = Assignee("P11", "grid_worker:320281001003003", "王")
    >>> head = {"person_id": "P12", "post": "grid_head:320281001003", "name": "李"}
    >>> ev = CaseEvent("C1", Action.ESCALATE, Actor("system:escalator", Role.SYSTEM), t,
    ...     CaseState.DISPATCHED, CaseState.DISPATCHED, "sign overdue",
    ...     {"escalate_to": head}, 4)
    >>> [(n.recipient, n.trigger.value) for n in notices_for_event(ev, assignee=worker)]
    [('P12', 'escalated'), ('P11', 'escalated')]
    """
    details = event.details
    recipients: list[str] = []
    if event.action is Action.DISPATCH:
        trigger = Trigger.DISPATCHED
        recipients.append(_person(details.get("assignee")) or _person(assignee) or "")
    elif event.action is Action.ESCALATE:
        trigger = Trigger.ESCALATED
        recipients += [_person(details.get("escalate_to")) or "", _person(assignee) or ""]
    elif event.action is Action.RETURN:
        trigger = Trigger.RETURNED
        recipients.append(COMMAND_CENTER_INBOX)
    elif event.action is Action.REOPEN:
        trigger = Trigger.REOPENED
        recipients.append(_person(assignee) or COMMAND_CENTER_INBOX)
    elif event.action is Action.REQUEST_DEFER:
        # the approver the rules picked is asked; he decides with his own login
        trigger = Trigger.DEFER_REQUESTED
        recipients.append(_person(_deferral(details)) or COMMAND_CENTER_INBOX)
    elif event.action in (Action.APPROVE_DEFER, Action.REFUSE_DEFER):
        trigger = Trigger.DEFER_DECIDED
        recipients.append(str(details.get("requested_by") or "") or _person(assignee) or "")
    elif event.action is Action.PLACE and details.get("moved_from"):
        # a case moved out of a cell: whoever answered for it there hears it is no longer his
        trigger = Trigger.MOVED
        recipients.append(_person(details.get("previous_owner")) or "")
    else:
        return []
    due = details.get("due_at")
    body = {
        "case_id": event.case_id,
        "trigger": trigger.value,
        "action": event.action.value,
        "state": event.to_state.value,
        "at": event.at.isoformat(),
        "actor": event.actor.actor_id,
        "comment": event.comment,
        "due_at": due,
        "version": event.version,
    }
    title = f"{trigger.label_zh}: 案件 {event.case_id[:8]} — {event.comment[:80]}"
    out = []
    for who in dict.fromkeys(r for r in recipients if r):
        key = f"{event.case_id}:{event.version}:{trigger.value}:{who}"
        out.append(Notice(event.case_id, who, trigger, title, {**body, "recipient": who}, key))
    return out


def due_soon_notice(case: Case, *, within_hours: float, now: datetime) -> Notice | None:
    """The warning to the stage's holder (else the assignee) that it falls due soon, once per
    stage and rung.

    ``None`` when no stage runs or nobody holds it.
    """
    person = case.holder or case.assignee
    if person is None or case.stage is None or case.due_at is None:
        return None
    who = person.person_id
    title = (
        f"{Trigger.DUE_SOON.label_zh}: 案件 {case.case_id[:8]} 的{case.stage.label_zh}阶段 "
        f"{case.due_at.isoformat(timespec='minutes')} 到期"
    )
    body = {
        "case_id": case.case_id,
        "trigger": Trigger.DUE_SOON.value,
        "state": case.state.value,
        "stage": case.stage.value,
        "due_at": case.due_at.isoformat(),
        "within_working_hours": within_hours,
        "at": now.isoformat(),
        "recipient": who,
    }
    key = f"{case.case_id}:due_soon:{case.stage_seq}.{case.rung}:{who}"
    return Notice(case.case_id, who, Trigger.DUE_SOON, title, body, key)


def digest_notice(
    leader: Assignee, cases: Sequence[Case], *, day: str, days: int, now: datetime
) -> Notice:
    """A leader's daily digest: the open cases in his scope untouched for ``days`` working days
    (oldest first; the notice is filed under the oldest), once per leader and day."""
    title = f"{Trigger.DIGEST.label_zh}: {len(cases)} 件在办案件超过 {days} 个工作日未处理"
    body = {
        "trigger": Trigger.DIGEST.value,
        "day": day,
        "untouched_working_days": days,
        "at": now.isoformat(),
        "recipient": leader.person_id,
        "post": leader.post,
        "cases": [
            {
                "case_id": c.case_id,
                "category": c.category,
                "state": c.state.value,
                "cell": c.cell,
                "updated_at": c.updated_at.isoformat(),
                "holder": None if c.holder is None else c.holder.name or c.holder.person_id,
            }
            for c in cases
        ],
    }
    key = f"digest:{day}:{leader.person_id}"
    return Notice(cases[0].case_id, leader.person_id, Trigger.DIGEST, title, body, key)


def _deferral(details: Mapping[str, object]) -> object:
    request = details.get("deferral")
    return request.get("approver") if isinstance(request, Mapping) else None


def _person(value: object) -> str | None:
    if isinstance(value, Assignee):
        return value.person_id
    if isinstance(value, Mapping):
        person = value.get("person_id")
        return person if isinstance(person, str) and person else None
    return None
