"""The window part of a features backfill alone (rolling, link families, clusters), on a
lakehouse whose daily features are built.

    cp -a /tmp/fresh11d/lakehouse /tmp/cs-lh
    python benchmarks/cluster_step.py --home /tmp/cs-lh --start 2026-11-01 --days 28 --runs 2

Runs ``jobs/features.py::window_batch`` over the dates in batches of
``FeatureSettings.daily_batch_dates``, exactly as ``backfill`` does after its daily part, and
prints per run the seconds of the whole window part and of each batch, then the seconds
spent up to each staged or written table (summed over the dates), and the load average:
a shared machine makes every figure slower. It rewrites the dates' window partitions with
the same rows, so use a copy. ``--dates-per-batch 1`` times one date at a time (a daily run).
The tables written can be checked against another lakehouse with
``benchmarks/compare_feature_tables.py --tables account_clusters``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from datetime import date, timedelta

from features_backfill import timed_phases

from distillguard import tables
from distillguard.config import FEATURES, Lakehouse
from distillguard.engine import get_spark
from distillguard.jobs import features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a lakehouse (copy) with daily features built")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--dates-per-batch", type=int, default=FEATURES.daily_batch_dates)
    args = parser.parse_args()
    lakehouse = Lakehouse.resolve(args.home)
    spark = get_spark()
    settings = replace(FEATURES, daily_batch_dates=args.dates_per_batch)
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    batches = [days[i : i + args.dates_per_batch] for i in range(0, len(days), args.dates_per_batch)]
    snapshots = features.snapshot_dates(spark, lakehouse)
    print(f"code: {features.__file__}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    totals: list[float] = []
    seconds: dict[str, float] = {}
    for run in range(args.runs):
        per_batch = []
        with tables.scratch(lakehouse), timed_phases(seconds):
            for batch in batches:
                started = time.perf_counter()
                features.window_batch(spark, lakehouse, batch, settings, snapshots)
                per_batch.append(time.perf_counter() - started)
        totals.append(sum(per_batch))
        print(
            f"run {run + 1}: window part of {len(days)} dates {totals[-1]:7.1f} s "
            f"(batches: {', '.join(f'{s:.1f}' for s in per_batch)}); load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    print(f"median window part {statistics.median(totals):7.1f} s over {args.runs} run(s)")
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"    {name:<44} {value / args.runs:8.1f} s per run")


if __name__ == "__main__":
    main()
