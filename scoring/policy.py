"""Cluster lift and risk tiers: documented rules next to the model.

Lift: a campaign is a network, so an account in a cluster (2 to ``cluster_lift_max_size``
members) inherits ``cluster_lift`` x the highest member score when that is above its own.
Tiers (highest wins):
  suspend_recommended  final score >= max(suspend_score, model threshold);
  kyc_required         policy rule: projected monthly spend of the account's cluster (28-day
                       spend x 30/28) at or over the KYC review threshold (~$5,000, the
                       publicly discussed trigger) while the account is unverified (KYC
                       none/basic) - whatever the score, since splitting spend across
                       accounts is how distillers stay under per-account limits;
  review               final score >= the model's operating threshold.
Accounts with no tier are not flagged.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from distillguard.config import FEATURES, SCORING, FeatureSettings, ScoringSettings

TIERS = ("review", "kyc_required", "suspend_recommended")
UNVERIFIED = ("none", "basic")


def lift_to_clusters(scored: DataFrame, settings: ScoringSettings = SCORING) -> DataFrame:
    """Adds ``cluster_score`` and ``final_score`` (own score or the cluster's lifted one)."""
    cluster = Window.partitionBy("cluster_id")
    eligible = F.col("cluster_size").between(2, settings.cluster_lift_max_size)
    lifted = F.when(eligible, F.max("score").over(cluster) * settings.cluster_lift)
    return (scored.withColumn("cluster_score", F.max("score").over(cluster))
            .withColumn("final_score", F.greatest(F.col("score"), F.coalesce(lifted, F.col("score")))))


def risk_tiers(scored: DataFrame, threshold: float, scoring: ScoringSettings = SCORING,
               features: FeatureSettings = FEATURES) -> DataFrame:
    """Adds ``risk_tier`` (null when not flagged) and ``policy_reasons`` (rules that fired)."""
    longest = max(features.windows)
    monthly = F.col(f"cluster_spend_{longest}d") * 30.0 / longest
    kyc = F.col("kyc_tier").isin(*UNVERIFIED) & (monthly >= features.kyc_review_monthly_usd)
    suspend = F.col("final_score") >= max(scoring.suspend_score, threshold)
    review = F.col("final_score") >= threshold
    reasons = F.array_compact(F.array(
        F.when(kyc, F.format_string("cluster spend $%.0f/month at or over the $%.0f KYC review threshold "
                                    "without verification", monthly, F.lit(features.kyc_review_monthly_usd))),
        F.when(F.col("final_score") > F.col("score"),
               F.format_string("inherits %.2f from its cluster's highest score", F.col("final_score"))),
        F.when(review, F.format_string("model score %.2f at or over threshold %.2f", F.col("final_score"),
                                       F.lit(threshold)))))
    return scored.select("*", F.when(suspend, "suspend_recommended").when(kyc, "kyc_required")
                         .when(review, "review").alias("risk_tier"), reasons.alias("policy_reasons"))
