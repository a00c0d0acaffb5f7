"""The house rules a machine checks: no import cycle, modules and functions of a readable size.

The layer and purity contracts are import-linter's (``[tool.importlinter]`` in pyproject.toml,
run by ``make test``); these tests add what import-linter does not say: the whole import graph,
imports inside functions included, has no cycle, and the size limits of the house style hold.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gridmgr", "dashboards")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
WAIVER = "# size: "
"""A function may exceed the limit only when a comment starting with this, on the line just
above its ``def`` (or its first decorator), says why."""


def _sources() -> list[Path]:
    return sorted(
        p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    )


def _own_code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """Lines of code of ``fn`` itself: no nested function or class, docstring, blank or comment."""
    own = set(range(fn.body[0].lineno, (fn.end_lineno or fn.lineno) + 1))
    first = fn.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        own -= set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    for node in ast.walk(fn):
        if node is not fn and isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            own -= set(range(start, (node.end_lineno or node.lineno) + 1))
    return sum(1 for i in own if lines[i - 1].strip() and not lines[i - 1].lstrip().startswith("#"))


def test_the_import_graph_has_no_cycle_counting_imports_inside_functions() -> None:
    # grimp sees every import statement, nested ones too
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    digraph = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            # a submodule importing its own package's __init__ (for a shared name) and the
            # __init__ importing nothing back is not a cycle; both directions would be
            digraph.add_edge(module, imported)
    assert digraph.number_of_nodes() > 100  # the graph was really built
    cycles = [sorted(c) for c in nx.strongly_connected_components(digraph) if len(c) > 1]
    assert cycles == [], "import cycles (each line one strongly connected set):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_of_readable_size(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= MAX_MODULE_LINES, (
        f"{path.relative_to(ROOT)} has {len(lines)} lines (at most {MAX_MODULE_LINES}): "
        "split it by concept"
    )
    long = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            count = _own_code_lines(node, lines)
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            waived = start >= 2 and lines[start - 2].strip().startswith(WAIVER)
            if count > MAX_FUNCTION_LINES and not waived:
                long.append(f"{node.name} (line {node.lineno}): {count} lines")
    assert long == [], (
        f"functions over {MAX_FUNCTION_LINES} lines of own code in "
        f"{path.relative_to(ROOT)}: {long}; split them, or say why above the def with "
        f"'{WAIVER}…'"
    )
