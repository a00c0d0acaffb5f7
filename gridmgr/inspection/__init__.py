"""Double-random inspections (双随机一公开): targets, inspectors, plans, verifiable draws, results.

The package is pure: no file, session or clock. :mod:`~gridmgr.inspection.registry` holds the
inspection targets, :mod:`~gridmgr.inspection.pool` the officers and their conflicts,
:mod:`~gridmgr.inspection.plan` what is to be inspected, :mod:`~gridmgr.inspection.draw` the
committed, reproducible draw of targets and officers, and :mod:`~gridmgr.inspection.results` the
findings and their public list. :mod:`~gridmgr.inspection.service` (the only impure module)
orchestrates them with the store.
"""

from __future__ import annotations

from gridmgr.errors import GridMgrError


class InspectionError(GridMgrError):
    """Something is wrong with an inspection plan, draw or result."""


class PlanError(InspectionError, ValueError):
    """An inspection plan is invalid; the message names the field and the fix."""


class DrawError(InspectionError, ValueError):
    """A draw cannot be committed, run, revealed or verified as asked."""


class VerificationError(DrawError):
    """A draw did not verify: the seed, an input snapshot or the result differs."""


class UnknownInspectionError(InspectionError, LookupError):
    """A plan, draw or visit id names nothing stored."""


class ResultError(InspectionError, ValueError):
    """A finding cannot be recorded (unknown item, wrong outcome, already recorded)."""


__all__ = [
    "DrawError",
    "InspectionError",
    "PlanError",
    "ResultError",
    "UnknownInspectionError",
    "VerificationError",
]
