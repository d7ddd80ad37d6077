"""The drift reference is a summary logged with the training run; scoring reads it instead of
the training set and gets the PSI the full sample gives. Scoring runs the booster once per row."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.jobs import score
from distillguard.models import registry
from distillguard.models.training_set import FEATURE_COLUMNS
from distillguard.scoring import drift, model_scores
from tests.model_rows import register, training_frame
from tests.training_rows import day, synthetic_tables

# Training: requests 1..10 (median 5.5), every cluster of size 1, intent share only in training.
TRAINING = pd.DataFrame(
    {
        "requests_28d": [float(v) for v in range(1, 11)],
        "cluster_size": [1] * 10,
        "intent_share_28d": [0.1] * 10,
        "unrelated": [7.0] * 10,
    }
)
# Scored: requests 2 | 7 8 9 10 (one null), clusters 1 1 1 1 | 2 2 (one null).
SCORED = [(2.0, 1), (7.0, 1), (8.0, 1), (9.0, 1), (10.0, 2), (None, 2), (3.0, None)]


@pytest.fixture
def no_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
        monkeypatch.delenv(name, raising=False)


def test_reference_is_edges_and_counts() -> None:
    summary = drift.reference(TRAINING, bins=2)
    assert summary == {
        "format": 1,
        "bins": 2,
        "rows": 10,
        "features": {
            "requests_28d": {"edges": [5.5], "counts": [5, 5]},
            "intent_share_28d": {"edges": [0.1], "counts": [10, 0]},
            "cluster_size": {"edges": [1.0], "counts": [10, 0]},
        },
    }


def test_reference_round_trips_through_mlflow_with_full_sample_psi(
    engine: SparkSession, lakehouse: Lakehouse, no_mlflow_env: None
) -> None:
    client = registry.client(lakehouse)
    with mlflow.start_run(experiment_id=registry.experiment_id(lakehouse, client)) as run:
        mlflow.log_dict(drift.reference(TRAINING, bins=2), drift.REFERENCE_ARTIFACT)
    loaded = score._drift_reference(run.info.run_id)
    assert loaded == drift.reference(TRAINING, bins=2)
    scored = engine.createDataFrame(SCORED, "requests_28d double, cluster_size long")
    got = drift.drift(loaded, scored)
    # requests: training shares (1/2, 1/2), scored (2/6, 4/6 above 5.5): (1/6) ln 2.
    # clusters: training (1, 0 -> floor 1e-4), scored (4/6, 2/6 above 1).
    expected = {
        "requests_28d": math.log(2) / 6,
        "cluster_size": (4 / 6 - 1) * math.log(4 / 6) + (2 / 6 - 1e-4) * math.log((2 / 6) / 1e-4),
    }
    assert got.keys() == expected.keys()  # intent share is not in the scored frame
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12)
    # The same PSI straight from the full training sample: edges and bins recomputed from the rows.
    for name in expected:
        inner = drift.edges(TRAINING[name], 2)
        full = np.array([(TRAINING[name] <= inner[0]).sum(), (TRAINING[name] > inner[0]).sum()], dtype=float)
        assert drift.psi(full, drift.bin_counts(scored, name, inner)) == pytest.approx(got[name], rel=1e-12)


def test_missing_reference_gives_none(lakehouse: Lakehouse, no_mlflow_env: None) -> None:
    client = registry.client(lakehouse)
    with mlflow.start_run(experiment_id=registry.experiment_id(lakehouse, client)) as run:
        pass
    assert score._drift_reference(run.info.run_id) is None


class CountingBooster:
    """A real LightGBM booster that records each inference call (rows, keyword arguments)."""

    def __init__(self, booster: object) -> None:
        self.booster, self.calls = booster, []

    def predict(self, matrix: np.ndarray, **kwargs: object) -> np.ndarray:
        self.calls.append((len(matrix), kwargs))
        return self.booster.predict(matrix, **kwargs)


def test_scoring_runs_the_booster_once_per_row(lakehouse: Lakehouse, no_mlflow_env: None) -> None:
    client = registry.client(lakehouse)
    registry.promote(client, register(lakehouse, client, 0.5, seed=2, trees=6), "test", actor="test")
    champion = registry.load_champion(lakehouse)
    model = model_scores.load_packed(champion.artifact)
    scorer = model.unwrap_python_model().scorer
    batches = [training_frame(n=7, seed=4), training_frame(n=5, seed=6)]
    for i, batch in enumerate(batches):
        batch["account_id"] = [f"acct_{i}_{j}" for j in range(len(batch))]
    expected = [np.asarray(model.predict(batch[list(FEATURE_COLUMNS)])) for batch in batches]
    counting = CountingBooster(scorer.booster)
    scorer.booster = counting
    try:
        out = list(model_scores.scoring_function(champion.artifact, 3)(iter(batches)))
    finally:
        scorer.booster = counting.booster
    assert counting.calls == [(7, {"pred_contrib": True}), (5, {"pred_contrib": True})]
    for frame, want in zip(out, expected):
        np.testing.assert_allclose(frame["score"].to_numpy(), want, rtol=1e-12, atol=1e-15)


def test_score_job_reads_the_logged_reference(sail: SparkSession, lakehouse: Lakehouse, no_mlflow_env: None) -> None:
    """A reference built from the scored day itself: every PSI is exactly 0, the stage is counted once."""
    target = day(15)
    rolling, clusters, _ = synthetic_tables(sail, positives=10, benign=10, unlabelled=20)
    rolling = rolling.withColumns({"partner_prefix_requests_28d": F.lit(0), "partner_template_requests_28d": F.lit(0)})
    if "link_types" not in clusters.columns:
        clusters = clusters.withColumn("link_types", F.array().cast("array<string>"))
    rolling.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_ROLLING))
    clusters.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_CLUSTERS))
    client = registry.client(lakehouse)
    registry.promote(client, register(lakehouse, client, 0.5, seed=5, trees=8), "test", actor="test")
    champion = registry.champion(client)
    on_day = F.col("feature_date") == F.lit(target)
    features = (
        tables.read(sail, lakehouse, Table.ACCOUNT_ROLLING)
        .where(on_day)
        .join(
            tables.read(sail, lakehouse, Table.ACCOUNT_CLUSTERS).where(on_day).drop("feature_date"),
            "account_id",
            "left",
        )
        .toPandas()
    )
    summary = drift.reference(features, bins=4)
    assert len(summary["features"]) >= 3
    client.log_dict(champion.run_id, summary, drift.REFERENCE_ARTIFACT)

    result = score.run(sail, lakehouse, target)
    assert result["psi"] == {name: 0.0 for name in summary["features"]}
    logged = client.get_run(result["scoring_run_id"]).data
    assert logged.metrics["accounts_scored"] == len(features)
    assert logged.tags["drift_reference"] == f"runs:/{champion.run_id}/{drift.REFERENCE_ARTIFACT}"
