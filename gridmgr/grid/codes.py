"""Cell codes: the hierarchical digit strings that name cells, and their pure conversions.

A code is a county code (6 digits, GB/T 2260, ``320281`` for Jiangyin) followed by three digits per
tier: town, community, unit grid. A tier-3 code therefore has 15 digits, and a child's code starts
with its parent's code, so ancestry is a prefix test and needs no lookup.
"""

from __future__ import annotations

import re

from gridmgr.errors import CellError

COUNTY_CODE_LENGTH = 6
DIGITS_PER_TIER = 3
TIERS = (1, 2, 3)

_CODE_RE = re.compile(r"^\d{9}(\d{3})?(\d{3})?$")


def code_length(tier: int) -> int:
    """Number of digits of a cell code at ``tier``.

    >>> code_length(3)
    15
    """
    if tier not in TIERS:
        raise CellError(f"tier must be 1, 2 or 3, got {tier!r}")
    return COUNTY_CODE_LENGTH + DIGITS_PER_TIER * tier


def is_valid_code(code: object) -> bool:
    """Whether ``code`` is a well-formed cell code of any tier (9, 12 or 15 digits).

    >>> is_valid_code("320281001002"), is_valid_code("32028100"), is_valid_code(320281001)
    (True, False, False)
    """
    return isinstance(code, str) and _CODE_RE.match(code) is not None


def code_to_tier(code: str) -> int:
    """The tier a well-formed code belongs to, from its length.

    >>> code_to_tier("320281001002003")
    3
    """
    if not is_valid_code(code):
        raise CellError(
            f"malformed cell code {code!r}: expected 9, 12 or 15 digits "
            "(county 6 + town 3 [+ community 3 [+ grid 3]]), e.g. '320281001002003'"
        )
    return (len(code) - COUNTY_CODE_LENGTH) // DIGITS_PER_TIER


def code_to_parent_code(code: str) -> str | None:
    """The code of the parent cell, or ``None`` for a tier-1 cell.

    >>> code_to_parent_code("320281001002003"), code_to_parent_code("320281001")
    ('320281001002', None)
    """
    tier = code_to_tier(code)
    return None if tier == 1 else code[: code_length(tier - 1)]


def code_to_county(code: str) -> str:
    """The 6-digit county code every cell code starts with.

    >>> code_to_county("320281001")
    '320281'
    """
    code_to_tier(code)
    return code[:COUNTY_CODE_LENGTH]


def is_ancestor_code(ancestor: str, code: str) -> bool:
    """Whether the cell ``ancestor`` contains the cell ``code`` (a cell is its own ancestor).

    >>> is_ancestor_code("320281001", "320281001002003")
    True
    >>> is_ancestor_code("320281002", "320281001002")
    False
    """
    code_to_tier(ancestor)
    code_to_tier(code)
    return code.startswith(ancestor)


def child_code(parent: str | None, seq: int, *, county: str) -> str:
    """The code of the ``seq``-th child (1-based) of ``parent``, or of a tier-1 cell if ``None``.

    >>> child_code("320281001", 7, county="320281")
    '320281001007'
    """
    if not 1 <= seq <= 999:
        raise CellError(f"child sequence number must be 1..999, got {seq}")
    prefix = county if parent is None else parent
    return f"{prefix}{seq:03d}"
