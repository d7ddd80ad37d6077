"""The flagged-accounts table: one row per (flag_date, account) with a risk tier, its evidence and lineage.

Evidence columns are read from the longest rolling window (``LONGEST_WINDOW``), so their
names follow the feature tables' suffix. Allow-listed accounts (enforcement/allow_list.py)
keep their row, tier and score with ``allow_listed`` true: the table records what the
model and policy decided, and the export and report decide what enforcement sees.

Rows are upserted with MERGE on (flag_date, account_id): re-running a day changes nothing
unless a score, tier, model, cluster or allow-list mark changed, accounts no longer flagged
on a re-run leave that day's rows, and other days (the history) are untouched.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import LONGEST_WINDOW, SCORING, Lakehouse, ScoringSettings, Table
from distillguard.scoring.policy import lift_to_clusters, risk_tiers

SPEND, REQUESTS, TEMPLATE_REUSE, INTENT_SHARE, CLUSTER_SPEND = (
    f"{name}{LONGEST_WINDOW}" for name in ("spend", "requests", "template_reuse", "intent_share", "cluster_spend")
)
FLAGGED_COLUMNS = (
    "flag_date",
    "account_id",
    "cluster_id",
    "score",
    "risk_tier",
    "top_reasons",
    "policy_reasons",
    "allow_listed",
    SPEND,
    REQUESTS,
    TEMPLATE_REUSE,
    INTENT_SHARE,
    "cluster_size",
    CLUSTER_SPEND,
    "partner_indicator_hits",
    "model_name",
    "model_version",
    "model_run_id",
    "scoring_run_id",
    "first_flagged_date",
    "last_flagged_date",
    "scored_at",
)
CHANGED = ("score", "risk_tier", "model_version", "cluster_id", "allow_listed")


def evidence(features: DataFrame) -> DataFrame:
    """Rolling and cluster features of a day -> the evidence columns a flagged row carries."""
    partner_hits = (
        F.col(f"partner_prefix_requests{LONGEST_WINDOW}")
        + F.col(f"partner_template_requests{LONGEST_WINDOW}")
        + F.coalesce(F.col("partner_payment_hit").cast("long"), F.lit(0))
    )
    return features.select(
        "account_id",
        F.coalesce("cluster_id", F.concat(F.lit("solo_"), "account_id")).alias("cluster_id"),
        F.coalesce("cluster_size", F.lit(1)).cast("long").alias("cluster_size"),
        F.coalesce("link_types", F.array().cast("array<string>")).alias("link_types"),
        F.coalesce(CLUSTER_SPEND, f"spend_usd{LONGEST_WINDOW}").alias(CLUSTER_SPEND),
        "kyc_tier",
        F.col(f"spend_usd{LONGEST_WINDOW}").alias(SPEND),
        F.col(f"requests{LONGEST_WINDOW}").cast("long").alias(REQUESTS),
        F.col(f"top_template_share{LONGEST_WINDOW}").alias(TEMPLATE_REUSE),
        F.col(f"intent_share{LONGEST_WINDOW}").alias(INTENT_SHARE),
        partner_hits.cast("long").alias("partner_indicator_hits"),
    )


def first_flagged(spark: SparkSession, lakehouse: Lakehouse, day: date) -> DataFrame | None:
    """Each account's earliest flag before ``day`` (None before the first scoring run)."""
    if not tables.exists(lakehouse, Table.FLAGGED_ACCOUNTS):
        return None
    return (
        tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
        .where(F.col("flag_date") < F.lit(day))
        .groupBy("account_id")
        .agg(F.min("flag_date").alias("earlier_flag"))
    )


def flagged_rows(
    scores: DataFrame,
    evidence_rows: DataFrame,
    earlier: DataFrame | None,
    allowed: DataFrame,
    day: date,
    threshold: float,
    model: dict[str, str],
    settings: ScoringSettings = SCORING,
    suspend_threshold: float | None = None,
) -> DataFrame:
    """Scored accounts -> the flagged rows of ``day`` (tiers, reasons, evidence, allow-list mark, lineage).

    ``allowed`` holds the ``account_id`` of every account allow-listed on ``day``."""
    tiered = risk_tiers(
        lift_to_clusters(scores.join(evidence_rows, "account_id"), settings),
        threshold,
        settings,
        suspend_threshold=suspend_threshold,
    )
    flagged = tiered.where(F.col("risk_tier").isNotNull())
    if earlier is None:
        flagged = flagged.withColumn("earlier_flag", F.lit(None).cast("date"))
    else:
        flagged = flagged.join(earlier, "account_id", "left")
    marks = allowed.select("account_id", F.lit(True).alias("_allowed")).distinct()
    flagged = flagged.join(marks, "account_id", "left")
    return flagged.select(
        F.lit(day).alias("flag_date"),
        "account_id",
        "cluster_id",
        F.col("final_score").alias("score"),
        "risk_tier",
        "top_reasons",
        "policy_reasons",
        F.coalesce("_allowed", F.lit(False)).alias("allow_listed"),
        SPEND,
        REQUESTS,
        TEMPLATE_REUSE,
        INTENT_SHARE,
        "cluster_size",
        CLUSTER_SPEND,
        "partner_indicator_hits",
        *[F.lit(value).alias(name) for name, value in model.items()],
        F.coalesce("earlier_flag", F.lit(day)).alias("first_flagged_date"),
        F.lit(day).alias("last_flagged_date"),
        F.lit(datetime.now(timezone.utc).replace(tzinfo=None)).alias("scored_at"),
    )


def merge(spark: SparkSession, lakehouse: Lakehouse, rows: DataFrame, day: date) -> None:
    """Make ``rows`` the flagged rows of ``day`` in one commit (see the module docstring)."""
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in CHANGED)
    tables.merge(
        spark,
        lakehouse,
        Table.FLAGGED_ACCOUNTS,
        rows,
        "t.flag_date = s.flag_date AND t.account_id = s.account_id",
        f"WHEN MATCHED AND ({changed}) THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * "
        f"WHEN NOT MATCHED BY SOURCE AND {tables.date_equals('t.flag_date', day)} THEN DELETE",
        ("flag_date",),
    )
