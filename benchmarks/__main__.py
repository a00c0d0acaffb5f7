"""Print the benchmark table: ``python -m benchmarks [--quick]`` (or ``make bench``)."""

from __future__ import annotations

import argparse

from benchmarks.grid_bench import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier medians)")
    parser.add_argument("--points", type=int, default=1_000_000, help="points for bulk locate")
    args = parser.parse_args()
    run(repeats=3 if args.quick else 7, n_points=args.points)


if __name__ == "__main__":
    main()
