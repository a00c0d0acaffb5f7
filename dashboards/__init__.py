"""The command-center dashboard (Dash), served by ``gridmgr serve`` on the API's server.

``create_dash_app(server, data)`` mounts it under ``/dashboard/``; pages live in
:mod:`dashboards.pages`, pure figures in :mod:`dashboards.figures`, and everything shown comes
through :mod:`dashboards.data`.
"""

from dashboards.app import PREFIX, create_dash_app
from dashboards.data import DashData
from dashboards.geo import MapGeometry

__all__ = ["PREFIX", "DashData", "MapGeometry", "create_dash_app"]
