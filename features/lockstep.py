"""Lockstep: accounts that send the same templates in the same hours (SynchroTrap, CopyCatch).

Each account has a set of (day, sketch bucket, UTC hour) elements. Two accounts driven by
one script share most of theirs; two strangers using the same app share a bucket but
rarely its hours. Per pair, the Jaccard similarity of the two sets over
``lockstep_window_days`` days; a pair with Jaccard >= ``lockstep_min_jaccard`` (0.5: most
of both accounts' activity coincides) and at least ``lockstep_min_shared`` shared elements
(12: with 4 bands per request, about three template-hours; below that two quiet accounts
coincide by chance) is a lockstep edge, a strong link.

Bounded cost: only buckets used by at most ``lockstep_hub_accounts`` accounts on a day give
elements (a popular prompt's bucket would give n^2 pairs and is not evidence anyway), so a
day costs at most hub^2 pairs per bucket-hour. Incremental: elements never span days, so
``lockstep_daily`` stores per day the shared counts of each pair (``account_id < peer_id``)
and each account's own set size (``peer_id = account_id``); a window adds days up.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.windows import windowed


def lockstep_daily(sketch_day: DataFrame, day: date, settings: FeatureSettings = FEATURES) -> DataFrame:
    """(feature_date, account_id, peer_id, shared) from one day of ``sketch_daily``."""
    elements = sketch_day.select("account_id", "bucket", "hour").distinct()
    usable = (
        elements.groupBy("bucket")
        .agg(F.count_distinct("account_id").alias("accounts"))
        .where(F.col("accounts") <= settings.lockstep_hub_accounts)
        .select("bucket")
    )
    mine = elements.join(usable, "bucket")
    theirs = mine.select(F.col("account_id").alias("peer_id"), "bucket", "hour")
    return (
        mine.join(theirs, ["bucket", "hour"])
        .where(F.col("account_id") <= F.col("peer_id"))
        .groupBy("account_id", "peer_id")
        .agg(F.count("*").alias("shared"))
        .select(F.lit(day).alias("feature_date"), "account_id", "peer_id", "shared")
    )


def lockstep_pairs(daily: DataFrame, day: date, settings: FeatureSettings = FEATURES) -> DataFrame:
    """(account_id, peer_id, shared, jaccard) of every pair sharing an element in the window."""
    return lockstep_pairs_dates(daily, [day], settings).drop("feature_date")


def lockstep_pairs_dates(daily: DataFrame, days: list[date], settings: FeatureSettings = FEATURES) -> DataFrame:
    """``lockstep_pairs`` of each date of ``days``, with that date as ``feature_date``."""
    rows = (
        windowed(daily, days, settings.lockstep_window_days)
        .groupBy("feature_date", "account_id", "peer_id")
        .agg(F.sum("shared").alias("shared"))
    )
    sizes = rows.where(F.col("account_id") == F.col("peer_id")).select(
        "feature_date", "account_id", F.col("shared").alias("size")
    )
    pairs = rows.where(F.col("account_id") < F.col("peer_id"))
    return (
        pairs.join(sizes, ["feature_date", "account_id"])
        .join(
            sizes.select("feature_date", F.col("account_id").alias("peer_id"), F.col("size").alias("peer_size")),
            ["feature_date", "peer_id"],
        )
        .select(
            "feature_date",
            "account_id",
            "peer_id",
            "shared",
            (F.col("shared") / (F.col("size") + F.col("peer_size") - F.col("shared"))).alias("jaccard"),
        )
    )


def lockstep_edges(pairs: DataFrame, settings: FeatureSettings = FEATURES) -> DataFrame:
    """Pairs over the documented threshold with enough support."""
    return pairs.where(
        (F.col("jaccard") >= settings.lockstep_min_jaccard) & (F.col("shared") >= settings.lockstep_min_shared)
    )


def lockstep_features(pairs: DataFrame, settings: FeatureSettings = FEATURES, by: tuple[str, ...] = ()) -> DataFrame:
    """Per account (and ``by``, e.g. the date of a batch): lockstep peers (edges) and the
    highest Jaccard among supported pairs."""
    w = f"_{settings.lockstep_window_days}d"
    supported = pairs.where(F.col("shared") >= settings.lockstep_min_shared)
    both = supported.select(*by, "account_id", "peer_id", "shared", "jaccard").unionByName(
        supported.select(
            *by, F.col("peer_id").alias("account_id"), F.col("account_id").alias("peer_id"), "shared", "jaccard"
        )
    )
    return both.groupBy(*by, "account_id").agg(
        F.sum((F.col("jaccard") >= settings.lockstep_min_jaccard).cast("long")).alias(f"lockstep_peers{w}"),
        F.max("jaccard").alias(f"lockstep_max_jaccard{w}"),
    )
