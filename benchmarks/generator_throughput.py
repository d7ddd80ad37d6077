"""Generator throughput: median of N runs of `generate` at a scale, each into a fresh folder.

python benchmarks/generator_throughput.py                 # bench scale, 1 day, 3 runs
python benchmarks/generator_throughput.py --scale seed --runs 1   # seed wall time
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from datetime import date
from pathlib import Path

from distillguard.config import Lakehouse
from distillguard.synthetic.generate import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--days", type=int, help="default: the scale's own")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the runs write")
    args = parser.parse_args()
    rates, seconds = [], []
    for run in range(args.runs):
        home = Path(args.dir) / f"distillguard-genbench-{run}"
        shutil.rmtree(home, ignore_errors=True)
        summary = generate(Lakehouse.resolve(home), args.scale, date(2026, 11, 1), args.days, seed=run, progress=False)
        rates.append(summary.requests_generated / summary.seconds)
        seconds.append(summary.seconds)
        print(
            f"run {run + 1}: {summary.requests_generated:,} requests over {summary.days} day(s) "
            f"in {summary.seconds:.1f}s = {rates[-1]:,.0f} requests/s",
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"{args.scale}: median {statistics.median(rates):,.0f} requests/s, "
        f"median wall time {statistics.median(seconds):.1f}s over {args.runs} run(s)"
    )


if __name__ == "__main__":
    main()
