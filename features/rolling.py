"""7- and 28-day per-account windows, computed from the daily table only.

Never rescans request logs: a window is a sum of daily counts, so its cost grows with the
number of active accounts, not with history. Distinct counts cannot be added across days,
so windows keep the largest daily value (a lower bound on the window's distinct count).
Account context (KYC tier, age, partner payment hit) is what is known on the window's
last day, from that day's snapshot and indicators, even for accounts quiet that day.

Coverage: ``coverage_days_{w}d`` is how many days of the window the lakehouse has data
for (any account), so the first days after the lakehouse started, or after an outage,
are marked as partial windows instead of looking like quiet ones; the model reads it.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.account_daily import COUNTED, DISTINCT, MAXIMUM, MINIMUM, SUMMED, account_context, shares

UNVERIFIED_TIERS = ("none", "basic")


def _window_aggregates(window: int, day: date) -> list[Column]:
    inside = F.col("feature_date") > F.lit(day - timedelta(days=window))
    suffix = f"_{window}d"

    def within(value: Column) -> Column:
        return F.when(inside, value)

    summed = ["requests", "top_template_requests", *COUNTED, *SUMMED]
    columns = [F.coalesce(F.sum(within(F.col(name))), F.lit(0)).alias(name + suffix) for name in summed]
    columns += [F.max(within(F.col(name))).alias(f"max_daily_{name}{suffix}") for name in DISTINCT]
    columns += [F.min(within(F.col(name))).alias(name + suffix) for name in MINIMUM]
    columns += [F.max(within(F.col(name))).alias(name + suffix) for name in MAXIMUM]
    columns += [
        F.count(within(F.lit(1))).alias(f"active_days{suffix}"),
        (
            F.sum(within(F.col("hour_entropy") * F.col("requests")))
            / F.sum(within(F.when(F.col("hour_entropy").isNotNull(), F.col("requests"))))
        ).alias(f"hour_entropy{suffix}"),
        F.avg(within(F.col("interarrival_cv"))).alias(f"interarrival_cv{suffix}"),
    ]
    return columns


def rolling(
    daily: DataFrame, accounts: DataFrame, indicators: DataFrame, day: date, settings: FeatureSettings = FEATURES
) -> DataFrame:
    """One row per account active in the longest window ending on ``day`` (inclusive).

    ``accounts`` is the snapshot of ``day`` and ``indicators`` those first seen by then.
    """
    longest = max(settings.windows)
    window_rows = daily.where(
        (F.col("feature_date") > F.lit(day - timedelta(days=longest))) & (F.col("feature_date") <= F.lit(day))
    )
    aggregates = [agg for w in settings.windows for agg in _window_aggregates(w, day)]
    windows = window_rows.groupBy("account_id").agg(*aggregates)
    for w in settings.windows:
        windows = shares(windows, suffix=f"_{w}d")
    coverage = window_rows.agg(
        *[
            F.count_distinct(
                F.when(F.col("feature_date") > F.lit(day - timedelta(days=w)), F.col("feature_date"))
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
    return (
        windows.crossJoin(coverage)
        .join(account_context(accounts, indicators, day, settings), "account_id", "left")
        .select(
            F.lit(day).alias("feature_date"),
            "*",
            *confidence,
            monthly.alias("projected_monthly_spend"),
            (F.col("kyc_tier").isin(*UNVERIFIED_TIERS) & (monthly >= settings.kyc_review_monthly_usd)).alias(
                "unverified_over_kyc_threshold"
            ),
            (F.col("account_age_days") < settings.new_account_days).alias("new_account"),
        )
    )
