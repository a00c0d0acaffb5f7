"""What every benchmark shares: a table row, medians, and the printed table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass
class Row:
    """One figure beside its anchor, measured in the same run."""

    what: str
    figure: str
    anchor: str
    anchor_figure: str
    ratio: str
    budget: str


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``fn`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def print_table(console: Console, rows: Sequence[Row], title: str) -> None:
    """Print ``rows`` as the benchmark table."""
    table = Table(title=title)
    for col in ("what", "figure", "anchor (same run)", "anchor figure", "ratio", "budget"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.what, r.figure, r.anchor, r.anchor_figure, r.ratio, r.budget)
    console.print(table)
