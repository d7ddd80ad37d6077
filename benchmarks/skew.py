"""One account sending 3 M requests a day (public reporting), against the same rows spread.

    python benchmarks/skew.py --hot 3000000 --others 1000000 --accounts 30000 --runs 3

Builds a day of request timestamps on the engine (no landing files needed): ``--hot``
requests from one account at a steady cadence plus ``--others`` requests spread over
``--accounts`` ordinary accounts, and the same number of rows with the hot account's
requests spread over the ordinary accounts instead. The one per-account step that orders
an account's whole day is the inter-arrival statistic (``features/account_daily.py::
interarrival``: one window per account, so one task sorts the hot account's 3 M rows).
For each day it times that step next to a two-phase candidate (gaps ordered inside
(account, hour) slices, slices stitched, exact integer moments), each materialised by
summing the statistic over accounts, and prints the medians of ``--runs`` runs, the
hot/spread ratio of each, the peak process-tree RSS (``dag_benchmark.PeakRss``) and the
largest relative difference between the two results (they must agree).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from dag_benchmark import PeakRss
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from distillguard.engine import get_spark
from distillguard.features.account_daily import interarrival

DAY_START_US = 1_794_355_200_000_000  # 2026-11-03T00:00:00Z
DAY_US = 86_400_000_000


def _day(spark: SparkSession, hot: int, others: int, accounts: int, skewed: bool) -> DataFrame:
    """``hot + others`` requests over one day; with ``skewed`` the first ``hot`` belong to
    one account (evenly spaced), otherwise every row goes to the ordinary accounts."""
    rows = spark.range(hot + others)
    ordinary = F.concat(F.lit("acct_"), (F.col("id") % accounts).cast("string"))
    account = F.when(F.col("id") < hot, F.lit("acct_hot")).otherwise(ordinary) if skewed else ordinary
    offset = (F.col("id") * 7_919 % (hot + others)) * (DAY_US // (hot + others))
    return rows.select(
        account.alias("account_id"),
        F.timestamp_micros(F.lit(DAY_START_US) + offset).alias("ts"),
        F.concat(F.lit("req_"), F.col("id").cast("string")).alias("request_id"),
    )


_MOMENT = "decimal(38,0)"
"""Sums of squared gaps in microseconds: a day of gaps squared reaches ~1e28, past a long."""


def _squared(gap: Column) -> Column:
    return gap.cast(_MOMENT) * gap.cast(_MOMENT)


def _two_phase(signals: DataFrame) -> DataFrame:
    """``interarrival`` in two phases, so that no task holds a whole account's day: gaps
    are ordered inside each (account, hour) slice,
    then the slices are stitched by the gap between one slice's last request and the next
    one's first. The value comes from exact integer moments of the gaps in microseconds
    (count n, sum S, sum of squares Q: cv = sqrt(nQ - S^2) / S), so it does not depend on
    row order."""
    micros = F.unix_micros("ts")
    in_slice = Window.partitionBy("account_id", "slice").orderBy("ts", "request_id")
    slices = (
        signals.select("account_id", "ts", "request_id", F.date_trunc("hour", "ts").alias("slice"))
        .withColumn("gap", micros - F.lag(micros).over(in_slice))
        .groupBy("account_id", "slice")
        .agg(
            F.count("*").alias("requests"),
            F.min(micros).alias("first_us"),
            F.max(micros).alias("last_us"),
            F.sum(_squared(F.col("gap"))).alias("squares"),
        )
    )
    boundary = F.col("first_us") - F.lag("last_us").over(Window.partitionBy("account_id").orderBy("slice"))
    moments = (
        slices.withColumn(
            "squares",
            F.coalesce("squares", F.lit(0).cast(_MOMENT)) + F.coalesce(_squared(boundary), F.lit(0).cast(_MOMENT)),
        )
        .groupBy("account_id")
        .agg(
            (F.sum("requests") - 1).alias("n"),
            (F.max("last_us") - F.min("first_us")).alias("s"),
            F.sum("squares").alias("q"),
        )
    )
    spread = F.col("n").cast(_MOMENT) * F.col("q") - F.col("s").cast(_MOMENT) * F.col("s").cast(_MOMENT)
    return moments.select(
        "account_id",
        F.when((F.col("n") >= 2) & (F.col("s") > 0), F.sqrt(spread.cast("double")) / F.col("s")).alias(
            "interarrival_cv"
        ),
    )


def _materialise(result: DataFrame) -> float:
    """Sum of every account's statistic: forces the ordering a bare ``count`` may skip."""
    return result.agg(F.sum("interarrival_cv")).first()[0]


def _time(step: Callable[[], float], runs: int) -> tuple[float, list[float], int]:
    seconds, peak = [], 0
    for _ in range(runs):
        with PeakRss() as rss:
            started = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - started)
        peak = max(peak, rss.peak)
    return statistics.median(seconds), seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hot", type=int, default=3_000_000)
    parser.add_argument("--others", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    spark = get_spark()
    print(
        f"{args.hot:,} hot + {args.others:,} other requests, {args.accounts:,} accounts; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    for name, step in (("one pass (interarrival)", interarrival), ("two phases (hour slices)", _two_phase)):
        medians = {}
        for skewed in (True, False):
            day = _day(spark, args.hot, args.others, args.accounts, skewed)
            median, runs, peak = _time(lambda day=day, step=step: _materialise(step(day)), args.runs)
            medians[skewed] = median
            label = "hot account" if skewed else "spread"
            print(
                f"{name:<26} {label:<12} {median:7.1f} s  (runs {', '.join(f'{s:.1f}' for s in runs)}), "
                f"peak RSS {peak / 2**30:.2f} GiB"
            )
        print(f"{name:<26} hot / spread {medians[True] / medians[False]:.2f}x")
    day = _day(spark, args.hot, args.others, args.accounts, True)
    pairs = interarrival(day).join(_two_phase(day).withColumnRenamed("interarrival_cv", "two"), "account_id")
    difference = pairs.agg(
        F.max(F.abs(F.col("interarrival_cv") - F.col("two")) / F.greatest(F.abs("two"), F.lit(1e-300)))
    ).first()[0]
    print(f"largest relative difference between the two: {difference:.1e}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
