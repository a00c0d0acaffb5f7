"""Print the benchmark table: ``python -m benchmarks [--quick] [NAME ...]`` (or ``make bench``).

With no NAME every benchmark runs; ``python -m benchmarks dashboard`` runs only the dashboard's
(every page too, on the simulated database ``GRIDMGR_BENCH_DB`` names).
"""

from __future__ import annotations

import argparse

from rich.console import Console

from benchmarks import (
    assess_bench,
    coverage_bench,
    dashboard_bench,
    duplicates_bench,
    grid_bench,
    http_bench,
    invariants_bench,
    ledger_bench,
    merkle_bench,
    nodes_bench,
    pages_bench,
    ratelimit_bench,
    replay_bench,
    routing_bench,
    simulate_bench,
    store_bench,
    writers_bench,
)
from benchmarks.common import Row, print_table

NAMES = (
    "grid",
    "routing",
    "ledger",
    "merkle",
    "replay",
    "store",
    "writers",
    "http",
    "dashboard",
    "duplicates",
    "invariants",
    "coverage",
    "nodes",
    "ratelimit",
    "assess",
    "simulate",
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"run only these benchmarks, of: {', '.join(NAMES)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier medians)")
    parser.add_argument("--points", type=int, default=1_000_000, help="points for bulk locate")
    parser.add_argument(
        "--pages",
        help="dashboard: only these pages, comma-separated, of: " + ", ".join(pages_bench.PAGES),
    )
    args = parser.parse_args()
    try:
        pages_bench.chosen_pages(args.pages)
    except ValueError as e:
        parser.error(str(e))
    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}: choose from {', '.join(NAMES)}")
    chosen = set(args.names) or set(NAMES)
    repeats = 3 if args.quick else 7
    console = Console(width=170)
    rows: list[Row] = []
    if "grid" in chosen:
        rows += grid_bench.run(repeats=repeats, n_points=args.points, console=console)
    if "routing" in chosen:
        rows += routing_bench.run(repeats=repeats, console=console)
    if "ledger" in chosen:
        rows += ledger_bench.run(repeats=repeats, console=console)
    if "merkle" in chosen:
        rows += merkle_bench.run(repeats=repeats, console=console)
    if "replay" in chosen:
        rows += replay_bench.run(repeats=repeats, console=console)
    if "store" in chosen:
        rows += store_bench.run(repeats=repeats, console=console)
    if "writers" in chosen:
        rows += writers_bench.run(repeats=min(repeats, 3), console=console)  # 6 s a repeat
    if "http" in chosen:
        rows += http_bench.run(repeats=min(repeats, 3), console=console)  # 20 s a repeat
    if "dashboard" in chosen:
        rows += dashboard_bench.run(repeats=repeats, console=console)
        # every page on a simulated database ($GRIDMGR_BENCH_DB; a row says how, without one)
        rows += pages_bench.run(repeats=min(repeats, 5), console=console, only=args.pages)
    if "duplicates" in chosen:
        rows += duplicates_bench.run(repeats=repeats, console=console)
    if "invariants" in chosen:
        rows += invariants_bench.run(repeats=repeats, console=console)
    if "coverage" in chosen:
        rows += coverage_bench.run(repeats=repeats, console=console)
    if "nodes" in chosen:
        rows += nodes_bench.run(repeats=repeats, console=console)
    if "ratelimit" in chosen:
        rows += ratelimit_bench.run(repeats=repeats, console=console)
    if "assess" in chosen:
        rows += assess_bench.run(repeats=repeats, console=console)
    if "simulate" in chosen:
        rows += simulate_bench.run(repeats=repeats, console=console)
    points = f"; {args.points:,} points" if "grid" in chosen else ""
    print_table(console, rows, f"gridmgr benchmarks (medians of {repeats}{points})")


if __name__ == "__main__":
    main()
