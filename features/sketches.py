"""Template sketches: MinHash over normalised character shingles, banded for LSH.

An exact template fingerprint misses a prompt that was slot-filled, reordered or lightly
reworded. A sketch does not: the prompt is normalised (the documented template
normalisation of ``features/fingerprint.py``, then punctuation removed), cut into
overlapping character shingles of ``sketch_shingle_chars`` characters (a text of at most
that length is one shingle), each shingle hashed once (xxhash64) and re-hashed under
``sketch_bands x sketch_rows`` seeds; the minimum per seed is a MinHash. Each band of
``sketch_rows`` minima is hashed (with the band index, so bands never collide with each
other) into one bucket. Two prompts with shingle Jaccard J share at least one bucket with
probability 1 - (1 - J^r)^b: with b=4, r=2, 0.83 at J=0.6 (paraphrases) and 0.04 at J=0.1
(unrelated prompts share common shingles only).

The per-request column ``template_sketch`` is the array of the b bucket ids (null without
prompt text). ``sketch_daily`` keeps, per day, account, bucket and UTC hour, the number of
requests; window features and lockstep edges (``features/lockstep.py``) are read from it.
All native Spark functions, no UDF.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.fingerprint import normalized_column
from distillguard.features.windows import dated, inside, windowed

PUNCTUATION = r"\p{P}+"
WEAK_COLUMNS = ("weak_sketch_cluster_peers", "weak_sketch_outside_accounts")
"""The sketch side of the weak links (features/clusters.py), computed with the sketch features."""
_TOP_SHIFT = 31
"""Bits of a bucket's account count in the packed top bucket (a count below 2^31; requests
of one account in one bucket over a window below 2^32)."""


def sketch_text(text: Column) -> Column:
    """The text the shingles are cut from: template-normalised, punctuation removed."""
    return F.trim(F.regexp_replace(F.regexp_replace(normalized_column(text), PUNCTUATION, " "), "[ ]+", " "))


def template_sketches(texts: DataFrame, key: str, text: str, settings: FeatureSettings = FEATURES) -> DataFrame:
    """(``key``, template_sketch): the array<bigint> of ``sketch_bands`` LSH bucket ids of
    each row's ``text``, for the rows whose text has any character left once cleaned (the
    others have no sketch: left-join the result). ``key`` is unique in ``texts``.

    Set-based: one row per shingle, each hash a plain column, each minimum an aggregate.
    The same values as hashing each text's shingle array with higher-order functions, 3-4x
    faster on Sail (docs/engine-compat.md)."""
    k, bands, rows = settings.sketch_shingle_chars, settings.sketch_bands, settings.sketch_rows
    clean = texts.select(key, sketch_text(F.col(text)).alias("clean")).where(F.length("clean") > 0)
    starts = F.sequence(F.lit(1), F.greatest(F.length("clean") - k + 1, F.lit(1)))
    shingles = clean.select(key, "clean", F.explode(starts).alias("start")).select(
        key, F.xxhash64(F.substring("clean", F.col("start"), k)).alias("shingle")
    )
    minima = [F.min(F.xxhash64(F.lit(seed), "shingle")).alias(f"_min{seed}") for seed in range(bands * rows)]
    buckets = [
        F.xxhash64(F.lit(band), *[F.col(f"_min{band * rows + row}") for row in range(rows)]) for band in range(bands)
    ]
    return shingles.groupBy(key).agg(*minima).select(key, F.array(*buckets).alias("template_sketch"))


def sketch_daily(signals: DataFrame, day: date) -> DataFrame:
    """(feature_date, account_id, band, bucket, hour, requests) from one day's request signals."""
    return (
        signals.where(F.col("template_sketch").isNotNull())
        .select("account_id", F.hour("ts").alias("hour"), F.posexplode("template_sketch").alias("band", "bucket"))
        .groupBy("account_id", "band", "bucket", "hour")
        .agg(F.count("*").alias("requests"))
        .select(
            F.lit(day).alias("feature_date"),
            "account_id",
            F.col("band").cast("int").alias("band"),
            "bucket",
            F.col("hour").cast("int").alias("hour"),
            "requests",
        )
    )


def window_buckets(daily: DataFrame, day: date, days: int) -> DataFrame:
    """(account_id, band, bucket, requests) over the ``days`` ending on ``day``."""
    return window_buckets_dates(daily, [day], days).drop("feature_date")


def window_buckets_dates(daily: DataFrame, ends: list[date], days: int) -> DataFrame:
    """(feature_date, account_id, band, bucket, requests): ``window_buckets`` of each date of
    ``ends`` (the window end as ``feature_date``). Hours are summed away per day first, so
    each (day, account, bucket) is attached once to each window holding it."""
    per_day = (
        daily.where(inside(ends, days))
        .groupBy("feature_date", "account_id", "band", "bucket")
        .agg(F.sum("requests").alias("requests"))
    )
    return (
        windowed(per_day, ends, days)
        .groupBy("feature_date", "account_id", "band", "bucket")
        .agg(F.sum("requests").alias("requests"))
    )


def sketch_features(
    daily: DataFrame,
    day: date,
    ids: DataFrame,
    settings: FeatureSettings = FEATURES,
    buckets: DataFrame | None = None,
) -> DataFrame:
    """Per account over the longest window: how concentrated its prompts are, how common,
    and who else sends them.

    A campaign re-sends few templates (high top-bucket share, few buckets); a popular prompt
    is sent by many unrelated accounts, so the bucket's account count says common, not suspicious.
    ``ids`` (account_id, cluster_id) are the day's strong clusters. ``buckets`` is
    ``window_buckets`` of the longest window when the caller already has it.
    The top bucket is the one with most requests, then most accounts.
    """
    if buckets is None:
        buckets = window_buckets(daily, day, max(settings.windows))
    return sketch_features_dates(dated(buckets, day), dated(ids, day), settings).drop("feature_date")


def sketch_features_dates(buckets: DataFrame, ids: DataFrame, settings: FeatureSettings = FEATURES) -> DataFrame:
    """``sketch_features`` of every ``feature_date`` of ``buckets`` (``window_buckets_dates``;
    ``ids``: the strong clusters of each date), with the sketch columns of the weak links
    (features/clusters.py::weak_link_features): the most members of its own strong cluster
    (``weak_sketch_cluster_peers``) and the most accounts outside it
    (``weak_sketch_outside_accounts``) sharing one of its buckets.

    Those come from the same bucket counts, without a row per bucket and cluster: an account
    alone in its cluster (most of them) has no peers and, outside, its most shared bucket's
    accounts but itself; only the members of larger clusters count their own cluster per bucket.
    A bucket's accounts are all in ``ids``: an account with requests in a window is active in it.

    The top bucket (most requests, then most accounts) is the maximum of one packed bigint,
    requests above ``_TOP_SHIFT`` bits of accounts: on Sail the maximum of a struct took 20x
    longer (docs/engine-compat.md)."""
    w = f"_{max(settings.windows)}d"
    keys = ["feature_date", "band", "bucket"]
    popularity = buckets.groupBy(*keys).agg(F.count("*").alias("bucket_accounts"))
    band0 = F.col("band") == 0
    per_account = (
        buckets.join(popularity, keys)
        .groupBy("feature_date", "account_id")
        .agg(
            F.sum(F.when(band0, F.col("requests"))).alias("sketched"),
            F.count(F.when(band0, F.lit(1))).alias("band0_buckets"),
            F.max(F.shiftleft(F.col("requests"), _TOP_SHIFT) + F.col("bucket_accounts")).alias("top"),
            F.max("bucket_accounts").alias("most_accounts"),
            F.count("*").alias("buckets"),
            F.sum(
                F.when(F.col("bucket_accounts") > settings.sketch_hub_accounts, F.col("requests")).otherwise(0)
            ).alias("popular_requests"),
            F.sum("requests").alias("bucket_requests"),
        )
        .where(F.col("band0_buckets") > 0)
    )
    sizes = ids.groupBy("feature_date", "cluster_id").agg(F.count("*").alias("size")).where(F.col("size") > 1)
    grouped = buckets.join(
        ids.join(sizes, ["feature_date", "cluster_id"]).select("feature_date", "account_id", "cluster_id"),
        ["feature_date", "account_id"],
    )
    members = grouped.groupBy(*keys, "cluster_id").agg(F.count("*").alias("members"))
    in_clusters = (
        grouped.join(members, [*keys, "cluster_id"])
        .join(popularity, keys)
        .groupBy("feature_date", "account_id")
        .agg(
            F.max(F.col("members") - 1).alias("peers"),
            F.max(F.col("bucket_accounts") - F.col("members")).alias("outside"),
        )
    )
    return per_account.join(in_clusters, ["feature_date", "account_id"], "left").select(
        "feature_date",
        "account_id",
        F.col("sketched").alias(f"sketch_requests{w}"),
        (F.shiftright("top", _TOP_SHIFT) / F.col("sketched")).alias(f"sketch_top_bucket_share{w}"),
        (F.col("buckets") / F.lit(settings.sketch_bands)).alias(f"sketch_distinct_buckets{w}"),
        ((F.col("top").bitwiseAND((1 << _TOP_SHIFT) - 1)) - 1).alias(f"sketch_top_bucket_other_accounts{w}"),
        (F.col("popular_requests") / F.col("bucket_requests")).alias(f"sketch_popular_share{w}"),
        F.coalesce("peers", F.lit(0)).alias(WEAK_COLUMNS[0]),
        F.coalesce("outside", F.col("most_accounts") - 1).alias(WEAK_COLUMNS[1]),
    )
