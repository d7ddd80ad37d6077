"""Rebuild the window features (rolling, link families, clusters) of every date, in order.

    cp -a /path/to/demo/lakehouse /tmp/rw-lh          # daily features already built
    python benchmarks/rebuild_windows.py --home /tmp/rw-lh [--start 2026-11-01] [--end 2026-11-28]

Runs ``jobs/features.py::_window_step`` for each date from ``--start`` (default: the first
``account_daily`` date) to ``--end`` (default: the last), so a change to the link or cluster
code can be measured on a lakehouse without re-ingesting or recomputing the daily features
(then ``distillguard --home ... train --as-of END``). Prints the seconds of each date and the
total; it rewrites those partitions, so use a copy.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import FEATURES, Lakehouse, Table
from distillguard.engine import get_spark
from distillguard.jobs import features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a lakehouse (copy) with daily features built")
    parser.add_argument("--start", type=date.fromisoformat)
    parser.add_argument("--end", type=date.fromisoformat)
    args = parser.parse_args()
    lakehouse = Lakehouse.resolve(args.home)
    spark = get_spark()
    span = (
        tables.read(spark, lakehouse, Table.ACCOUNT_DAILY)
        .agg(F.min("feature_date").alias("first"), F.max("feature_date").alias("last"))
        .first()
    )
    day, end = args.start or span["first"], args.end or span["last"]
    started = time.perf_counter()
    while day <= end:
        mark = time.perf_counter()
        with tables.scratch(lakehouse):
            features._window_step(spark, lakehouse, day, FEATURES)
        print(f"{day}: {time.perf_counter() - mark:6.1f} s", flush=True)
        day += timedelta(days=1)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
