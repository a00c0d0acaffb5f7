"""Print the benchmark table: ``python -m benchmarks [--quick]`` (or ``make bench``)."""

from __future__ import annotations

import argparse

from rich.console import Console

from benchmarks import grid_bench, http_bench, ledger_bench, routing_bench, store_bench
from benchmarks.common import print_table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier medians)")
    parser.add_argument("--points", type=int, default=1_000_000, help="points for bulk locate")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    console = Console(width=170)
    rows = grid_bench.run(repeats=repeats, n_points=args.points, console=console)
    rows += routing_bench.run(repeats=repeats, console=console)
    rows += ledger_bench.run(repeats=repeats, console=console)
    rows += store_bench.run(repeats=repeats, console=console)
    rows += http_bench.run(repeats=repeats, console=console)
    print_table(console, rows, f"gridmgr benchmarks (medians of {repeats}; {args.points:,} points)")


if __name__ == "__main__":
    main()
