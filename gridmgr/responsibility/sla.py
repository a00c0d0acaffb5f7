"""SLA vocabulary: the stages a case is timed in, the clocks they run on, and their allowed spans.

A category's SLA says, per stage, how long the stage may take: ``"2h"`` (hours), ``"30m"``
(minutes) or ``"3d"`` (days). On the **working** clock, hours are working hours and a day is one
working day's hours (see :class:`~gridmgr.responsibility.calendar.WorkCalendar`); on the
**natural** clock, used
for urgent hazards, time runs around the clock and a day is 24 hours.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from gridmgr.errors import GridMgrError


class SlaError(GridMgrError, ValueError):
    """An SLA span or clock is malformed."""


class Stage(enum.Enum):
    """The timed stages of a case. Every open state runs one, so every open case has a clock.

    The field stages (签收 sign-for, 处置 handle, 核查 verify) run with the people of the grid;
    the command-center stages (立案 register, 派遣 dispatch, 结案 close, and for a report that
    cannot be registered as it stands: 定位 place an unlocated report, 网格外 triage an
    out-of-grid one) run with a named operator of the crew on duty.
    """

    SIGN = "sign"
    HANDLE = "handle"
    VERIFY = "verify"
    REGISTER = "register"
    DISPATCH = "dispatch"
    CLOSE = "close"
    PLACE = "place"
    TRIAGE = "triage"

    @property
    def label_zh(self) -> str:
        """The stage's Chinese name.

        >>> Stage.SIGN.label_zh, Stage.TRIAGE.label_zh
        ('签收', '网格外处理')
        """
        return _STAGE_LABELS[self.value]

    @property
    def is_field(self) -> bool:
        """Whether the stage runs in the field (sign, handle, verify), not at the command center."""
        return self in FIELD_STAGES


_STAGE_LABELS = {
    "sign": "签收",
    "handle": "处置",
    "verify": "核查",
    "register": "立案",
    "dispatch": "派遣",
    "close": "结案",
    "place": "定位",
    "triage": "网格外处理",
}
FIELD_STAGES = (Stage.SIGN, Stage.HANDLE, Stage.VERIFY)
"""The field stages, in the order a case runs them."""
COMMAND_STAGES = (Stage.REGISTER, Stage.DISPATCH, Stage.CLOSE, Stage.PLACE, Stage.TRIAGE)
"""The command center's stages."""


class Clock(enum.Enum):
    """Which time a stage's span is counted in."""

    WORKING = "working"
    NATURAL = "natural"


_UNITS = {"m": 1 / 60, "h": 1.0, "d": None}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    """An allowed duration: ``value`` in ``unit`` (``"m"``, ``"h"`` or ``"d"``)."""

    value: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in _UNITS:
            raise SlaError(f"unknown span unit {self.unit!r}; use m, h or d")
        if not (math.isfinite(self.value) and self.value > 0):
            raise SlaError(f"a span must be a positive number, got {self.value!r}")

    def hours(self, *, hours_per_day: float) -> float:
        """The span in hours, a day counting ``hours_per_day``.

        >>> parse_span("3d").hours(hours_per_day=7.5)
        22.5
        >>> parse_span("90m").hours(hours_per_day=24)
        1.5
        """
        per = _UNITS[self.unit]
        return self.value * (hours_per_day if per is None else per)

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"


def parse_span(text: str) -> Span:
    """Parse ``"2h"``, ``"30m"``, ``"1.5d"`` into a :class:`Span`.

    >>> parse_span(" 2H ")
    Span(value=2.0, unit='h')
    >>> parse_span("2 weeks")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gridmgr.responsibility.sla.SlaError: cannot read '2 weeks' as a span; use a number and ...
    """
    match = _SPAN.match(text)
    if not match:
        raise SlaError(f"cannot read {text!r} as a span; use a number and a unit: 30m, 2h, 3d")
    return Span(float(match.group(1)), match.group(2).lower())


def parse_clock(text: str) -> Clock:
    """Parse ``"working"`` or ``"natural"`` (also 工作日 / 自然日).

    >>> parse_clock("自然日")
    <Clock.NATURAL: 'natural'>
    """
    value = text.strip().lower()
    aliases = {"工作日": "working", "自然日": "natural", "work": "working", "24x7": "natural"}
    try:
        return Clock(aliases.get(value, value))
    except ValueError:
        raise SlaError(
            f"unknown clock {text!r}; use working (工作日) or natural (自然日)"
        ) from None


def parse_spans(text: str) -> tuple[Span, ...]:
    """Spans from ``"2h,4h,1d"``: e.g. the rungs of the 督办 ladder.

    >>> [str(s) for s in parse_spans(" 1h, 3h ")]
    ['1h', '3h']
    """
    spans = tuple(parse_span(part) for part in text.split(",") if part.strip())
    if not spans:
        raise SlaError(f"no spans in {text!r}; give e.g. 2h,4h,1d")
    return spans
