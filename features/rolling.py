"""7- and 28-day per-account windows, computed from the daily table only.

Never rescans request logs: a window is a sum of daily counts, so its cost grows with the
number of active accounts, not with history. Distinct counts cannot be added across days,
so windows keep the largest daily value (a lower bound on the window's distinct count).
Account context (KYC tier, age, partner payment hit) is what is known on the window's
last day, from that day's snapshot and indicators, even for accounts quiet that day.

Batches: ``rolling_dates`` computes the windows of several end dates in one aggregation
(each daily row attached to the end dates whose longest window holds it), what a backfill
runs; ``rolling`` is the one-date case.

Coverage: ``coverage_days_{w}d`` is how many days of the window the lakehouse has data
for (any account), so the first days after the lakehouse started, or after an outage,
are marked as partial windows instead of looking like quiet ones; the model reads it.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.account_daily import (
    COUNTED,
    DISTINCT,
    MAXIMUM,
    MINIMUM,
    SUMMED,
    account_context,
    exact_mean,
    exact_sum,
    shares,
    summed,
)
from distillguard.features.windows import windowed

UNVERIFIED_TIERS = ("none", "basic")


def _window_aggregates(window: int) -> list[Column]:
    """Aggregates of the ``window`` days ending on each row's ``window_end``."""
    inside = F.datediff(F.col("window_end"), F.col("feature_date")) < window
    suffix = f"_{window}d"

    def within(value: Column) -> Column:
        return F.when(inside, value)

    added = ["requests", "top_template_requests", *COUNTED, *SUMMED]
    columns = [F.coalesce(summed(within(F.col(name)), name), F.lit(0)).alias(name + suffix) for name in added]
    columns += [F.max(within(F.col(name))).alias(f"max_daily_{name}{suffix}") for name in DISTINCT]
    columns += [F.min(within(F.col(name))).alias(name + suffix) for name in MINIMUM]
    columns += [F.max(within(F.col(name))).alias(name + suffix) for name in MAXIMUM]
    columns += [
        F.count(within(F.lit(1))).alias(f"active_days{suffix}"),
        (
            exact_sum(within(F.col("hour_entropy") * F.col("requests")))
            / F.sum(within(F.when(F.col("hour_entropy").isNotNull(), F.col("requests"))))
        ).alias(f"hour_entropy{suffix}"),
        exact_mean(within(F.col("interarrival_cv"))).alias(f"interarrival_cv{suffix}"),
    ]
    return columns


def context_of(
    accounts: DataFrame, indicators: DataFrame, day: date, settings: FeatureSettings = FEATURES
) -> DataFrame:
    """``account_context`` of ``day`` keyed by ``feature_date``, for ``rolling_dates``."""
    return account_context(accounts, indicators, day, settings).withColumn("feature_date", F.lit(day))


def rolling_dates(
    daily: DataFrame, context: DataFrame, days: list[date], settings: FeatureSettings = FEATURES
) -> DataFrame:
    """``rolling`` of every date of ``days`` in one aggregation: each daily row is attached to
    the window-end dates of ``days`` whose longest window holds it, then grouped by (window
    end, account). ``context`` holds, per ``feature_date`` of ``days``, the account context of
    that date (``context_of``: its snapshot and the indicators first seen by then)."""
    longest = max(settings.windows)
    window_rows = windowed(daily, days, longest, end_as="window_end")
    aggregates = [agg for w in settings.windows for agg in _window_aggregates(w)]
    windows = window_rows.groupBy("window_end", "account_id").agg(*aggregates)
    for w in settings.windows:
        windows = shares(windows, suffix=f"_{w}d")
    coverage = window_rows.groupBy("window_end").agg(
        *[
            F.count_distinct(
                F.when(F.datediff(F.col("window_end"), F.col("feature_date")) < w, F.col("feature_date"))
            ).alias(f"coverage_days_{w}d")
            for w in settings.windows
        ]
    )
    spend = F.col(f"spend_usd_{longest}d")
    monthly = spend * 30.0 / longest
    confidence = [
        F.greatest(f"partner_request_confidence_{w}d", "partner_payment_confidence").alias(f"partner_confidence_{w}d")
        for w in settings.windows
    ]
    joined = windows.join(F.broadcast(coverage), "window_end").join(
        context.withColumnRenamed("feature_date", "window_end"), ["window_end", "account_id"], "left"
    )
    return joined.select(
        F.col("window_end").alias("feature_date"),
        *[c for c in joined.columns if c != "window_end"],
        *confidence,
        monthly.alias("projected_monthly_spend"),
        (F.col("kyc_tier").isin(*UNVERIFIED_TIERS) & (monthly >= settings.kyc_review_monthly_usd)).alias(
            "unverified_over_kyc_threshold"
        ),
        (F.col("account_age_days") < settings.new_account_days).alias("new_account"),
    )


def rolling(
    daily: DataFrame, accounts: DataFrame, indicators: DataFrame, day: date, settings: FeatureSettings = FEATURES
) -> DataFrame:
    """One row per account active in the longest window ending on ``day`` (inclusive).

    ``accounts`` is the snapshot of ``day`` and ``indicators`` those first seen by then.
    """
    return rolling_dates(daily, context_of(accounts, indicators, day, settings), [day], settings)
