"""The command-center dashboard (Dash), served by ``gridmgr serve`` on the API's server.

:func:`mount_dashboard` builds it under ``/dashboard/`` from the deployment's
:class:`~gridmgr.services.context.Services`. Pages live in :mod:`dashboards.pages`, what they
show comes from :mod:`dashboards.reads` (one module a page), what they change goes through
:mod:`dashboards.actions`, and pure figures are in :mod:`dashboards.figures`.
"""

from dashboards.app import mount_dashboard
from dashboards.context import PREFIX, Dashboard, dashboard_of
from dashboards.geo import MapGeometry

__all__ = ["PREFIX", "Dashboard", "MapGeometry", "dashboard_of", "mount_dashboard"]
