"""Cluster lift and risk tiers: documented rules next to the model.

Clusters are components over strong links only (``features/clusters.py``: payment, partner
indicators, reasoning replay, lockstep, lineage to banned accounts); shared IP ranges, user
agents, organisations and common prompts never put two accounts in one cluster, so nothing
below can reach an account through them.

Lift: a campaign is a network, so an account in a strong cluster of 2 to
``cluster_lift_max_size`` members inherits ``cluster_lift`` x the highest member score when
that is above its own. When the lifted score reaches the review threshold, the reason names
the member it came from and the account's strong link types (a lift that flags nobody is
not a reason). Component-size guard: a larger cluster (a hub that slipped past the per-key
caps) lifts nobody and its spend is not pooled.
Tiers (highest wins):
  suspend_recommended  final score >= max(suspend threshold, model threshold), the suspend threshold
                       being the model's own 0.01%-benign-FPR operating point (``suspend_score``
                       for models trained before it was recorded);
  kyc_required         policy rule: projected monthly spend (28-day spend x 30/28) at or over
                       the KYC review threshold (~$5,000, the publicly discussed trigger) while
                       the account is unverified (KYC none/basic) - whatever the score. Spend
                       is pooled over the strong cluster (same size guard as the lift), since
                       splitting spend across accounts is how distillers stay under
                       per-account limits; outside a strong cluster it is the account's own;
  review               final score >= the model's operating threshold.
Accounts with no tier are not flagged.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillguard.config import FEATURES, SCORING, FeatureSettings, ScoringSettings

TIERS = ("review", "kyc_required", "suspend_recommended")
UNVERIFIED = ("none", "basic")


def _strong_cluster(settings: ScoringSettings) -> Column:
    """Member of a strong cluster small enough to pool evidence over."""
    return F.col("cluster_size").between(2, settings.cluster_lift_max_size) & (F.size("link_types") > 0)


def lift_to_clusters(scored: DataFrame, settings: ScoringSettings = SCORING) -> DataFrame:
    """Adds ``cluster_score``, ``lift_source`` (the member holding it, ties to the smallest id)
    and ``final_score`` (own score or the cluster's lifted one)."""
    cluster = Window.partitionBy("cluster_id")
    top = F.max("score").over(cluster)
    lifted = F.when(_strong_cluster(settings), top * settings.cluster_lift)
    return (
        scored.withColumn("cluster_score", top)
        .withColumn(
            "lift_source", F.min(F.when(F.col("score") == F.col("cluster_score"), F.col("account_id"))).over(cluster)
        )
        .withColumn("final_score", F.greatest(F.col("score"), F.coalesce(lifted, F.col("score"))))
    )


def risk_tiers(
    scored: DataFrame,
    threshold: float,
    scoring: ScoringSettings = SCORING,
    features: FeatureSettings = FEATURES,
    suspend_threshold: float | None = None,
) -> DataFrame:
    """Adds ``risk_tier`` (null when not flagged) and ``policy_reasons`` (rules that fired)."""
    longest = max(features.windows)
    pooled = _strong_cluster(scoring)
    spend = F.when(pooled, F.col(f"cluster_spend_{longest}d")).otherwise(F.col(f"spend_{longest}d"))
    monthly = spend * 30.0 / longest
    links = F.array_join("link_types", ", ")
    kyc = F.col("kyc_tier").isin(*UNVERIFIED) & (monthly >= features.kyc_review_monthly_usd)
    suspend = F.col("final_score") >= max(
        scoring.suspend_score if suspend_threshold is None else suspend_threshold, threshold
    )
    review = F.col("final_score") >= threshold
    reasons = F.array_compact(
        F.array(
            F.when(
                kyc & pooled,
                F.format_string(
                    "cluster spend $%.0f/month (strong links: %s) at or over the $%.0f KYC review threshold "
                    "without verification",
                    monthly,
                    links,
                    F.lit(features.kyc_review_monthly_usd),
                ),
            ).when(
                kyc,
                F.format_string(
                    "spend $%.0f/month at or over the $%.0f KYC review threshold without verification",
                    monthly,
                    F.lit(features.kyc_review_monthly_usd),
                ),
            ),
            F.when(
                (F.col("final_score") > F.col("score")) & review,
                F.format_string(
                    "inherits %.2f from cluster member %s (score %.2f) through strong links: %s",
                    F.col("final_score"),
                    F.col("lift_source"),
                    F.col("cluster_score"),
                    links,
                ),
            ),
            F.when(
                review,
                F.format_string("model score %.2f at or over threshold %.2f", F.col("final_score"), F.lit(threshold)),
            ),
        )
    )
    return scored.select(
        "*",
        F.when(suspend, "suspend_recommended").when(kyc, "kyc_required").when(review, "review").alias("risk_tier"),
        reasons.alias("policy_reasons"),
    )
