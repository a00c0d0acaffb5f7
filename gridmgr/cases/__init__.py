"""Cases: the closed loop of Chinese digital city management, from 上报 reported to 结案 closed.

- :mod:`gridmgr.cases.model`: the values, :class:`CaseState`, :class:`Action`, :class:`Role`,
  :class:`Actor`, :class:`Assignee`, :class:`Case` and the :class:`CaseEvent` the ledger keeps;
- :mod:`gridmgr.cases.lifecycle`: the state machine, the one table :data:`TRANSITIONS`,
  :func:`apply_action` and :func:`allowed_actions` (the same checks, so they never disagree),
  :func:`open_case` and the side events beside the loop;
- :mod:`gridmgr.cases.deferral`: the rules of a deferral (requested, decided by an approver the
  rules pick, capped per stage);
- :mod:`gridmgr.cases.units`: units as assignees (a unit's inbox, signed for by a member) and
  routing's default assignee.

Every public name of both is importable from here, ``from gridmgr.cases import apply_action``.
"""

from __future__ import annotations

from gridmgr.cases.deferral import DEFERRAL_ACTIONS, MAX_STAGE_DEFERRALS, deferral_cap
from gridmgr.cases.lifecycle import (
    SIDE_ACTIONS,
    TRANSITIONS,
    allowed_actions,
    apply_action,
    decision_to_assignee,
    is_overdue,
    open_case,
    record_side_event,
)
from gridmgr.cases.model import (
    CARDS,
    MAX_COMMENT,
    Action,
    Actor,
    Assignee,
    Case,
    CaseError,
    CaseEvent,
    CaseState,
    DeferralRequest,
    GuardError,
    IllegalTransitionError,
    Role,
    to_json_value,
)
from gridmgr.cases.stages import stage_changes, stage_of
from gridmgr.cases.units import (
    competent_unit,
    is_unit_matter,
    power_named,
    suggested_assignee,
    unit_assignee,
    unit_inbox,
    unit_of,
)

__all__ = [
    "CARDS",
    "DEFERRAL_ACTIONS",
    "MAX_COMMENT",
    "MAX_STAGE_DEFERRALS",
    "SIDE_ACTIONS",
    "TRANSITIONS",
    "Action",
    "Actor",
    "Assignee",
    "Case",
    "CaseError",
    "CaseEvent",
    "CaseState",
    "DeferralRequest",
    "GuardError",
    "IllegalTransitionError",
    "Role",
    "allowed_actions",
    "apply_action",
    "competent_unit",
    "decision_to_assignee",
    "deferral_cap",
    "is_overdue",
    "is_unit_matter",
    "open_case",
    "power_named",
    "record_side_event",
    "stage_changes",
    "stage_of",
    "suggested_assignee",
    "to_json_value",
    "unit_assignee",
    "unit_inbox",
    "unit_of",
]
