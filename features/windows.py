"""Windows of several end dates in one pass: rolling windows and the cluster step of a batch.

A backfill computes the windows and clusters of many dates; each date reads the daily
rows of the window ending on it (28 days of rolling sums, keys and sketch buckets, 7 of
lockstep pairs, 90 of lineage keys). ``windowed`` attaches each daily row to every end date of the batch whose
window holds it, so one aggregation grouped by ``feature_date`` (the window end) gives
every date's window at once, instead of one job (and one re-read of 28 days) per date.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def inside(days: list[date], length: int) -> Column:
    """Daily rows that some ``length``-day window ending on one of ``days`` holds (a superset
    for gaps between the dates; ``windowed`` keeps only the exact ones)."""
    return (F.col("feature_date") > F.lit(min(days) - timedelta(days=length))) & (
        F.col("feature_date") <= F.lit(max(days))
    )


def windowed(daily: DataFrame, days: list[date], length: int, end_as: str = "feature_date") -> DataFrame:
    """The rows of ``daily`` inside the ``length``-day window (D - length, D] of each D in
    ``days``, once per such D, with D (the window end) as ``end_as``: by default it replaces
    the row's own ``feature_date``; another name keeps both (rolling windows of several
    lengths measure each row's distance to the end)."""
    first, last = min(days), max(days)
    ends = F.explode(
        F.sequence(
            F.greatest(F.col("feature_date"), F.lit(first)),
            F.least(F.date_add(F.col("feature_date"), length - 1), F.lit(last)),
        )
    )
    columns = [c for c in daily.columns if c != end_as]
    return daily.where(inside(days, length)).select(ends.alias(end_as), *columns).where(F.col(end_as).isin(*days))


def dated(df: DataFrame, day: date) -> DataFrame:
    """``df`` as the rows of one date (``feature_date`` = ``day``), for the one-date forms."""
    return df.withColumn("feature_date", F.lit(day))
