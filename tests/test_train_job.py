"""The weekly retrain end to end on Sail, Delta and a real sqlite MLflow store in tmp_path."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import mlflow
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import maintenance, tables
from distillguard.cli import main
from distillguard.config import TRAINING, Lakehouse, Table
from distillguard.jobs import train
from distillguard.models import registry
from tests.training_rows import day, synthetic_tables

# A holdout of ~40 rows makes the binned calibration error noisy: the bound is checked in
# test_training_model.py, here it is loosened so the run exercises the registry flow.
SETTINGS = replace(TRAINING, n_estimators=30, unlabelled_sample_fraction=0.5, cv_folds=3, max_calibration_error=0.3,
                   holdout_min_share=0.25)


@pytest.fixture
def world(sail: SparkSession, lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
        monkeypatch.delenv(name, raising=False)
    rolling, clusters, incidents = synthetic_tables(sail)
    rolling.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_ROLLING))
    clusters.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_CLUSTERS))
    incidents.write.format("delta").save(lakehouse.table_path(Table.INCIDENTS))
    return lakehouse


def test_retrain_registers_gates_and_rolls_back(sail: SparkSession, world: Lakehouse) -> None:
    first = train.run(sail, world, settings=SETTINGS)
    assert first["as_of"] == day(15).isoformat() and first["decision"] == "promoted", first["reason"]
    assert first["reason"].startswith("first champion"), first["reason"]

    # The training set on Delta: its version is the one the run and the model version record.
    version = maintenance.version(world, Table.TRAINING_SET)
    assert first["training_set_version"] == version
    written = tables.read(sail, world, Table.TRAINING_SET, version)
    assert written.where(F.col("decided_on") > F.col("as_of")).count() == 0
    split_of = {r.incident_id: r.split for r in written.where(F.col("incident_id").isNotNull())
                .select("incident_id", "split").distinct().collect()}
    assert len(split_of) == written.where(F.col("incident_id").isNotNull()).select("incident_id").distinct().count()

    client = registry.client(world)
    run = client.get_run(first["run_id"])
    assert run.data.params["training_set_version"] == str(version)
    assert run.data.params["negatives_assumption"].startswith("Negatives are investigated-and-cleared")
    assert {"model_pr_auc", "baseline_pr_auc", "model_recall", "model_benign_fpr", "model_precision_at_50"} \
        <= set(run.data.metrics)
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert f"training_set_v{version}_train" in inputs and f"training_set_v{version}_holdout" in inputs
    assert {f.path for f in client.list_artifacts(run.info.run_id, "plots")} == {
        f"plots/{n}.png" for n in ("pr_curve", "score_distributions", "feature_importance", "calibration")}
    v1 = client.get_model_version(registry.MODEL_NAME, first["version"])
    assert v1.tags["training_set_version"] == str(version) and v1.tags["promotion_decision"] == "promoted"
    model_info = mlflow.models.get_model_info(f"models:/{registry.MODEL_NAME}/{first['version']}")
    assert model_info.signature.inputs.input_names() == list(registry.FEATURE_COLUMNS)
    assert model_info.metadata["threshold"] == float(v1.tags[registry.THRESHOLD_TAG])

    # The same model again does not beat the champion by the margin: it stays challenger.
    second = train.run(sail, world, date.fromisoformat(first["as_of"]), SETTINGS)
    assert second["decision"] == "kept_challenger" and "does not beat the champion" in second["reason"]
    assert registry.champion(client).version == first["version"]
    assert client.get_model_version_by_alias(registry.MODEL_NAME, registry.CHALLENGER).version == second["version"]
    assert client.get_run(second["run_id"]).data.tags["promotion_decision"] == "kept_challenger"
    assert second["metrics"]["champion"]["pr_auc"] == pytest.approx(
        second["metrics"]["challenger_on_champion_rows"]["pr_auc"])

    # Humans: promote the challenger by hand, then roll back to the previous champion.
    home = ["--home", str(world.home)]
    assert main([*home, "promote", "--reason", "analyst review"]) == 0
    assert registry.champion(client).version == second["version"]
    assert main([*home, "rollback", "--reason", "too many flags"]) == 0
    assert registry.champion(client).version == first["version"]
    assert client.get_model_version(registry.MODEL_NAME, second["version"]).tags["rollback_reason"] == "too many flags"
    assert registry.load_champion(world).version == first["version"]


def test_as_of_after_the_features_is_refused(sail: SparkSession, world: Lakehouse,
                                             capsys: pytest.CaptureFixture) -> None:
    assert pytest.raises(SystemExit, main, ["--home", str(world.home), "train", "--as-of", "2026-12-31"]).value.code == 1
    assert "after the latest feature date 2026-11-16" in capsys.readouterr().err
