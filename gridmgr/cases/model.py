"""Case values: states, actions, roles, actors and assignees, the case and its event.

These are the nouns of the closed loop; :mod:`gridmgr.cases.lifecycle` holds its verbs, the state
machine that moves a :class:`Case` from one :class:`CaseState` to the next and emits one
:class:`CaseEvent` per move. Values are frozen; an event's details are JSON values only
(:func:`to_json_value`), so the store writes them to the ledger as they are.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, cast

from gridmgr.errors import GridMgrError
from gridmgr.responsibility.sla import Stage

MAX_COMMENT = 2000
"""The longest comment (or report description) accepted, in characters."""


class CaseError(GridMgrError, ValueError):
    """A case cannot take this action, or a case value is malformed."""


class IllegalTransitionError(CaseError):
    """The action is not one the case's state admits (see
    :data:`~gridmgr.cases.lifecycle.TRANSITIONS`)."""

    def __init__(self, message: str, *, state: CaseState, action: Action) -> None:
        super().__init__(message)
        self.state, self.action = state, action


class GuardError(CaseError):
    """The action exists for the state but breaks a rule; ``rule`` names the rule (a slug)."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class CaseState(enum.Enum):
    """Where a case stands in the closed loop."""

    REPORTED = "reported"
    REGISTERED = "registered"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    HANDLED = "handled"
    VERIFIED = "verified"
    CLOSED = "closed"
    EVALUATED = "evaluated"
    REJECTED = "rejected"
    RETURNED = "returned"

    @property
    def label_zh(self) -> str:
        """The state's Chinese name.

        >>> CaseState.IN_PROGRESS.label_zh, CaseState.RETURNED.label_zh
        ('处置中', '退回')
        """
        return _LABELS_ZH[self]

    @property
    def is_open(self) -> bool:
        """Whether the case still needs work (everything but closed, evaluated and rejected)."""
        return self not in (CaseState.CLOSED, CaseState.EVALUATED, CaseState.REJECTED)

    @property
    def open311_status(self) -> str:
        """The Open311 GeoReport v2 status: ``"open"`` or ``"closed"``.

        >>> CaseState.VERIFIED.open311_status, CaseState.REJECTED.open311_status
        ('open', 'closed')
        """
        return "open" if self.is_open else "closed"


class Action(enum.Enum):
    """What someone (or the escalator) does to a case; ``REPORT`` only opens one."""

    REPORT = "report"
    REGISTER = "register"
    REJECT = "reject"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"
    TRANSFER = "transfer"  # 移交执法: to the competent unit, naming the power item
    START = "start"
    DEFER = "defer"  # the old self-approved deferral: kept to read the history, never taken
    REQUEST_DEFER = "request_defer"
    APPROVE_DEFER = "approve_defer"
    REFUSE_DEFER = "refuse_defer"
    HANDLE = "handle"
    VERIFY = "verify"
    REOPEN = "reopen"
    CLOSE = "close"
    EVALUATE = "evaluate"
    SUPERVISE = "supervise"
    ESCALATE = "escalate"
    # events beside the loop (see lifecycle.record_side_event): the state stays as it is
    PLACE = "place"
    MERGE = "merge"
    UNMERGE = "unmerge"
    ABSORB = "absorb"
    RELEASE = "release"

    @property
    def label_zh(self) -> str:
        """The action's Chinese name, as on the button.

        >>> Action.ACCEPT.label_zh, Action.REOPEN.label_zh
        ('签收', '重开')
        """
        return _LABELS_ZH[self]


class Role(enum.Enum):
    """The capacity in which an actor acts on a case."""

    OPERATOR = "operator"
    WORKER = "worker"
    HEAD = "head"
    LEADER = "leader"
    MANAGER = "manager"
    SYSTEM = "system"
    CITIZEN = "citizen"
    PARTNER = "partner"
    UNIT_LEADER = "unit_leader"
    OFFICER = "officer"
    INSPECTION = "inspection"

    @property
    def label_zh(self) -> str:
        """The role's Chinese name."""
        return _LABELS_ZH[self]


def _labels(members: Iterable[enum.Enum], words: str) -> dict[enum.Enum, str]:
    """Members → Chinese names, given as words in member order."""
    return dict(zip(members, words.split(), strict=True))


_LABELS_ZH = {
    **_labels(CaseState, "上报 立案 派遣 签收 处置中 已反馈 已核查 结案 已评价 不予立案 退回"),
    **_labels(
        Action,
        "上报 立案 不予立案 派遣 签收 退回 移交执法 开始处置 延期 申请延期 批准延期 驳回延期 "
        "反馈 核查通过 重开 结案 评价 督办 超时升级 定位 并入主案 拆分 并案 拆案",
    ),
    **_labels(
        Role,
        "指挥中心值班员 网格员 网格长 镇街负责人 管理人员 系统 市民 合作系统 "
        "单位负责人 单位成员 双随机检查",
    ),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a person id, or e.g. ``"system:escalator"``, ``"apikey:…"``; and in what role."""

    actor_id: str
    role: Role
    name: str = ""

    def __post_init__(self) -> None:
        if not self.actor_id.strip():
            raise CaseError("an actor needs a non-empty actor_id (a person id or e.g. system:…)")


@dataclass(frozen=True)
class Assignee:
    """The person a case is dispatched to, and the post they take it for (``grid_worker:…``).

    A case dispatched to a unit (a team or a department) has the post ``unit:<unit_id>``, the
    unit's inbox (:mod:`gridmgr.cases.units`): its person is the unit's leader until a member
    signs for it, then that member.
    """

    person_id: str
    post: str
    name: str = ""

    def __post_init__(self) -> None:
        if not (self.person_id.strip() and self.post.strip()):
            got = f"{self.person_id!r}, {self.post!r}"
            raise CaseError(f"an assignee needs a person_id and a post key, got {got}")


@dataclass(frozen=True, kw_only=True)
class DeferralRequest:
    """A deferral the assignee asked for and ``approver`` has not yet decided.

    ``approver`` is picked by the rules (the post over the requester's, see
    :mod:`gridmgr.services.deferrals`), never named by the requester; ``version`` is the case
    version of the request's event, so the decision can name the request it answers.
    """

    approver: Assignee
    requested_by: str
    requested_at: datetime
    due_before: datetime
    due_at: datetime
    reason: str
    version: int


@dataclass(frozen=True, kw_only=True)
class Case:
    """A case as the store reconstructs it; ``version`` counts the events in its trail.

    ``stage`` is the timed stage now running (sign after dispatch, handle after accept, verify
    after handled) and ``due_at`` its deadline; ``stage_seq`` counts the stages started, so the
    running stage was already escalated exactly when ``escalated_stage_seq == stage_seq``.
    ``stage_deferrals`` counts the deferrals approved in the running stage; ``deferral`` is the
    request awaiting its approver, if any (its deadline is not in force until approved).

    ``holder`` is the named person who answers for the running stage now and ``due_at`` his
    deadline: the assignee in the field stages, a named operator of the crew on duty at the
    command center, the verifier while a case waits to be checked, and the person of the
    督办 ladder's rung once a stage is overdue. ``rung`` counts the rungs the running stage has
    climbed (0: none) and ``card`` is the rung's level (:data:`CARDS`).
    """

    case_id: str
    category: str
    state: CaseState
    reported_at: datetime
    updated_at: datetime
    reporter: str
    description: str
    generation_id: str
    lon: float | None = None
    lat: float | None = None
    cell: str | None = None
    assignee: Assignee | None = None
    handler: str | None = None
    stage: Stage | None = None
    stage_started_at: datetime | None = None
    due_at: datetime | None = None
    escalation_level: int = 0
    escalated_stage_seq: int | None = None
    stage_seq: int = 0
    reopen_count: int = 0
    return_count: int = 0
    deferrals: int = 0
    stage_deferrals: int = 0
    deferral: DeferralRequest | None = None
    rating: int | None = None
    holder: Assignee | None = None
    rung: int = 0
    card: str | None = None
    version: int = 0


CARDS = {"yellow": "黄牌", "orange": "橙牌", "red": "红牌"}
"""The levels of the 督办 ladder: 黄牌 at the first rung, 红牌 at the top, 橙牌 between."""


@dataclass(frozen=True)
class CaseEvent:
    """One transition of one case: what the ledger stores (see :meth:`to_payload`).

    ``version`` is the case's version after the event; ``details`` holds JSON values only.
    """

    case_id: str
    action: Action
    actor: Actor
    at: datetime
    from_state: CaseState | None
    to_state: CaseState
    comment: str
    details: Mapping[str, object] = field(hash=False)
    version: int

    def __post_init__(self) -> None:
        if not isinstance(self.details, Mapping):
            raise CaseError(f"details must be a mapping, got {self.details!r}")
        object.__setattr__(
            self, "details", MappingProxyType(to_json_value(self.details, "details"))
        )

    def to_payload(self) -> dict[str, object]:
        """A JSON-ready dict of the whole event (ISO 8601 times with offset, enum values)."""
        return {f.name: to_json_value(getattr(self, f.name), f.name) for f in fields(self)}


def to_json_value(value: object, where: str = "value") -> Any:
    """A JSON copy of ``value``: enums as values, times in ISO 8601, actors/assignees as dicts.

    ``where`` names the value in the :class:`CaseError` raised for anything else.

    >>> from datetime import UTC
    >>> at = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)
    >>> to_json_value({"at": at, "by": Actor("P1", Role.WORKER)})
    {'at': '2026-05-06T01:00:00+00:00', 'by': {'actor_id': 'P1', 'role': 'worker', 'name': ''}}
    >>> to_json_value({"a": [1, {2}]}, "details")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    gridmgr.cases.model.CaseError: details.a[]={2} is not a JSON value; ...
    """
    # every case built and every event hashed comes through here (hundreds of thousands of
    # values in a simulated day): the copy builds no path; a refused value's path is put
    # together only on the way out of the error
    try:
        return _json_copy(value)
    except _NotJsonError as refused:
        path = where + "".join(reversed(refused.path))
        raise CaseError(
            f"{path}={refused.value!r} is not a JSON value; use str, int, finite float, bool, "
            "None, list, or dict with str keys"
        ) from None


class _NotJsonError(Exception):
    """A value :func:`_json_copy` cannot copy; ``path`` collects where, innermost first."""

    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value
        self.path: list[str] = []


_PLAIN = frozenset({type(None), str, bool, int})
_RECORDS: tuple[type, ...] = ()
"""The dataclasses copied as dicts of their fields (set below, once they are defined)."""


def _json_copy(value: object) -> Any:
    """The JSON copy of :func:`to_json_value` (records as dicts of their fields)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict or kind is MappingProxyType or isinstance(value, Mapping):
        # (a case's or event's details are a MappingProxyType)
        if not all(isinstance(k, str) for k in cast(Mapping[object, object], value)):
            raise _NotJsonError(value)
        return _copy_items(cast(Mapping[str, object], value).items())
    if value is None or isinstance(value, str | bool | int):  # a subclass of these, as is
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, _RECORDS):
        names = _FIELD_NAMES.get(type(value))
        if names is None:  # a subclass
            names = tuple(f.name for f in fields(cast(Any, value)))
        return _copy_items((name, getattr(value, name)) for name in names)
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            try:
                out.append(_json_copy(item))
            except _NotJsonError as refused:
                refused.path.append("[]")
                raise
        return out
    raise _NotJsonError(value)


def _copy_items(items: Iterable[tuple[str, object]]) -> dict[str, Any]:
    """A dict of ``items``, each value copied by :func:`_json_copy` (a refused one named)."""
    out: dict[str, Any] = {}
    for key, item in items:
        try:
            out[key] = _json_copy(item)
        except _NotJsonError as refused:
            refused.path.append(f".{key}")
            raise
    return out


_RECORDS = (Actor, Assignee, DeferralRequest)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    kind: tuple(f.name for f in fields(kind)) for kind in _RECORDS
}
