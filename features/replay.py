"""Reasoning replay: reasoning blocks sent back by an account they were not issued to.

Each response may carry an opaque ``reasoning_ref_issued``; a later request may send refs
back in ``reasoning_refs_sent`` (multi-turn continuation). A ref sent by an account other
than the one it was issued to is the published replay technique, and a strong link between
the two accounts. Point in time: a sent ref is resolved against refs issued on any day up
to and including the sending day, strictly before the sending request (``ts``); a ref
issued later, or never seen, has no source.

``replay_daily`` holds, per sending day, account and source account, the number of refs
sent (the account itself when it resends its own blocks, null when unresolved); windows
add days up, so the cost of a day is the refs sent that day and the lookup of their issues.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.windows import windowed


def replay_daily(signals_history: DataFrame, day: date) -> DataFrame:
    """(feature_date, account_id, source_account_id, refs) for the refs sent on ``day``."""
    return replay_daily_dates(signals_history, [day])


def replay_daily_dates(signals_history: DataFrame, days: list[date]) -> DataFrame:
    """``replay_daily`` of each date of ``days`` (its sending day as ``feature_date``) in one
    join. A ref's source is its earliest issue, and it counts only when strictly before the
    sending request; an issue on a later event date is later than every request of the day,
    so the earliest issues up to the last date resolve every date's refs as each date's own
    issues would. Only the refs the dates sent are looked up."""
    sent = signals_history.where(F.col("event_date").isin(*days) & (F.size("reasoning_refs_sent") > 0)).select(
        F.col("event_date").alias("feature_date"), "account_id", "ts", F.explode("reasoning_refs_sent").alias("ref")
    )
    issued = (
        signals_history.where((F.col("event_date") <= F.lit(max(days))) & F.col("reasoning_ref_issued").isNotNull())
        .select(F.col("reasoning_ref_issued").alias("ref"), "account_id", "ts")
        .join(sent.select("ref").distinct(), "ref", "left_semi")
        .groupBy("ref")
        .agg(F.min_by("account_id", "ts").alias("issued_to"), F.min("ts").alias("issued_ts"))
    )
    source = F.when(F.col("issued_ts") < F.col("ts"), F.col("issued_to"))
    return (
        sent.join(issued, "ref", "left")
        .groupBy("feature_date", "account_id", source.alias("source_account_id"))
        .agg(F.count("*").alias("refs"))
        .select("feature_date", "account_id", "source_account_id", "refs")
    )


def replay_edges(daily: DataFrame, day: date, settings: FeatureSettings = FEATURES) -> DataFrame:
    """(account_id, source_account_id, refs): cross-account replay over the longest window,
    at least ``replay_min_refs`` refs (one stray ref can be a shared transcript)."""
    return replay_edges_dates(daily, [day], settings).drop("feature_date")


def replay_edges_dates(daily: DataFrame, days: list[date], settings: FeatureSettings = FEATURES) -> DataFrame:
    """``replay_edges`` of each date of ``days``, with that date as ``feature_date``."""
    foreign = F.col("source_account_id").isNotNull() & (F.col("source_account_id") != F.col("account_id"))
    return (
        windowed(daily.where(foreign), days, max(settings.windows))
        .groupBy("feature_date", "account_id", "source_account_id")
        .agg(F.sum("refs").alias("refs"))
        .where(F.col("refs") >= settings.replay_min_refs)
    )


def replay_features(daily: DataFrame, day: date, settings: FeatureSettings = FEATURES) -> DataFrame:
    """Per account over the longest window: refs sent, refs replayed from other accounts
    (count, share, distinct sources) and how many accounts replayed its own blocks."""
    return replay_features_dates(daily, [day], settings).drop("feature_date")


def replay_features_dates(daily: DataFrame, days: list[date], settings: FeatureSettings = FEATURES) -> DataFrame:
    """``replay_features`` of each date of ``days``, with that date as ``feature_date``."""
    w = f"_{max(settings.windows)}d"
    rows = windowed(daily, days, max(settings.windows))
    foreign = F.col("source_account_id").isNotNull() & (F.col("source_account_id") != F.col("account_id"))
    sent = rows.groupBy("feature_date", "account_id").agg(
        F.sum("refs").alias(f"replay_refs_sent{w}"),
        F.coalesce(F.sum(F.when(foreign, F.col("refs"))), F.lit(0)).alias(f"replay_foreign_refs{w}"),
        F.count_distinct(F.when(foreign, F.col("source_account_id"))).alias(f"replay_sources{w}"),
    )
    replayers = (
        rows.where(foreign)
        .groupBy("feature_date", F.col("source_account_id").alias("account_id"))
        .agg(F.count_distinct("account_id").alias(f"replay_replayers{w}"))
    )
    return sent.join(replayers, ["feature_date", "account_id"], "full").select(
        "feature_date",
        "account_id",
        F.coalesce(f"replay_refs_sent{w}", F.lit(0)).alias(f"replay_refs_sent{w}"),
        F.coalesce(f"replay_foreign_refs{w}", F.lit(0)).alias(f"replay_foreign_refs{w}"),
        (F.col(f"replay_foreign_refs{w}") / F.col(f"replay_refs_sent{w}")).alias(f"replay_foreign_share{w}"),
        F.coalesce(f"replay_sources{w}", F.lit(0)).alias(f"replay_sources{w}"),
        F.coalesce(f"replay_replayers{w}", F.lit(0)).alias(f"replay_replayers{w}"),
    )
