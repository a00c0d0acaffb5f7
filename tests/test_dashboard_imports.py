"""The dashboard's import structure, imports inside functions included: no cycle, pages that
import neither the app nor each other, and the store and the API reached only through
:mod:`gridmgr.services`."""

from __future__ import annotations

from typing import Any

import pytest

grimp = pytest.importorskip("grimp")  # installed with import-linter


@pytest.fixture(scope="module")
def graph() -> Any:
    return grimp.build_graph("dashboards", "gridmgr", cache_dir=None)


def dashboard_modules(graph: Any) -> list[str]:
    return sorted(m for m in graph.modules if m == "dashboards" or m.startswith("dashboards."))


def test_no_dashboard_module_is_part_of_an_import_cycle(graph: Any) -> None:
    cycles = []
    for module in dashboard_modules(graph):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append(" -> ".join([module, *back]))
    assert cycles == []


def test_pages_import_neither_the_app_nor_each_other(graph: Any) -> None:
    pages = [m for m in dashboard_modules(graph) if m.startswith("dashboards.pages.")]
    assert len(pages) == 10
    for page in pages:
        imported = graph.find_modules_directly_imported_by(page)
        assert "dashboards.app" not in imported, page
        assert "dashboards" not in imported, page  # the package re-exports the app
        assert not [m for m in imported if m.startswith("dashboards.pages")], page


def test_the_dashboard_reaches_the_store_and_the_api_only_through_services(graph: Any) -> None:
    direct = {
        (module, imported)
        for module in dashboard_modules(graph)
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith(("gridmgr.store", "gridmgr.api"))
    }
    assert direct == set()
