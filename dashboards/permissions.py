"""Who may open which page and press which button, beyond the case scope every read applies.

Every callback is a public endpoint: the page hides what a caller may not use, and these checks
refuse it again on the server (a :class:`~gridmgr.errors.ForbiddenError`, which the pages show
as "this page is for the command center and managers").
"""

from __future__ import annotations

from gridmgr.access import Caller
from gridmgr.cases import Role
from gridmgr.errors import ForbiddenError


def require_city_wide(caller: Caller) -> None:
    """Refuse the pages for city-wide roles (coverage review, inspections) to field staff."""
    if not caller.city_wide:
        raise ForbiddenError("this page is for the command center and managers")


def require_operator(caller: Caller) -> None:
    """Refuse placing and merging cases to anyone but the command center's operators."""
    if caller.actor.role is not Role.OPERATOR:
        raise ForbiddenError("only the command center's operators place and merge cases")
