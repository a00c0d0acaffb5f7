"""Reading cases as a caller: the one rule for which case a person may see, for every door."""

from __future__ import annotations

from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.errors import CaseNotFoundError
from gridmgr.store import Store


def visible_case(store: Store, caller: Caller, case_id: str) -> Case:
    """The case ``case_id`` if the caller may see it.

    A case that does not exist and a case out of the caller's scope are refused alike, with
    :class:`~gridmgr.errors.CaseNotFoundError` (404), so an id reveals nothing.
    """
    try:
        case = store.case(case_id)
    except CaseNotFoundError:
        case = None
    if case is None or not caller.may_see(case):
        raise CaseNotFoundError(f"no case {case_id} visible to you")
    return case
