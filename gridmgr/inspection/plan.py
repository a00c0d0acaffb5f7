"""Inspection plans: which departments inspect which items, how much of each risk class, when.

A plan is written as JSON::

    {"name": "2026年二季度双随机抽查",
     "period": {"start": "2026-04-01", "end": "2026-06-30"},
     "departments": {"scjg": ["食品安全", "价格行为"], "xfjy": ["消防安全"]},
     "ratios": {"A": "0.20", "B": "0.10", "C": "0.05", "D": "0.02"},
     "officers_per_visit": 2,
     "towns": [],
     "joint": false}

Ratios are decimal strings (or numbers) in [0, 1]; each department draws
``round_half_up(ratio × N)`` of the N targets it supervises in each risk class
(:func:`sample_size`). With ``"joint": true`` (联合抽查) the departments draw once together:
the population of a risk class is every target supervised by any of them, and a drawn target
is checked by all of them that supervise it, in one visit. ``towns`` (tier-1 codes) restricts
the population; empty means the city.
The plan's identity is :func:`plan_hash`, a sha256 over its canonical JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from gridmgr.inspection import PlanError, canonical_json, json_sha256
from gridmgr.inspection.registry import RISK_CLASSES
from gridmgr.responsibility.catalog import DEPARTMENTS

MIN_OFFICERS = 2
"""Every visit has at least two officers (执法检查两人以上)."""


@dataclass(frozen=True)
class Plan:
    """An inspection plan (see the module docstring for its JSON form)."""

    name: str
    period_start: date
    period_end: date
    departments: Mapping[str, tuple[str, ...]]
    ratios: Mapping[str, str]
    officers_per_visit: int = MIN_OFFICERS
    towns: tuple[str, ...] = ()
    joint: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The plan's canonical JSON value (sorted departments, ratios as decimal strings)."""
        return {
            "name": self.name,
            "period": {"start": self.period_start.isoformat(), "end": self.period_end.isoformat()},
            "departments": {d: list(self.departments[d]) for d in sorted(self.departments)},
            "ratios": {r: self.ratios[r] for r in RISK_CLASSES if r in self.ratios},
            "officers_per_visit": self.officers_per_visit,
            "towns": sorted(self.towns),
            "joint": self.joint,
        }

    def ratio(self, risk: str) -> Fraction:
        """The sampling ratio of one risk class (0 when the plan does not name it)."""
        return Fraction(self.ratios.get(risk, "0"))

    @property
    def plan_hash(self) -> str:
        """:func:`plan_hash` of this plan."""
        return plan_hash(self)


def canonical_plan_json(plan: Plan) -> str:
    """The plan as canonical JSON: sorted keys, no spaces, non-ASCII kept (UTF-8)."""
    return canonical_json(plan.to_dict())


def plan_hash(plan: Plan) -> str:
    """sha256 (hex) of :func:`canonical_plan_json`."""
    return json_sha256(plan.to_dict())


def sample_size(ratio: Fraction, population: int) -> int:
    """How many of ``population`` a stratum draws: ``floor(ratio × N + 1/2)``, exact.

    >>> [sample_size(Fraction("0.05"), n) for n in (30, 10, 9)], sample_size(Fraction(1), 3)
    ([2, 1, 0], 3)
    """
    return int(ratio * population + Fraction(1, 2))


def parse_plan(
    value: str | Mapping[str, Any], *, known_departments: Iterable[str] = DEPARTMENTS
) -> Plan:
    """A :class:`Plan` from its JSON text or value; :class:`PlanError` names the bad field."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise PlanError(f"the plan is not valid JSON: {exc}") from None
        except RecursionError:
            raise PlanError("the plan's JSON is nested too deep; a plan is a flat object") from None
    if not isinstance(value, Mapping):
        raise PlanError("a plan is a JSON object with name, period, departments and ratios")
    allowed = {"name", "period", "departments", "ratios", "officers_per_visit", "towns", "joint"}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise PlanError(f"unknown plan field(s) {', '.join(unknown)}; allowed: {sorted(allowed)}")
    name = value.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise PlanError("plan.name: give the plan a name (1..200 characters)")
    period = value.get("period")
    if not isinstance(period, Mapping):
        raise PlanError('plan.period: write {"start": "2026-04-01", "end": "2026-06-30"}')
    try:
        start = date.fromisoformat(str(period.get("start")))
        end = date.fromisoformat(str(period.get("end")))
    except ValueError:
        raise PlanError("plan.period: start and end are dates like 2026-04-01") from None
    if end < start:
        raise PlanError(f"plan.period: end {end} is before start {start}")
    known = set(known_departments)
    depts = value.get("departments")
    if not isinstance(depts, Mapping) or not depts:
        raise PlanError(
            'plan.departments: map department ids to item lists, e.g. {"scjg": ["食品安全"]}'
        )
    departments: dict[str, tuple[str, ...]] = {}
    for dept, items in depts.items():
        if dept not in known:
            raise PlanError(
                f"plan.departments: unknown department {dept!r}; known: {', '.join(sorted(known))}"
            )
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, str) and i.strip() for i in items)
        ):
            raise PlanError(f"plan.departments.{dept}: a non-empty list of item names")
        clean = tuple(i.strip() for i in items)
        if len(set(clean)) != len(clean):
            raise PlanError(f"plan.departments.{dept}: an item is listed twice")
        departments[dept] = clean
    ratios_in = value.get("ratios")
    if not isinstance(ratios_in, Mapping) or not ratios_in:
        raise PlanError('plan.ratios: give a ratio per risk class, e.g. {"A": "0.2", "D": "0.02"}')
    ratios: dict[str, str] = {}
    for risk, ratio in ratios_in.items():
        if risk not in RISK_CLASSES:
            raise PlanError(f"plan.ratios: unknown risk class {risk!r}; use {RISK_CLASSES}")
        if isinstance(ratio, bool) or not isinstance(ratio, str | int | float):
            raise PlanError(f"plan.ratios.{risk}: a number between 0 and 1")
        try:
            dec = Decimal(str(ratio))
        except InvalidOperation:
            raise PlanError(f"plan.ratios.{risk}: {ratio!r} is not a number") from None
        if not dec.is_finite() or not 0 <= dec <= 1:
            raise PlanError(f"plan.ratios.{risk}: {ratio!r} is not between 0 and 1")
        ratios[risk] = format(dec.normalize(), "f")
    per_visit = value.get("officers_per_visit", MIN_OFFICERS)
    if isinstance(per_visit, bool) or not isinstance(per_visit, int) or not 2 <= per_visit <= 10:
        raise PlanError("plan.officers_per_visit: a whole number 2..10 (at least two officers)")
    towns = value.get("towns", [])
    if not isinstance(towns, list) or not all(
        isinstance(t, str) and len(t) == 9 and t.isdigit() for t in towns
    ):
        raise PlanError("plan.towns: a list of tier-1 (9-digit) town codes, or [] for the city")
    joint = value.get("joint", False)
    if not isinstance(joint, bool):
        raise PlanError("plan.joint: true (departments draw one joint sample) or false")
    return Plan(
        name.strip(), start, end, departments, ratios, per_visit, tuple(sorted(towns)), joint
    )
