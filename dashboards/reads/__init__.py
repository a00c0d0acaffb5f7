"""What the dashboard's pages show, one module per page (plus :mod:`~dashboards.reads.names`).

Every read takes the deployment's :class:`~gridmgr.services.context.Services` and, for anything
about cases, the :class:`~gridmgr.access.Caller`, and limits what it returns to his scope. The
store is read only through :mod:`gridmgr.services`: no SQL here, no routing of our own. Results
are plain view-model values (dataclasses, lists, frames) that the pure figure and layout
functions turn into components. Writes are in :mod:`dashboards.actions`.
"""
