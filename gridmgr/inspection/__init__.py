"""Double-random inspections (双随机一公开): targets, inspectors, plans, verifiable draws, results.

The package is pure: no file, session or clock. :mod:`~gridmgr.inspection.registry` holds the
inspection targets, :mod:`~gridmgr.inspection.pool` the officers and their conflicts,
:mod:`~gridmgr.inspection.plan` what is to be inspected, :mod:`~gridmgr.inspection.draw` the
committed, reproducible draw of targets and officers, and :mod:`~gridmgr.inspection.results` the
findings and their public list. :mod:`~gridmgr.services.inspections` (the only impure module)
orchestrates them with the store.
"""

from __future__ import annotations

import hashlib
import json

from gridmgr.errors import GridMgrError


def canonical_json(value: object) -> str:
    """The canonical JSON every published inspection hash is taken over: sorted keys, no
    spaces, non-ASCII characters kept (hashed as UTF-8).

    >>> canonical_json({"b": [1, "江"], "a": None})
    '{"a":null,"b":[1,"江"]}'
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def json_sha256(value: object) -> str:
    """sha256 (hex) of :func:`canonical_json` of ``value``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


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
    "canonical_json",
    "json_sha256",
]
