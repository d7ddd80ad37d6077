"""Hand-made feature and incident tables for the training tests (Spark rows and Delta tables)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from distillguard.models.training_set import CLUSTER_FEATURES, COVERAGE_COLUMNS, FEATURE_COLUMNS

D0 = date(2026, 11, 1)
BOOLEANS = ("zero_data_retention", "partner_payment_hit", "unverified_over_kyc_threshold", "new_account")
STRINGS = ("kyc_tier", "plan")
ROLLING_FEATURES = [c for c in FEATURE_COLUMNS if c not in CLUSTER_FEATURES] + list(COVERAGE_COLUMNS)


def _type(name: str) -> str:
    return "boolean" if name in BOOLEANS else "string" if name in STRINGS else "double"


ROLLING_SCHEMA = "account_id string, feature_date date, " + ", ".join(f"{c} {_type(c)}" for c in ROLLING_FEATURES)
CLUSTER_SCHEMA = "account_id string, feature_date date, cluster_id string, link_types array<string>, " + ", ".join(
    f"{c} double" for c in CLUSTER_FEATURES
)
INCIDENT_SCHEMA = (
    "incident_id string, account_id string, label string, window_start date, window_end date, "
    "decided_on date, source string"
)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def _default(name: str) -> Any:
    return False if name in BOOLEANS else "basic" if name == "kyc_tier" else "payg" if name == "plan" else 0.0


def rolling_df(spark: SparkSession, rows: list[dict]) -> DataFrame:
    """Rows give account_id, feature_date and any feature; the rest are defaults."""
    return spark.createDataFrame(
        [tuple(r.get(c, _default(c)) for c in ["account_id", "feature_date", *ROLLING_FEATURES]) for r in rows],
        ROLLING_SCHEMA,
    )


def clusters_df(spark: SparkSession, rows: list[dict]) -> DataFrame:
    return spark.createDataFrame(
        [
            (
                r["account_id"],
                r["feature_date"],
                r["cluster_id"],
                r.get("link_types", []),
                # Unless given, no strong link to a banned account (such an unlabelled row is a suspect).
                *(r.get(c, 0.0 if c == "lineage_strong_accounts" else 1.0) for c in CLUSTER_FEATURES),
            )
            for r in rows
        ],
        CLUSTER_SCHEMA,
    )


def incidents_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, INCIDENT_SCHEMA)


def synthetic_tables(
    spark: SparkSession, seed: int = 3, days: int = 16, positives: int = 36, benign: int = 36, unlabelled: int = 80
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """A small world for the train job: distillers differ in rhythm (hour entropy, inter-arrival
    variation), which the rule baseline ignores, with overlap; CoT and template shares are
    noise for both classes. Every labelled account is its own incident and cluster, decided
    on day 4..days-1."""
    rng = np.random.default_rng(seed)
    rolling, clusters, incidents = [], [], []
    accounts = (
        [("P", i, 1) for i in range(positives)]
        + [("B", i, 0) for i in range(benign)]
        + [("U", i, 0) for i in range(unlabelled)]
    )
    for kind, i, attack in accounts:
        account = f"{kind}{i:03d}"
        strength = rng.uniform(0.35, 1.0) if attack else rng.uniform(0.0, 0.65)
        for n in range(days):
            noisy = lambda: float(np.clip(strength + rng.normal(0, 0.1), 0, 1))  # noqa: E731
            rolling.append(
                {
                    "account_id": account,
                    "feature_date": day(n),
                    "hour_entropy_28d": noisy(),
                    "interarrival_cv_28d": noisy(),
                    "intent_share_28d": float(rng.uniform(0, 0.6)),
                    "top_template_share_28d": float(rng.uniform(0, 0.6)),
                    "requests_28d": float(rng.integers(10, 1000)),
                    "spend_usd_28d": float(rng.uniform(1, 500)),
                }
            )
            clusters.append({"account_id": account, "feature_date": day(n), "cluster_id": f"c-{account}"})
        if kind != "U":
            decided = 4 + (i * (days - 5)) // max(positives, benign)
            incidents.append(
                (
                    f"INC-{account}",
                    account,
                    "distillation" if attack else "benign",
                    day(decided - 4),
                    day(decided - 2),
                    day(decided),
                    "red_team" if attack and i % 3 == 0 else "enforcement_review",
                )
            )
    return rolling_df(spark, rolling), clusters_df(spark, clusters), incidents_df(spark, incidents)
