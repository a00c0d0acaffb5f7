"""The data shipped with gridmgr (the Jiangyin grid, the catalog, the calendar), found by package.

The wheel carries ``data/`` as ``gridmgr/_data``; a source checkout has ``gridmgr/_data`` as a
link to ``data/``. Both are found the same way, with :mod:`importlib.resources`, so nothing
climbs parent folders and a CSV reader never pulls in the geospatial stack.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gridmgr.errors import GridFileError


def shipped_data_dir() -> Path:
    """The ``data/`` folder shipped with gridmgr.

    >>> (shipped_data_dir() / "catalog.csv").is_file()
    True
    """
    packaged = resources.files("gridmgr").joinpath("_data")
    if not packaged.is_dir():
        raise GridFileError("gridmgr's data folder is missing: reinstall gridmgr")
    return Path(str(packaged))
