"""Weekly retrain: training set -> gate -> train -> evaluate -> MLflow -> challenger -> promotion gate.

1. Build the training set as of a date (default: the latest feature date) from incidents
   decided by then and the rolling and cluster features of their windows
   (models/training_set.py), split it by time and campaign group (models/split.py),
   gate it (expectations/training_set.json) and replace its ``as_of`` partition of
   ``Table.TRAINING_SET``; the Delta version written is what the run records and reads
   back, so the run can be reproduced with ``versionAsOf``.
2. Train the calibrated LightGBM on the training side (models/classifier.py) and score the
   holdout with it, with the rule baseline and with the current champion.
3. Log params, metrics, inputs, plots and the model to MLflow, register a new version as
   ``challenger`` and apply the promotion gate (models/promotion.py); a refused promotion
   is recorded with its reasons, not raised.

The registered model is exactly the one evaluated (fitted on the training side only), so
its held-out metrics describe it; the newest labels feed the next weekly run.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import asdict
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.delta_dataset_source import DeltaDatasetSource
from mlflow.models import infer_signature
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import maintenance, quality, tables
from distillguard.config import TRAINING, Lakehouse, Table, TrainingSettings
from distillguard.engine import engine_name
from distillguard.errors import DistillguardError
from distillguard.models import classifier, metrics, plots, promotion, registry, scorer
from distillguard.models.classifier import BASELINE_RULES
from distillguard.models.split import EXCLUDED, TRAIN, split
from distillguard.models.training_set import FEATURE_COLUMNS, NEGATIVES_ASSUMPTION, build, model_input


def latest_feature_date(spark: SparkSession, lakehouse: Lakehouse) -> date:
    for table in (Table.ACCOUNT_ROLLING, Table.ACCOUNT_CLUSTERS, Table.INCIDENTS):
        if not tables.exists(lakehouse, table):
            raise DistillguardError(f"table {table.value} is missing; run ingest and features first")
    latest = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).agg(F.max("feature_date")).first()[0]
    if latest is None:
        raise DistillguardError("no rolling features yet; run `distillguard features` first")
    return latest


def build_training_set(spark: SparkSession, lakehouse: Lakehouse, as_of: date, run_id: str,
                       settings: TrainingSettings) -> tuple[int, dict[str, Any]]:
    """Write the gated training set of ``as_of``; return its Delta version and split summary."""
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date") <= F.lit(as_of))
    clusters = tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS).where(F.col("feature_date") <= F.lit(as_of))
    rows = build(tables.read(spark, lakehouse, Table.INCIDENTS), rolling, clusters, as_of, settings)
    rows, info = split(spark, rows, settings)
    rows = rows.withColumn("as_of", F.lit(as_of))
    gates = quality.Gates(spark, lakehouse, run_id)
    if gates.check("training_set", rows).critical_failures:
        gates.close()
    tables.replace(rows, lakehouse, Table.TRAINING_SET, tables.date_equals("as_of", as_of), ("as_of",))
    gates.close()
    return maintenance.version(lakehouse, Table.TRAINING_SET), info.as_params()


def _read_set(spark: SparkSession, lakehouse: Lakehouse, version: int, as_of: date) -> pd.DataFrame:
    return (tables.read(spark, lakehouse, Table.TRAINING_SET, version)
            .where(F.col("as_of") == F.lit(as_of)).orderBy("account_id", "feature_date", "incident_id").toPandas())


def _champion_scores(spark: SparkSession, lakehouse: Lakehouse, current: Any, rows: pd.DataFrame,
                     k: int) -> tuple[dict[str, float], np.ndarray]:
    """The champion on the holdout rows it did not train on: its metrics and the row mask."""
    trained = _read_set(spark, lakehouse, int(current.tags["training_set_version"]),
                        date.fromisoformat(current.tags["as_of"]))
    mask = ~rows["account_id"].isin(set(trained.loc[trained["split"] == TRAIN, "account_id"])).to_numpy()
    model = mlflow.pyfunc.load_model(f"models:/{registry.MODEL_NAME}/{current.version}")
    score = np.asarray(model.predict(scorer.model_input(rows[mask], list(FEATURE_COLUMNS))), dtype=float)
    return metrics.evaluate(rows[mask].reset_index(drop=True), score,
                            float(current.tags[registry.THRESHOLD_TAG]), k), mask


def _truth_metrics(spark: SparkSession, lakehouse: Lakehouse, truth: Path, as_of: date, frame: pd.DataFrame,
                   rows: pd.DataFrame, scored: dict[str, tuple[np.ndarray, float, Any]]) -> dict[str, float]:
    """Per-archetype metrics (synthetic data only) for the model and the baseline."""
    population = (tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date") == F.lit(as_of))
                  .join(tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS)
                        .where(F.col("feature_date") == F.lit(as_of)).drop("feature_date"), "account_id", "left"))
    population = model_input(population, keep=("account_id",)).toPandas()
    trained = set(frame.loc[frame["split"].isin([TRAIN, EXCLUDED]), "account_id"])
    out: dict[str, float] = {}
    for name, (score, threshold, score_fn) in scored.items():
        result = metrics.synthetic_truth_metrics(truth, rows, score >= threshold, population,
                                                 score_fn(population) >= threshold, trained)
        out.update({f"{name}_{key}": value for key, value in result.items()})
    return out


def _log_figures(rows: pd.DataFrame, model: classifier.TrainedModel, train: pd.DataFrame,
                 scores: dict[str, np.ndarray], points: dict[str, tuple[float, float]]) -> None:
    y, w = rows["label"].to_numpy(dtype=int), rows["eval_weight"].to_numpy(dtype=float)
    figures = {
        "pr_curve.png": plots.pr_curves(y, w, scores, points),
        "score_distributions.png": plots.score_distributions(rows["label_name"], scores["model"],
                                                              model.threshold.value),
        "feature_importance.png": plots.feature_importance(
            model.scorer.features, model.scorer.booster.feature_importance(importance_type="gain")),
        "calibration.png": plots.calibration({
            "train (out of fold)": (train["label"].to_numpy(dtype=int), model.oof_scores,
                                    train["weight"].to_numpy(dtype=float)),
            "holdout": (y, scores["model"], w)}),
    }
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}")
        plots.plt.close(figure)


def _log_model(model: classifier.TrainedModel, rows: pd.DataFrame) -> mlflow.models.model.ModelInfo:
    """The pyfunc (models from code: models/scorer.py) with booster, metadata, signature, example."""
    features = list(FEATURE_COLUMNS)
    example = scorer.model_input(rows.head(5), features)
    with tempfile.TemporaryDirectory() as folder:
        booster, meta = Path(folder) / "booster.txt", Path(folder) / "meta.json"
        model.scorer.booster.save_model(str(booster))
        meta.write_text(json.dumps(model.meta, indent=1))
        return mlflow.pyfunc.log_model(
            name="model", python_model=scorer.__file__, artifacts={"booster": str(booster), "meta": str(meta)},
            signature=infer_signature(example, pd.Series(model.scorer.score(example), name="score")),
            input_example=example, metadata={"threshold": model.threshold.value, "features": features},
            pip_requirements=[f"{p}=={metadata.version(p)}" for p in ("mlflow", "lightgbm", "numpy", "pandas")])


def _dataset(frame: pd.DataFrame, lakehouse: Lakehouse, version: int, name: str) -> Any:
    source = DeltaDatasetSource(path=lakehouse.table_path(Table.TRAINING_SET), delta_table_version=version)
    return mlflow.data.from_pandas(frame[["account_id", "feature_date", "label", "weight", *FEATURE_COLUMNS]],
                                   source=source, targets="label", name=name)


def _date_range(values: pd.Series) -> str:
    present = values.dropna()
    return f"{present.min()}..{present.max()}" if len(present) else "none"


def run(spark: SparkSession, lakehouse: Lakehouse, as_of: date | None = None,
        settings: TrainingSettings = TRAINING, promote: bool = True, truth: Path | None = None) -> dict[str, Any]:
    """One retrain as of ``as_of``; ``truth`` (synthetic ground truth) only adds evaluation metrics."""
    latest = latest_feature_date(spark, lakehouse)
    as_of = as_of or latest
    if as_of > latest:
        raise DistillguardError(f"--as-of {as_of} is after the latest feature date {latest}")
    run_id = f"train-{as_of}-{uuid.uuid4().hex[:12]}"
    version, split_params = build_training_set(spark, lakehouse, as_of, run_id, settings)
    frame = _read_set(spark, lakehouse, version, as_of)
    train = frame[frame["split"] == TRAIN].reset_index(drop=True)
    rows = metrics.evaluation_rows(frame)
    model = classifier.train(train, settings)
    base_threshold = classifier.baseline_threshold(train, settings)
    k = settings.review_queue_k
    scores = {"model": model.scorer.score(rows), "baseline": classifier.baseline_score(rows)}
    results = {"model": metrics.evaluate(rows, scores["model"], model.threshold.value, k),
               "baseline": metrics.evaluate(rows, scores["baseline"], base_threshold.value, k)}

    mlflow_client = registry.client(lakehouse)
    current = registry.champion(mlflow_client)
    comparison = None
    if current is not None:
        results["champion"], mask = _champion_scores(spark, lakehouse, current, rows, k)
        comparison = (metrics.evaluate(rows[mask].reset_index(drop=True), scores["model"][mask],
                                       model.threshold.value, k), results["champion"])
        results["challenger_on_champion_rows"] = comparison[0]
    if truth is not None:
        results["truth"] = _truth_metrics(spark, lakehouse, truth, as_of, frame, rows, {
            "model": (scores["model"], model.threshold.value, model.scorer.score),
            "baseline": (scores["baseline"], base_threshold.value, classifier.baseline_score)})
    decision = promotion.decide(results["model"], results["baseline"], comparison, settings)

    labelled = train[train["label_name"] != "unlabelled"]
    with mlflow.start_run(experiment_id=registry.experiment_id(lakehouse, mlflow_client),
                          run_name=run_id) as active:
        mlflow.log_params({**{f"setting_{key}": value for key, value in asdict(settings).items()}, **split_params,
                           "as_of": as_of.isoformat(), "engine": engine_name(spark), "pipeline_run_id": run_id,
                           "training_set_table": Table.TRAINING_SET.value, "training_set_version": version,
                           "train_feature_dates": _date_range(train["feature_date"]),
                           "train_decided_on": _date_range(labelled["decided_on"]),
                           "holdout_rows": len(rows), "train_rows": len(train), "features": len(FEATURE_COLUMNS),
                           "negatives_assumption": NEGATIVES_ASSUMPTION, "baseline_rules": "; ".join(BASELINE_RULES),
                           "model_threshold_reached_on_train": model.threshold.reached,
                           "baseline_threshold_reached_on_train": base_threshold.reached})
        mlflow.log_input(_dataset(train, lakehouse, version, f"training_set_v{version}_train"), context="training",
                         tags={"delta_version": str(version), "as_of": as_of.isoformat(),
                               "date_range": _date_range(train["feature_date"])})
        mlflow.log_input(_dataset(rows, lakehouse, version, f"training_set_v{version}_holdout"),
                         context="evaluation", tags={"delta_version": str(version), "as_of": as_of.isoformat(),
                                                     "date_range": _date_range(rows["feature_date"])})
        mlflow.log_metrics({f"{group}_{name}": value for group, values in results.items()
                            for name, value in values.items() if not np.isnan(value)})
        _log_figures(rows, model, train, scores,
                     {"model": (results["model"]["recall"], results["model"]["precision"]),
                      "baseline": (results["baseline"]["recall"], results["baseline"]["precision"])})
        info = _log_model(model, rows)
        tags = {registry.THRESHOLD_TAG: str(model.threshold.value), "target_precision": str(settings.target_precision),
                "training_set_version": str(version), "as_of": as_of.isoformat(), "run_id": active.info.run_id,
                "holdout_pr_auc": f"{results['model']['pr_auc']:.6f}"}
        challenger = registry.register_challenger(mlflow_client, info.model_uri, tags)
        if not promote:
            decision = promotion.Decision(False, ["promotion skipped (--no-promote)"])
        elif decision.promote:
            registry.promote(mlflow_client, challenger.version, decision.reason, actor="distillguard train")
        verdict = "promoted" if decision.promote else "kept_challenger"
        mlflow.set_tags({"promotion_decision": verdict, "promotion_reason": decision.reason,
                         "registered_version": challenger.version})
        for key, value in {"promotion_decision": verdict, "promotion_reason": decision.reason}.items():
            mlflow_client.set_model_version_tag(registry.MODEL_NAME, challenger.version, key, value)
    return {"run_id": active.info.run_id, "version": challenger.version, "decision": verdict,
            "reason": decision.reason, "as_of": as_of.isoformat(), "training_set_version": version,
            "split": split_params, "train_rows": len(train), "holdout_rows": len(rows), "metrics": results,
            "champion_before": current.version if current is not None else None}
