"""Daily scoring: the champion scores every account active in the window, distributed.

The champion is the registered pyfunc behind ``models:/<name>@champion`` (models/registry.py),
shipped to the workers as its artifact. Scores are lifted to clusters and turned into risk
tiers with the documented policy rules (scoring/policy.py); the flagged rows, their
evidence and the allow-list mark are enforcement/flags.py's, upserted with MERGE on
(flag_date, account_id). Allow-listed accounts keep their row (``allow_listed`` true) and
are counted apart: they are never exported. Every run is an MLflow run: model version,
counts per tier, score distribution, feature drift against the training set, and the
flagged table's Delta version.

Scores are computed once per run: the model's output is staged (a scratch Delta table)
and the flagged rows, the score quantiles and the count all read the stage. Drift is
measured against the summary the champion's training run logged
(scoring/drift.py ``REFERENCE_ARTIFACT``), never against the training set itself; a
champion trained before that summary existed gets no PSI (tag ``drift_reference``).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import SCORING, Lakehouse, ScoringSettings, Table
from distillguard.enforcement import allow_list, flags
from distillguard.errors import DistillguardError
from distillguard.models import registry
from distillguard.models.training_set import model_input
from distillguard.scoring.drift import REFERENCE_ARTIFACT, drift
from distillguard.scoring.model_scores import score_accounts
from distillguard.scoring.policy import TIERS

EXPERIMENT_NAME = "distillguard-score"
log = logging.getLogger(__name__)
QUANTILES = (0.5, 0.9, 0.99)


def _features(spark: SparkSession, lakehouse: Lakehouse, day: date) -> DataFrame:
    on_day = F.col("feature_date") == F.lit(day)
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(on_day).drop("feature_date")
    clusters = tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS).where(on_day).drop("feature_date")
    frame = rolling.join(clusters, "account_id", "left")
    if frame.limit(1).count() == 0:
        raise DistillguardError(f"no features for {day}; run `distillguard features --date {day}` first")
    return frame


def _drift_reference(run_id: str) -> dict[str, Any] | None:
    """The drift summary logged by the champion's training run (None for older runs)."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{REFERENCE_ARTIFACT}")
    except (MlflowException, OSError):
        return None


def _killed_run(mlflow_client: mlflow.MlflowClient, experiment_id: str, day: date, version: str) -> str | None:
    """The scoring run of ``day`` that a killed process left RUNNING, to be resumed.

    A run killed after its MERGE left flagged rows naming it; the re-run's MERGE changes
    nothing, so those rows keep that id: resuming the run (and ending it FINISHED) keeps
    their lineage valid. One scoring run per lakehouse and date holds the lock
    (distillguard/locks.py), so a RUNNING one is dead. Any other such run (or one that
    already logged another model version) is marked KILLED."""
    stale = mlflow_client.search_runs(
        [experiment_id],
        f"attributes.run_name = 'score-{day}' AND attributes.status = 'RUNNING'",
        order_by=["attributes.start_time DESC"],
    )
    resumable = next((r for r in stale if r.data.params.get("model_version", version) == version), None)
    for dead in stale:
        if dead is not resumable:
            log.warning("scoring run %s of %s never finished (killed); marked KILLED", dead.info.run_id, day)
            mlflow_client.set_terminated(dead.info.run_id, "KILLED")
    if resumable is not None:
        log.warning("scoring run %s of %s never finished (killed); resuming it", resumable.info.run_id, day)
        return resumable.info.run_id
    return None


def run(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: ScoringSettings = SCORING) -> dict[str, Any]:
    """Score every account with features on ``day`` and upsert that day's flagged accounts."""
    champion = registry.load_champion(lakehouse)
    mlflow_client = registry.client(lakehouse)
    frame = _features(spark, lakehouse, day)
    scores = tables.stage(
        spark,
        lakehouse,
        f"scores_{day:%Y%m%d}",
        score_accounts(
            model_input(frame, ("account_id",), registry.model_inputs(champion.model)),
            champion.artifact,
            settings.top_reasons,
        ),
    )
    experiment_id = registry.experiment_id(lakehouse, mlflow_client, EXPERIMENT_NAME)
    resumed = _killed_run(mlflow_client, experiment_id, day, str(champion.version))
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(run_id=resumed, run_name=None if resumed else f"score-{day}") as scoring_run:
        model = {
            "model_name": registry.MODEL_NAME,
            "model_version": str(champion.version),
            "model_run_id": champion.run_id,
            "scoring_run_id": scoring_run.info.run_id,
        }
        rows = flags.flagged_rows(
            scores,
            flags.evidence(frame),
            flags.first_flagged(spark, lakehouse, day),
            allow_list.active_on(spark, lakehouse, day),
            day,
            champion.threshold,
            model,
            settings,
            champion.suspend_threshold,
        )
        staged = tables.stage(spark, lakehouse, f"flagged_{day:%Y%m%d}", rows)
        gates = quality.Gates(spark, lakehouse, f"score-{day}-{scoring_run.info.run_id[:12]}")
        if gates.check("flagged_accounts", staged).critical_failures:
            gates.close()
        flags.merge(spark, lakehouse, staged, day)
        gates.close()
        counts = staged.groupBy("allow_listed", "risk_tier").count().collect()
        by_tier = {r["risk_tier"]: r["count"] for r in counts if not r["allow_listed"]}
        allow_listed = sum(r["count"] for r in counts if r["allow_listed"])
        # Scalar percentile_approx: Sail has neither approxQuantile nor the array form.
        quantiles = list(
            scores.agg(
                *[F.percentile_approx("score", q, 10_000).alias(f"q{i}") for i, q in enumerate(QUANTILES)]
            ).first()
        )
        reference = _drift_reference(champion.run_id)
        psi = drift(reference, frame) if reference is not None else {}
        version = tables.version(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
        mlflow.log_params(
            {
                "flag_date": day.isoformat(),
                "model_version": champion.version,
                "threshold": champion.threshold,
                "model_uri": champion.uri,
            }
        )
        mlflow.log_metrics(
            {
                "accounts_scored": scores.count(),
                "flagged": sum(by_tier.values()),
                "allow_listed_not_exported": allow_listed,
                **{f"tier_{t}": by_tier.get(t, 0) for t in TIERS},
                "score_p50": quantiles[0],
                "score_p90": quantiles[1],
                "score_p99": quantiles[2],
                **{f"psi_{k}": v for k, v in psi.items()},
                "flagged_table_version": version,
            }
        )
        drifted = sorted(k for k, v in psi.items() if v >= settings.drift_warning_psi)
        mlflow.set_tags(
            {
                "flag_date": day.isoformat(),
                "drift_warning": ",".join(drifted) or "none",
                "drift_reference": f"runs:/{champion.run_id}/{REFERENCE_ARTIFACT}" if reference else "missing",
            }
        )
        if drifted:
            log.warning("feature drift (PSI >= %s) on %s", settings.drift_warning_psi, ", ".join(drifted))
    return {
        "flag_date": day.isoformat(),
        "flagged": sum(by_tier.values()),
        "by_tier": by_tier,
        "allow_listed": allow_listed,
        "model_version": champion.version,
        "scoring_run_id": scoring_run.info.run_id,
        "flagged_table_version": version,
        "psi": psi,
        "score_quantiles": dict(zip(("p50", "p90", "p99"), np.round(quantiles, 4).tolist())),
    }
