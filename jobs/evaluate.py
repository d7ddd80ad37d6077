"""``distillguard evaluate``: the training run's evaluation alone, for data scientists and notes.

Builds the training set as of a date in memory (nothing written, nothing registered), trains
the model as ``train`` would, and reports at population weight: the operating point with
campaign-bootstrap intervals (holdout and group K-fold by campaign), the backtest with days
to detection, and, with ``--truth`` (synthetic ground truth, the only place it is read),
recall per campaign type, FPR per benign population and leave-one-campaign-type-out.
Prints markdown tables and writes them, with a JSON twin, under ``<home>/reports/evaluation/``.
``assess`` is shared with jobs/train.py so both report the same figures.
"""

from __future__ import annotations

import json
import math
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import TRAINING, Lakehouse, Table, TrainingSettings
from distillguard.errors import DistillguardError
from distillguard.models import backtest, classifier, evaluation, report
from distillguard.models.evaluation import Evaluation
from distillguard.models.split import EXCLUDED, TRAIN, split
from distillguard.models.training_set import ROW_ORDER, build


def assess(
    spark: SparkSession,
    lakehouse: Lakehouse,
    frame: pd.DataFrame,
    model: classifier.TrainedModel,
    as_of: date,
    settings: TrainingSettings = TRAINING,
    truth: Path | None = None,
) -> Evaluation:
    """Recipe figures (models/evaluation.py), the population census (truth only) and the backtest."""
    truth_frame = evaluation.read_truth(truth) if truth is not None else None
    result = evaluation.evaluate_recipe(frame, model, truth_frame, settings)
    if truth_frame is not None:
        population = backtest.day_features(spark, lakehouse, as_of, as_of)
        trained = set(frame.loc[frame["split"].isin([TRAIN, EXCLUDED]), "account_id"])
        census = evaluation.population_tables(
            population, model.scorer.score(population), model.threshold.value, truth_frame, trained, settings
        )
        result.metrics.update(census.metrics)
        result.tables.update(census.tables)
    if settings.backtest_days > 0:
        replay = backtest.run(spark, lakehouse, as_of, settings, truth_frame)
        result.metrics.update(replay.metrics)
        result.notes += replay.notes
        if not replay.by_type.empty:
            result.tables["days_to_detection_by_type"] = replay.by_type
        if not replay.campaigns.empty:
            result.tables["days_to_detection_by_campaign"] = replay.campaigns
    return result


def training_frame(spark: SparkSession, lakehouse: Lakehouse, as_of: date, settings: TrainingSettings) -> pd.DataFrame:
    """The training set of ``as_of``, split, in memory, in ``ROW_ORDER`` (as ``train`` reads it)."""
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date") <= F.lit(as_of))
    clusters = tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS).where(F.col("feature_date") <= F.lit(as_of))
    with tables.scratch(lakehouse):
        rows, _ = split(
            spark,
            build(tables.read(spark, lakehouse, Table.INCIDENTS), rolling, clusters, as_of, settings),
            partial(tables.stage, spark, lakehouse),
            settings,
        )
        return rows.orderBy(*ROW_ORDER).toPandas()


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.isoformat() if isinstance(value, date) else value


def write(lakehouse: Lakehouse, name: str, title: str, result: Evaluation) -> tuple[Path, Path, str]:
    """The markdown and JSON of an evaluation under ``<home>/reports/evaluation``."""
    folder = lakehouse.reports / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    text = report.markdown(title, result.metrics, result.tables, result.notes)
    as_json = {
        "title": title,
        "metrics": {k: _plain(v) for k, v in result.metrics.items()},
        "tables": {
            k: [{c: _plain(v) for c, v in row.items()} for row in t.to_dict("records")]
            for k, t in result.tables.items()
        },
        "notes": result.notes,
    }
    md, js = folder / f"{name}.md", folder / f"{name}.json"
    md.write_text(text)
    js.write_text(json.dumps(as_json, indent=1, default=str))
    return md, js, text


def run(
    spark: SparkSession,
    lakehouse: Lakehouse,
    as_of: date | None = None,
    settings: TrainingSettings = TRAINING,
    truth: Path | None = None,
) -> dict[str, Any]:
    from distillguard.jobs.train import latest_feature_date

    latest = latest_feature_date(spark, lakehouse)
    as_of = as_of or latest
    if as_of > latest:
        raise DistillguardError(f"--as-of {as_of} is after the latest feature date {latest}")
    frame = training_frame(spark, lakehouse, as_of, settings)
    model = classifier.train(frame[frame["split"] == TRAIN].reset_index(drop=True), settings)
    result = assess(spark, lakehouse, frame, model, as_of, settings, truth)
    title = (
        f"distillguard evaluation as of {as_of} (population-weighted; review tier at benign FPR "
        f"<= {settings.target_fpr:.2%}{'; ground truth ' + str(truth) if truth else ''})"
    )
    md, js, text = write(lakehouse, f"evaluation-{as_of}", title, result)
    return {
        "as_of": as_of.isoformat(),
        "markdown": text,
        "markdown_path": str(md),
        "json_path": str(js),
        "metrics": result.metrics,
    }
