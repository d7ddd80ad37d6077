"""7- and 28-day per-account windows, computed from the daily table only.

Never rescans request logs: a window is a sum of daily counts, so its cost grows with the
number of active accounts, not with history. Distinct counts cannot be added across days,
so windows keep the largest daily value (a lower bound on the window's distinct count).
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.account_daily import COUNTED, DISTINCT, SUMMED, shares

UNVERIFIED_TIERS = ("none", "basic")
CONTEXT = ("kyc_tier", "plan", "zero_data_retention")


def _window_aggregates(window: int, day: date) -> list[Column]:
    inside = F.col("feature_date") > F.lit(day - timedelta(days=window))
    suffix = f"_{window}d"

    def within(value: Column) -> Column:
        return F.when(inside, value)

    summed = ["requests", "top_template_requests", *COUNTED, *SUMMED]
    columns = [F.coalesce(F.sum(within(F.col(name))), F.lit(0)).alias(name + suffix) for name in summed]
    columns += [F.max(within(F.col(name))).alias(f"max_daily_{name}{suffix}") for name in DISTINCT]
    columns += [
        F.count(within(F.lit(1))).alias(f"active_days{suffix}"),
        (F.sum(within(F.col("hour_entropy") * F.col("requests")))
         / F.sum(within(F.when(F.col("hour_entropy").isNotNull(), F.col("requests"))))).alias(f"hour_entropy{suffix}"),
        F.avg(within(F.col("interarrival_cv"))).alias(f"interarrival_cv{suffix}"),
    ]
    return columns


def rolling(daily: DataFrame, day: date, settings: FeatureSettings = FEATURES) -> DataFrame:
    """One row per account active in the longest window ending on ``day`` (inclusive)."""
    longest = max(settings.windows)
    window_rows = daily.where((F.col("feature_date") > F.lit(day - timedelta(days=longest)))
                              & (F.col("feature_date") <= F.lit(day)))
    latest = Window.partitionBy("account_id").orderBy(F.col("feature_date").desc())
    context = (window_rows.withColumn("recency", F.row_number().over(latest)).where(F.col("recency") == 1)
               .select("account_id", *CONTEXT,
                       (F.col("account_age_days") + F.datediff(F.lit(day), F.col("feature_date")))
                       .alias("account_age_days")))
    aggregates = [agg for w in settings.windows for agg in _window_aggregates(w, day)]
    aggregates.append(F.max(F.col("partner_payment_hit").cast("int")).cast("boolean").alias("partner_payment_hit"))
    windows = window_rows.groupBy("account_id").agg(*aggregates)
    for w in settings.windows:
        windows = shares(windows, suffix=f"_{w}d")
    spend = F.col(f"spend_usd_{longest}d")
    monthly = spend * 30.0 / longest
    return (windows.join(context, "account_id")
            .select(F.lit(day).alias("feature_date"), "*",
                    monthly.alias("projected_monthly_spend"),
                    (F.col("kyc_tier").isin(*UNVERIFIED_TIERS) & (monthly >= settings.kyc_review_monthly_usd))
                    .alias("unverified_over_kyc_threshold"),
                    (F.col("account_age_days") < settings.new_account_days).alias("new_account")))
