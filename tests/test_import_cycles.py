"""The pure core has no import cycle, counting imports made inside functions (grimp's graph)."""

from __future__ import annotations

import grimp
import networkx as nx

PURE = (
    "gridmgr.grid",
    "gridmgr.responsibility",
    "gridmgr.intake",
    "gridmgr.cases",
    "gridmgr.ledger",
    "gridmgr.analytics",
    "gridmgr.inspection",
    "gridmgr.access",
    "gridmgr.shipped",
    "gridmgr.settings",
    "gridmgr.datafiles",
    "gridmgr.notifications",
    "gridmgr.patrols",
    "gridmgr.simulation",
    "gridmgr.tablefiles",
    "gridmgr.errors",
    "gridmgr.testing",
)


def is_pure(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PURE)


def test_no_import_cycle_among_the_pure_modules() -> None:
    graph = grimp.build_graph("gridmgr", cache_dir=None)
    imports = nx.DiGraph()
    for module in filter(is_pure, graph.modules):
        imports.add_node(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if is_pure(imported):
                imports.add_edge(module, imported)
    cycles = [sorted(c) for c in nx.strongly_connected_components(imports) if len(c) > 1]
    assert cycles == []
    assert imports.number_of_nodes() > 50  # the graph was really built
