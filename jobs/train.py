"""Weekly retrain: training set -> gate -> train -> evaluate -> MLflow -> challenger -> promotion gate.

1. Build the training set as of a date (default: the latest feature date) from incidents
   decided by then and the rolling and cluster features of their windows
   (models/training_set.py), split it by time and campaign group (models/split.py),
   gate it (expectations/training_set.json) and replace its ``as_of`` partition of
   ``Table.TRAINING_SET``; the Delta version written is what the run records and reads
   back, so the run can be reproduced with ``versionAsOf``.
2. Train the calibrated LightGBM on the training side (models/classifier.py), thresholds at
   population-weighted benign FPR targets on out-of-fold scores, and score the holdout with
   it, with the rule baseline and with the current champion.
3. Evaluate (jobs/evaluate.py ``assess``): population-weighted operating point with campaign
   bootstrap intervals, group K-fold by campaign, the backtest with days to detection and,
   only with the explicit ``truth`` option, per-type, per-population and
   leave-one-campaign-type-out figures (docs/evaluation.md).
4. Log params, the model, then the named metrics linked to the logged model
   (``log_metrics(model_id=...)``), figures and the HTML training report to MLflow, register a
   new version as ``challenger`` and apply the promotion gate (models/promotion.py). Every
   decision is recorded with its evidence (run and version tags ``gate_*``); a refusal is
   returned as ``decision == "refused"`` and the CLI turns it into a non-zero exit.

The registered model is exactly the one evaluated (fitted on the training side only), so
its held-out metrics describe it; the newest labels feed the next weekly run.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.delta_dataset_source import DeltaDatasetSource
from mlflow.models import infer_signature
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import SCORING, TRAINING, Lakehouse, Table, TrainingSettings
from distillguard.engine import engine_name
from distillguard.errors import DistillguardError
from distillguard.jobs.evaluate import assess
from distillguard.models import (
    bootstrap,
    classifier,
    evaluation,
    feature_audit,
    metrics,
    plots,
    promotion,
    registry,
    report,
    scorer,
)
from distillguard.models.classifier import BASELINE_RULES
from distillguard.models.split import TRAIN, split
from distillguard.models.training_set import FEATURE_COLUMNS, NEGATIVES_ASSUMPTION, ROW_ORDER, UNLABELLED, build
from distillguard.scoring import drift

log = logging.getLogger(__name__)


def latest_feature_date(spark: SparkSession, lakehouse: Lakehouse) -> date:
    for table in (Table.ACCOUNT_ROLLING, Table.ACCOUNT_CLUSTERS, Table.INCIDENTS):
        if not tables.exists(lakehouse, table):
            raise DistillguardError(f"table {table.value} is missing; run ingest and features first")
    latest = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).agg(F.max("feature_date")).first()[0]
    if latest is None:
        raise DistillguardError("no rolling features yet; run `distillguard features` first")
    return latest


def _with_dropped_columns(spark: SparkSession, lakehouse: Lakehouse, rows: DataFrame) -> DataFrame:
    """``rows`` plus, as typed nulls, the columns the training-set table holds from earlier runs
    and this one no longer builds (a feature taken out of the model): the older ``as_of``
    partitions keep theirs, and Delta accepts the write (Sail refuses an INSERT by name that
    lacks a column). A column this run adds is not handled here (the table would need
    schema evolution)."""
    if not tables.exists(lakehouse, Table.TRAINING_SET, spark):
        return rows
    held = tables.read(spark, lakehouse, Table.TRAINING_SET).schema
    return rows.select(
        *rows.columns, *[F.lit(None).cast(f.dataType).alias(f.name) for f in held if f.name not in rows.columns]
    )


def build_training_set(
    spark: SparkSession, lakehouse: Lakehouse, as_of: date, run_id: str, settings: TrainingSettings
) -> tuple[int, dict[str, Any]]:
    """Write the gated training set of ``as_of``; return its Delta version and split summary."""
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date") <= F.lit(as_of))
    clusters = tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS).where(F.col("feature_date") <= F.lit(as_of))
    rows = build(tables.read(spark, lakehouse, Table.INCIDENTS), rolling, clusters, as_of, settings)
    rows, info = split(spark, rows, partial(tables.stage, spark, lakehouse), settings)
    # Staged once: the gate's queries and the write scan it instead of rebuilding the set.
    rows = tables.stage(
        spark,
        lakehouse,
        "training_rows",
        _with_dropped_columns(spark, lakehouse, rows.withColumn("as_of", F.lit(as_of))),
    )
    gates = quality.Gates(spark, lakehouse, run_id)
    if gates.check("training_set", rows).critical_failures:
        gates.close()
    tables.replace(rows, lakehouse, Table.TRAINING_SET, tables.date_equals("as_of", as_of), ("as_of",))
    gates.close()
    return tables.version(spark, lakehouse, Table.TRAINING_SET), info.as_params()


def _read_set(spark: SparkSession, lakehouse: Lakehouse, version: int, as_of: date) -> pd.DataFrame:
    return (
        tables.read(spark, lakehouse, Table.TRAINING_SET, version)
        .where(F.col("as_of") == F.lit(as_of))
        .orderBy(*ROW_ORDER)
        .toPandas()
    )


def _champion_rows(spark: SparkSession, lakehouse: Lakehouse, current: Any, rows: pd.DataFrame) -> np.ndarray:
    """Mask of the holdout rows the champion did not train on."""
    trained = _read_set(
        spark, lakehouse, int(current.tags["training_set_version"]), date.fromisoformat(current.tags["as_of"])
    )
    return ~rows["account_id"].isin(set(trained.loc[trained["split"] == TRAIN, "account_id"])).to_numpy()


def champion_frame(
    spark: SparkSession, lakehouse: Lakehouse, rows: pd.DataFrame, columns: Sequence[str]
) -> pd.DataFrame:
    """``rows`` (account_id, feature_date, ...) with the champion's input ``columns``: those the
    challenger's training set lacks (a feature the challenger dropped) are read from
    account_rolling / account_clusters of the same (account, day), so both models are scored
    on the same rows, each on its own inputs. A column found in neither table is an error."""
    missing = [c for c in columns if c not in rows.columns]
    if not missing:
        return rows
    keys = spark.createDataFrame(rows[["account_id", "feature_date"]].drop_duplicates())
    frame = rows
    for table in (Table.ACCOUNT_ROLLING, Table.ACCOUNT_CLUSTERS):
        source = tables.read(spark, lakehouse, table)
        found = [c for c in missing if c in source.columns and c not in frame.columns]
        if found:
            extra = source.select("account_id", "feature_date", *found).join(keys, ["account_id", "feature_date"])
            frame = frame.merge(extra.toPandas(), on=["account_id", "feature_date"], how="left")
    absent = [c for c in missing if c not in frame.columns]
    if absent:
        raise DistillguardError(f"the champion's inputs {absent} are in no feature table; it cannot be compared")
    return frame


def _compare(
    spark: SparkSession,
    lakehouse: Lakehouse,
    mlflow_client: Any,
    current: Any,
    rows: pd.DataFrame,
    score: np.ndarray,
    model: classifier.TrainedModel,
    k: int,
    settings: TrainingSettings,
) -> tuple[dict[str, dict[str, float]], promotion.Comparison, dict[str, float]]:
    """Champion and challenger on the same rows; the champion's leave-one-out recalls from its run."""
    mask = _champion_rows(spark, lakehouse, current, rows)
    same = rows[mask].reset_index(drop=True)
    champion_model = mlflow.pyfunc.load_model(f"models:/{registry.MODEL_NAME}/{current.version}")
    inputs = registry.model_inputs(champion_model)
    champion_input = scorer.model_input(champion_frame(spark, lakehouse, same, inputs), list(inputs))
    champion_score = np.asarray(champion_model.predict(champion_input), dtype=float)
    champion = metrics.evaluate(same, champion_score, float(current.tags[registry.THRESHOLD_TAG]), k)
    challenger = metrics.evaluate(same, score[mask], model.threshold.value, k)
    point = evaluation.operating_point(same, score[mask], model.threshold.value, settings)
    comparison = promotion.Comparison(
        len(same),
        point["recall_at_fpr"],
        point["recall_at_fpr_ci_low"],
        champion["recall"],
        challenger["pr_auc"],
        champion["pr_auc"],
    )
    run_id = current.tags.get("run_id")
    logged = mlflow_client.get_run(run_id).data.metrics if run_id else {}
    champion_loo = {
        name[len("loo_recall_") :]: value
        for name, value in logged.items()
        if name.startswith("loo_recall_") and name != "loo_recall_min"
    }
    return {"champion": champion, "challenger_on_champion_rows": challenger}, comparison, champion_loo


def _figures(
    rows: pd.DataFrame,
    model: classifier.TrainedModel,
    train: pd.DataFrame,
    scores: dict[str, np.ndarray],
    points: dict[str, tuple[float, float]],
    settings: TrainingSettings,
) -> dict[str, Any]:
    y, w = rows["label"].to_numpy(dtype=int), rows["eval_weight"].to_numpy(dtype=float)
    groups = rows["group_id"].to_numpy()
    resamples = list(
        bootstrap.multiplicities(
            groups, bootstrap.strata(groups, y), min(settings.bootstrap_samples, 100), settings.sample_seed
        )
    )
    last = classifier.operating_rows(train)
    return {
        "pr_curve": plots.pr_curves(y, w, scores, points),
        "pr_curve_band": plots.pr_curve_band(
            y, w, scores["model"], resamples, points["model"], settings.interval_level
        ),
        "score_distributions": plots.score_distributions(rows["label_name"], scores["model"], model.threshold.value),
        "feature_importance": plots.feature_importance(
            model.scorer.features, model.scorer.booster.feature_importance(importance_type="gain")
        ),
        "calibration": plots.calibration(
            {
                "train (out of fold)": (
                    train["label"].to_numpy(dtype=int)[last],
                    model.oof_scores[last],
                    train["population_weight"].to_numpy(dtype=float)[last],
                ),
                "holdout": (y, scores["model"], w),
            }
        ),
    }


def _log_model(model: classifier.TrainedModel, rows: pd.DataFrame) -> mlflow.models.model.ModelInfo:
    """The pyfunc (models from code: models/scorer.py) with booster, metadata, signature, example."""
    features = list(FEATURE_COLUMNS)
    example = scorer.model_input(rows.head(5), features)
    with tempfile.TemporaryDirectory() as folder:
        booster, meta = Path(folder) / "booster.txt", Path(folder) / "meta.json"
        model.scorer.booster.save_model(str(booster))
        meta.write_text(json.dumps(model.meta, indent=1))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=scorer.__file__,
            artifacts={"booster": str(booster), "meta": str(meta)},
            signature=infer_signature(example, pd.Series(model.scorer.score(example), name="score")),
            input_example=example,
            metadata={
                "threshold": model.threshold.value,
                classifier.SUSPEND_THRESHOLD: model.suspend.value,
                "target_fpr": model.threshold.target_fpr,
                "suspend_fpr": model.suspend.target_fpr,
                "features": features,
            },
            pip_requirements=registry.pinned("mlflow", "lightgbm", "numpy", "pandas"),
        )


def _span(values: pd.Series) -> str:
    """``low..high`` of a column as a run parameter (one value when they agree)."""
    if values.empty:
        return "none"
    low, high = f"{values.min():g}", f"{values.max():g}"
    return low if low == high else f"{low}..{high}"


def _dataset(frame: pd.DataFrame, lakehouse: Lakehouse, version: int, name: str) -> Any:
    source = (
        DeltaDatasetSource(delta_table_name=lakehouse.table_name(Table.TRAINING_SET), delta_table_version=version)
        if lakehouse.addressed_by_name(Table.TRAINING_SET)
        else DeltaDatasetSource(path=lakehouse.table_path(Table.TRAINING_SET), delta_table_version=version)
    )
    return mlflow.data.from_pandas(
        frame[["account_id", "feature_date", "label", "weight", "population_weight", *FEATURE_COLUMNS]],
        source=source,
        targets="label",
        name=name,
    )


def _date_range(values: pd.Series) -> str:
    present = values.dropna()
    return f"{present.min()}..{present.max()}" if len(present) else "none"


def _training_report(lakehouse: Lakehouse, run_id: str, title: str, result: Any, figures: dict[str, Any]) -> Path:
    folder = lakehouse.reports / "training"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.html"
    path.write_text(report.html_report(title, result.metrics, result.tables, result.notes, figures))
    return path


def _discard_killed(mlflow_client: mlflow.MlflowClient, as_of: date) -> None:
    """Delete versions registered as of ``as_of`` by a training run that never ended (its
    process was killed before the decision was recorded), and mark that run KILLED, so a
    re-run leaves one live version, not two. A champion is kept whatever its run's fate:
    scoring depends on it. One training run per lakehouse and as-of date holds the lock
    (distillguard/locks.py), so a RUNNING one of the same date is dead."""
    for version in mlflow_client.search_model_versions(f"name='{registry.MODEL_NAME}'"):
        if version.tags.get("as_of") != as_of.isoformat() or registry.CHAMPION in (version.aliases or []):
            continue
        if mlflow_client.get_run(version.run_id).info.status == "RUNNING":
            log.warning("version %s: its training run %s was killed; deleted", version.version, version.run_id)
            mlflow_client.delete_model_version(registry.MODEL_NAME, version.version)
            mlflow_client.set_terminated(version.run_id, "KILLED")


def run(
    spark: SparkSession,
    lakehouse: Lakehouse,
    as_of: date | None = None,
    settings: TrainingSettings = TRAINING,
    promote: bool = True,
    truth: Path | None = None,
) -> dict[str, Any]:
    """One retrain as of ``as_of``; ``truth`` (synthetic ground truth, an explicit evaluation
    option) only adds evaluation figures, it never reaches training or the threshold."""
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
    results = {
        "model": metrics.evaluate(rows, scores["model"], model.threshold.value, k),
        "baseline": metrics.evaluate(rows, scores["baseline"], base_threshold.value, k),
    }
    assessed = assess(spark, lakehouse, frame, model, as_of, settings, truth)

    mlflow_client = registry.client(lakehouse)
    _discard_killed(mlflow_client, as_of)
    current = registry.champion(mlflow_client)
    comparison, champion_loo = None, {}
    if current is not None:
        compared, comparison, champion_loo = _compare(
            spark, lakehouse, mlflow_client, current, rows, scores["model"], model, k, settings
        )
        results.update(compared)
    loo = {
        name[len("loo_recall_") :]: value
        for name, value in assessed.metrics.items()
        if name.startswith("loo_recall_") and name != "loo_recall_min"
    }
    decision = promotion.decide(
        promotion.Evidence(
            results["model"],
            results["baseline"],
            model.threshold.fpr,
            model.threshold.reached,
            comparison,
            loo,
            champion_loo,
        ),
        settings,
    )

    labelled = train[train["label_name"] != UNLABELLED]
    sampled = train.loc[train["label_name"] == UNLABELLED, "population_weight"]
    with mlflow.start_run(experiment_id=registry.experiment_id(lakehouse, mlflow_client), run_name=run_id) as active:
        mlflow.log_params(
            {
                **{f"setting_{key}": value for key, value in asdict(settings).items()},
                **split_params,
                "as_of": as_of.isoformat(),
                "engine": engine_name(spark),
                "pipeline_run_id": run_id,
                "training_set_table": Table.TRAINING_SET.value,
                "training_set_version": version,
                "train_feature_dates": _date_range(train["feature_date"]),
                "train_decided_on": _date_range(labelled["decided_on"]),
                "holdout_rows": len(rows),
                "train_rows": len(train),
                "features": len(FEATURE_COLUMNS),
                "negatives_assumption": NEGATIVES_ASSUMPTION,
                "baseline_rules": "; ".join(BASELINE_RULES),
                "training_weight_unlabelled": settings.unlabelled_weight,
                "population_weight_unlabelled": _span(sampled),
                "unlabelled_rows": len(sampled),
                "evaluation_truth": str(truth) if truth else "none",
                "model_target_fpr_reached_out_of_fold": model.threshold.reached,
                "baseline_target_fpr_reached_out_of_fold": base_threshold.reached,
            }
        )
        mlflow.log_input(
            _dataset(train, lakehouse, version, f"training_set_v{version}_train"),
            context="training",
            tags={
                "delta_version": str(version),
                "as_of": as_of.isoformat(),
                "date_range": _date_range(train["feature_date"]),
            },
        )
        holdout_data = _dataset(rows, lakehouse, version, f"training_set_v{version}_holdout")
        mlflow.log_input(
            holdout_data,
            context="evaluation",
            tags={
                "delta_version": str(version),
                "as_of": as_of.isoformat(),
                "date_range": _date_range(rows["feature_date"]),
            },
        )
        info = _log_model(model, rows)
        named = {name: value for name, value in assessed.metrics.items() if not np.isnan(value)}
        mlflow.log_metrics(named, model_id=info.model_id, dataset=holdout_data)
        mlflow.log_metrics(
            {
                f"{group}_{name}": value
                for group, values in results.items()
                for name, value in values.items()
                if not np.isnan(value)
            },
            model_id=info.model_id,
        )
        figures = _figures(
            rows,
            model,
            train,
            scores,
            {
                "model": (results["model"]["recall"], results["model"]["precision"]),
                "baseline": (results["baseline"]["recall"], results["baseline"]["precision"]),
            },
            settings,
        )
        for name, figure in figures.items():
            mlflow.log_figure(figure, f"plots/{name}.png")
        title = (
            f"distillguard training run {run_id} (as of {as_of}; review tier at population-weighted benign FPR "
            f"<= {settings.target_fpr:.2%})"
        )
        report_path = _training_report(lakehouse, run_id, title, assessed, figures)
        for figure in figures.values():
            plots.plt.close(figure)
        mlflow.log_artifact(str(report_path), "report")
        mlflow.log_dict(
            {name: table.to_dict("records") for name, table in assessed.tables.items()}, "report/tables.json"
        )
        mlflow.log_dict(drift.reference(frame, SCORING.drift_bins), drift.REFERENCE_ARTIFACT)
        # Artifact audit: how far each feature alone separates the labelled classes (at population weight).
        mlflow.log_table(
            feature_audit.feature_auc(frame, "label", FEATURE_COLUMNS, "population_weight"), "audit/feature_auc.json"
        )
        tags = {
            registry.THRESHOLD_TAG: str(model.threshold.value),
            classifier.SUSPEND_THRESHOLD: str(model.suspend.value),
            "target_fpr": str(settings.target_fpr),
            "suspend_fpr": str(settings.suspend_fpr),
            "training_set_version": str(version),
            "as_of": as_of.isoformat(),
            "run_id": active.info.run_id,
            "holdout_pr_auc": f"{results['model']['pr_auc']:.6f}",
        }
        challenger = registry.register_challenger(mlflow_client, info.model_uri, tags)
        if not promote:
            verdict = "not_promoted"
            would = "promoted" if decision.promote else "refused"
            reason = f"promotion skipped (--no-promote); the gate would have {would}: {decision.reason}"
        else:
            verdict = "promoted" if decision.promote else "refused"
            reason = decision.reason
            if decision.promote:
                registry.promote(mlflow_client, challenger.version, reason, actor="distillguard train")
        evidence = {
            "promotion_decision": verdict,
            "promotion_reason": reason,
            **{f"gate_{name}": text for name, text in decision.checks.items()},
        }
        mlflow.set_tags({**evidence, "registered_version": challenger.version})
        for key, value in evidence.items():
            mlflow_client.set_model_version_tag(registry.MODEL_NAME, challenger.version, key, value)
    return {
        "run_id": active.info.run_id,
        "version": challenger.version,
        "decision": verdict,
        "reason": reason,
        "checks": decision.checks,
        "as_of": as_of.isoformat(),
        "training_set_version": version,
        "split": split_params,
        "train_rows": len(train),
        "holdout_rows": len(rows),
        "metrics": results,
        "evaluation": assessed.metrics,
        "tables": assessed.tables,
        "notes": assessed.notes,
        "report": str(report_path),
        "champion_before": current.version if current is not None else None,
    }
