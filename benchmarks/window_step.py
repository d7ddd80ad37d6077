"""The features job's window step of one day, sub-step by sub-step.

    cp -a /path/to/demo/lakehouse /tmp/ws-lh          # features already built; the step rewrites
    python benchmarks/window_step.py --home /tmp/ws-lh --date 2026-11-27 --runs 3

Runs ``jobs/features.py::_window_step`` for ``--date`` ``--runs`` times on the given lakehouse
(each run rewrites that day's rolling, link-family and cluster partitions with the same
rows, so use a copy) and prints, per sub-step, the median seconds of the runs. A sub-step
is the work up to one staged or written table, named after it: ``lineage_links`` is the
ban-evasion links, ``features/account_clusters`` the weak keys, link-family features and the
cluster rows. The machine's load average is printed too: a shared machine makes every
figure slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from distillguard import tables
from distillguard.config import FEATURES, Lakehouse
from distillguard.engine import get_spark
from distillguard.jobs import features


class Steps:
    """Seconds between consecutive stage/replace calls, labelled with the table written."""

    def __init__(self) -> None:
        self.seconds: list[tuple[str, float]] = []
        self.mark = time.perf_counter()

    def wrap(self, write: Callable[..., Any], label: Callable[[tuple[Any, ...]], str]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            result = write(*args, **kwargs)
            now = time.perf_counter()
            self.seconds.append((label(args), now - self.mark))
            self.mark = now
            return result

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a lakehouse (copy) whose features are built up to --date")
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lakehouse = Lakehouse.resolve(args.home)
    spark = get_spark()
    runs: list[dict[str, float]] = []
    stage, replace = tables.stage, tables.replace
    try:
        for _ in range(args.runs):
            steps = Steps()
            tables.stage = steps.wrap(stage, lambda a: a[2])
            tables.replace = steps.wrap(replace, lambda a: a[2].value)
            started = time.perf_counter()
            with tables.scratch(lakehouse):
                result = features._window_step(spark, lakehouse, args.date, FEATURES)
            totals: dict[str, float] = {}
            for name, seconds in steps.seconds:
                # label iterations alternate between two scratch tables: one line for all of them
                key = "labels (all iterations)" if name.startswith("labels_") else name
                totals[key] = totals.get(key, 0.0) + seconds
            totals["total"] = time.perf_counter() - started
            runs.append(totals)
    finally:
        tables.stage, tables.replace = stage, replace
    print(f"window step of {args.date}: median of {args.runs} runs, {result['iterations']} label iterations")
    for name in runs[0]:
        print(f"  {name:28s} {statistics.median(r[name] for r in runs):7.2f} s")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
