"""Pure parts of the demo simulator: the activity model (arrivals, categories, delays) and walks.

:mod:`gridmgr.services.simulator` drives them through the service layer; nothing here opens a
session or
reads the clock.
"""

from gridmgr.simulation.activity import ActivityModel, ArrivalModel
from gridmgr.simulation.walks import walk_in_cell

__all__ = ["ActivityModel", "ArrivalModel", "walk_in_cell"]
