"""Models reference, built from the logs alone: when each model was first seen and whether
it is reasoning-capable.

Campaigns pivot to a newly released model within a day; a reasoning model is what
chain-of-thought harvesting targets. Neither is read from model names (names are the
provider's marketing, and they change): a model is reasoning-capable when any of its
requests reported reasoning tokens, and its release is the first request the lakehouse
saw for it. ``model_daily`` keeps one row per model and day (incremental, replaced with
the day); ``models_as_of`` sums them up to a day, point in time. A model already
present on the first day of data is not "new": the lakehouse only started watching.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings


def model_daily(signals: DataFrame, day: date) -> DataFrame:
    """Per model on ``day``: first request time, requests, requests with reasoning tokens."""
    return (
        signals.where(F.col("model").isNotNull())
        .groupBy("model")
        .agg(
            F.min("ts").alias("first_ts"),
            F.count("*").alias("requests"),
            F.count_if(F.coalesce(F.col("reasoning_tokens") > 0, F.lit(False))).alias("reasoning_requests"),
        )
        .select(F.lit(day).alias("feature_date"), "model", "first_ts", "requests", "reasoning_requests")
    )


def models_as_of(daily: DataFrame, day: date, settings: FeatureSettings = FEATURES) -> DataFrame:
    """The reference on ``day``: model, first_seen, reasoning_capable, new_model.

    ``new_model``: first seen within ``new_model_days`` up to ``day`` and after the first
    date the lakehouse has data for.
    """
    known = daily.where(F.col("feature_date") <= F.lit(day))
    start = known.agg(F.min("feature_date").alias("data_start"))
    reference = known.groupBy("model").agg(
        F.min("first_ts").alias("first_seen"),
        F.min("feature_date").alias("first_date"),
        F.sum("requests").alias("requests_to_date"),
        (F.sum("reasoning_requests") > 0).alias("reasoning_capable"),
    )
    recent = F.col("first_date") > F.lit(day - timedelta(days=settings.new_model_days))
    return reference.crossJoin(start).select(
        "model",
        "first_seen",
        "reasoning_capable",
        "requests_to_date",
        (recent & (F.col("first_date") > F.col("data_start"))).alias("new_model"),
    )
