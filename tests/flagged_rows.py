"""Flagged rows written by hand in the scoring job's layout, for the export, report and allow-list tests."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pyspark.sql import SparkSession

from distillguard.config import Lakehouse, Table

D = date(2026, 11, 3)
FLAGGED_SCHEMA = (
    "flag_date date, account_id string, cluster_id string, score double, risk_tier string, "
    "top_reasons array<struct<feature:string,value:double,contribution:double>>, policy_reasons array<string>, "
    "allow_listed boolean, spend_28d double, requests_28d long, template_reuse_28d double, intent_share_28d double, cluster_size long, "
    "cluster_spend_28d double, partner_indicator_hits long, model_name string, model_version string, "
    "model_run_id string, scoring_run_id string, first_flagged_date date, last_flagged_date date, "
    "scored_at timestamp"
)


def flagged(
    account: str,
    tier: str,
    score: float,
    day: date = D,
    cluster: str = "c1",
    size: int = 3,
    version: str = "3",
    run: str = "run-1",
    cluster_spend: float = 9000.0,
    model_run: str = "mlrun-9",
    allow_listed: bool = False,
) -> tuple:
    """One flagged row in the scoring job's column order."""
    reasons = [{"feature": "intent_share_28d", "value": 0.8, "contribution": 1.25}]
    return (
        day,
        account,
        cluster,
        score,
        tier,
        reasons,
        ["model score"],
        allow_listed,
        120.5,
        4000,
        0.6,
        0.8,
        size,
        cluster_spend,
        2,
        "distillguard_distillation",
        version,
        model_run,
        run,
        date(2026, 11, 1),
        day,
        datetime(2026, 11, 4, 2, 30),
    )


def write_flagged(spark: SparkSession, lakehouse: Lakehouse, rows: list[tuple], day: date = D) -> None:
    """Make ``rows`` the flagged rows of ``day`` with the scoring job's MERGE."""
    df = spark.createDataFrame(rows, FLAGGED_SCHEMA)
    path = lakehouse.table_path(Table.FLAGGED_ACCOUNTS)
    if not (Path(path) / "_delta_log").is_dir():
        df.write.format("delta").partitionBy("flag_date").mode("append").save(path)
        return
    df.createOrReplaceTempView("hand_flagged")
    spark.sql(
        f"MERGE INTO delta.`{path}` AS t USING hand_flagged AS s "
        "ON t.flag_date = s.flag_date AND t.account_id = s.account_id "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * "
        f"WHEN NOT MATCHED BY SOURCE AND t.flag_date = DATE'{day}' THEN DELETE"
    ).collect()
