"""Cell adjacency: the graph of cells that share a border of positive length (networkx).

Cells that only touch at a corner are not neighbours. Each edge carries ``border_m``, the length
of the shared border in the grid's metric CRS; each node carries the cell's ``name`` and ``tier``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import shapely

from gridmgr.grid.territory import to_metric

if TYPE_CHECKING:
    import geopandas as gpd


def cells_to_graph(cells: gpd.GeoDataFrame, *, metric_crs: str) -> nx.Graph:
    """The adjacency graph of one tier's ``cells`` (EPSG:4326).

    >>> from gridmgr.testing import tiny_grid
    >>> g = tiny_grid().grid_to_graph(2)
    >>> sorted(d for _, d in g.degree())  # four quadrants: each has two edge-neighbours
    [2, 2, 2, 2]
    """
    geoms = np.asarray(cells.geometry.values, dtype=object)
    codes = cells["code"].tolist()
    graph = nx.Graph()
    for code, name, tier in zip(codes, cells["name"], cells["tier"], strict=True):
        graph.add_node(code, name=name, tier=int(tier))
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b]))
    lengths = shapely.length(to_metric(shared, metric_crs))
    for i, j, length in zip(a, b, lengths, strict=True):
        if length > 0:
            graph.add_edge(codes[i], codes[j], border_m=float(length))
    return graph
