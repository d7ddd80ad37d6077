"""Daily scoring: the champion scores every account active in the window, distributed.

Scores are lifted to clusters and turned into risk tiers with the documented policy rules
(scoring/policy.py); flagged accounts are upserted with MERGE on (flag_date, account_id):
re-running a day changes nothing unless a score or tier changed, accounts no longer
flagged on a re-run leave that day's rows, and other days (the history) are untouched.
Every run is an MLflow run: model version, counts per tier, score distribution, feature
drift against the training set, and the flagged table's Delta version.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import maintenance, quality, tables
from distillguard.config import FEATURES, SCORING, Lakehouse, ScoringSettings, Table
from distillguard.errors import DistillguardError
from distillguard.models import registry
from distillguard.models.training_set import model_input
from distillguard.scoring.drift import DRIFT_FEATURES, drift
from distillguard.scoring.model_scores import score_accounts
from distillguard.scoring.policy import TIERS, lift_to_clusters, risk_tiers

EXPERIMENT_NAME = "distillguard-score"
FLAGGED_COLUMNS = ("flag_date", "account_id", "cluster_id", "score", "risk_tier", "top_reasons", "policy_reasons",
                   "spend_28d", "requests_28d", "template_reuse_28d", "cot_share_28d", "cluster_size",
                   "cluster_spend_28d", "partner_indicator_hits", "model_name", "model_version", "model_run_id",
                   "scoring_run_id", "first_flagged_date", "last_flagged_date", "scored_at")
CHANGED = ("score", "risk_tier", "model_version", "cluster_id")
QUANTILES = (0.5, 0.9, 0.99)


def _features(spark: SparkSession, lakehouse: Lakehouse, day: date) -> DataFrame:
    on_day = F.col("feature_date") == F.lit(day)
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(on_day).drop("feature_date")
    clusters = tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS).where(on_day).drop("feature_date")
    frame = rolling.join(clusters, "account_id", "left")
    if frame.limit(1).count() == 0:
        raise DistillguardError(f"no features for {day}; run `distillguard features --date {day}` first")
    return frame


def _evidence(frame: DataFrame) -> DataFrame:
    longest = f"_{max(FEATURES.windows)}d"
    partner_hits = (F.col(f"partner_prefix_requests{longest}") + F.col(f"partner_template_requests{longest}")
                    + F.coalesce(F.col("partner_payment_hit").cast("long"), F.lit(0)))
    return frame.select(
        "account_id", F.coalesce("cluster_id", F.concat(F.lit("solo_"), "account_id")).alias("cluster_id"),
        F.coalesce("cluster_size", F.lit(1)).cast("long").alias("cluster_size"),
        F.coalesce("link_types", F.array().cast("array<string>")).alias("link_types"),
        F.coalesce(f"cluster_spend{longest}", f"spend_usd{longest}").alias(f"cluster_spend{longest}"),
        "kyc_tier", F.col(f"spend_usd{longest}").alias("spend_28d"),
        F.col(f"requests{longest}").cast("long").alias("requests_28d"),
        F.col(f"top_template_share{longest}").alias("template_reuse_28d"),
        F.col(f"cot_share{longest}").alias("cot_share_28d"), partner_hits.cast("long").alias("partner_indicator_hits"))


def _first_flagged(spark: SparkSession, lakehouse: Lakehouse, day: date) -> DataFrame | None:
    if not tables.exists(lakehouse, Table.FLAGGED_ACCOUNTS):
        return None
    return (tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS).where(F.col("flag_date") < F.lit(day))
            .groupBy("account_id").agg(F.min("flag_date").alias("earlier_flag")))


def flagged_rows(scores: DataFrame, evidence: DataFrame, earlier: DataFrame | None, day: date, threshold: float,
                 model: dict[str, str], settings: ScoringSettings = SCORING) -> DataFrame:
    """Scored accounts -> the flagged rows of ``day`` (tiers, reasons, evidence, lineage)."""
    tiered = risk_tiers(lift_to_clusters(scores.join(evidence, "account_id"), settings), threshold, settings)
    flagged = tiered.where(F.col("risk_tier").isNotNull())
    if earlier is not None:
        flagged = flagged.join(earlier, "account_id", "left")
    else:
        flagged = flagged.withColumn("earlier_flag", F.lit(None).cast("date"))
    return flagged.select(
        F.lit(day).alias("flag_date"), "account_id", "cluster_id", F.col("final_score").alias("score"), "risk_tier",
        "top_reasons", "policy_reasons", "spend_28d", "requests_28d", "template_reuse_28d", "cot_share_28d",
        "cluster_size", "cluster_spend_28d", "partner_indicator_hits",
        *[F.lit(value).alias(name) for name, value in model.items()],
        F.coalesce("earlier_flag", F.lit(day)).alias("first_flagged_date"), F.lit(day).alias("last_flagged_date"),
        F.lit(datetime.now(timezone.utc).replace(tzinfo=None)).alias("scored_at"))


def _merge(spark: SparkSession, lakehouse: Lakehouse, rows: DataFrame, day: date) -> None:
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in CHANGED)
    tables.merge(spark, lakehouse, Table.FLAGGED_ACCOUNTS, rows,
                 "t.flag_date = s.flag_date AND t.account_id = s.account_id",
                 f"WHEN MATCHED AND ({changed}) THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * "
                 f"WHEN NOT MATCHED BY SOURCE AND t.flag_date = DATE'{day}' THEN DELETE", ("flag_date",))


def _training_sample(spark: SparkSession, lakehouse: Lakehouse) -> pd.DataFrame | None:
    if not tables.exists(lakehouse, Table.TRAINING_SET):
        return None
    frame = tables.read(spark, lakehouse, Table.TRAINING_SET)
    return frame.select(*[c for c in DRIFT_FEATURES if c in frame.columns]).toPandas()


def run(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: ScoringSettings = SCORING) -> dict[str, Any]:
    """Score every account with features on ``day`` and upsert that day's flagged accounts."""
    champion = registry.load_champion(lakehouse)
    scorer = champion.model.unwrap_python_model().scorer
    mlflow_client = registry.client(lakehouse)
    model_run_id = mlflow_client.get_model_version(registry.MODEL_NAME, champion.version).run_id
    frame = _features(spark, lakehouse, day)
    scores = score_accounts(model_input(frame, keep=("account_id",)), scorer.booster.model_to_string(),
                            scorer.meta, settings.top_reasons)
    mlflow.set_experiment(experiment_id=registry.experiment_id(lakehouse, mlflow_client, EXPERIMENT_NAME))
    with mlflow.start_run(run_name=f"score-{day}") as scoring_run:
        model = {"model_name": registry.MODEL_NAME, "model_version": str(champion.version),
                 "model_run_id": model_run_id, "scoring_run_id": scoring_run.info.run_id}
        rows = flagged_rows(scores, _evidence(frame), _first_flagged(spark, lakehouse, day), day,
                            champion.threshold, model, settings)
        staged = tables.stage(spark, lakehouse, f"flagged_{day:%Y%m%d}", rows)
        gates = quality.Gates(spark, lakehouse, f"score-{day}-{scoring_run.info.run_id[:12]}")
        if gates.check("flagged_accounts", staged).critical_failures:
            gates.close()
        _merge(spark, lakehouse, staged, day)
        gates.close()
        by_tier = {r["risk_tier"]: r["count"] for r in staged.groupBy("risk_tier").count().collect()}
        # Scalar percentile_approx: Sail has neither approxQuantile nor the array form.
        quantiles = list(scores.agg(*[F.percentile_approx("score", q, 10_000).alias(f"q{i}")
                                      for i, q in enumerate(QUANTILES)]).first())
        psi = {}
        training = _training_sample(spark, lakehouse)
        if training is not None:
            psi = drift(training, frame.select(*[c for c in DRIFT_FEATURES if c in frame.columns]),
                        settings.drift_bins)
        version = maintenance.version(lakehouse, Table.FLAGGED_ACCOUNTS)
        mlflow.log_params({"flag_date": day.isoformat(), "model_version": champion.version,
                           "threshold": champion.threshold, "model_uri": champion.uri})
        mlflow.log_metrics({"accounts_scored": frame.count(), "flagged": sum(by_tier.values()),
                            **{f"tier_{t}": by_tier.get(t, 0) for t in TIERS},
                            "score_p50": quantiles[0], "score_p90": quantiles[1], "score_p99": quantiles[2],
                            **{f"psi_{k}": v for k, v in psi.items()}, "flagged_table_version": version})
        drifted = sorted(k for k, v in psi.items() if v >= settings.drift_warning_psi)
        mlflow.set_tags({"flag_date": day.isoformat(), "drift_warning": ",".join(drifted) or "none"})
        if drifted:
            print(f"WARNING: feature drift (PSI >= {settings.drift_warning_psi}) on {', '.join(drifted)}", flush=True)
    return {"flag_date": day.isoformat(), "flagged": sum(by_tier.values()), "by_tier": by_tier,
            "model_version": champion.version, "scoring_run_id": scoring_run.info.run_id,
            "flagged_table_version": version, "psi": psi,
            "score_quantiles": dict(zip(("p50", "p90", "p99"), np.round(quantiles, 4).tolist()))}
