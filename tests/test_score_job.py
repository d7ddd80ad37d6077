"""The scoring job end to end on Delta and a real MLflow store: the champion's pyfunc scores,
lineage is recorded, allow-listed accounts keep a marked row and are counted apart."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.enforcement import allow_list
from distillguard.jobs import score
from distillguard.models import registry
from distillguard.models.scorer import model_input
from distillguard.models.training_set import FEATURE_COLUMNS
from tests.model_rows import register
from tests.training_rows import day, synthetic_tables

DAY = day(15)
THRESHOLD = 0.5


@pytest.fixture
def world(sail: SparkSession, lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
        monkeypatch.delenv(name, raising=False)
    rolling, clusters, _ = synthetic_tables(sail, positives=10, benign=10, unlabelled=20)
    rolling = rolling.withColumns({"partner_prefix_requests_28d": F.lit(0), "partner_template_requests_28d": F.lit(0)})
    rolling.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_ROLLING))
    clusters.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_CLUSTERS))
    client = registry.client(lakehouse)
    registry.promote(client, register(lakehouse, client, THRESHOLD, seed=5, trees=8), "test", actor="test")
    return lakehouse


def test_champion_scores_and_allow_list_marks(sail: SparkSession, world: Lakehouse) -> None:
    champion = registry.champion(registry.client(world))
    features = (
        tables.read(sail, world, Table.ACCOUNT_ROLLING)
        .where(F.col("feature_date") == F.lit(DAY))
        .join(
            tables.read(sail, world, Table.ACCOUNT_CLUSTERS)
            .where(F.col("feature_date") == F.lit(DAY))
            .drop("feature_date"),
            "account_id",
        )
        .toPandas()
        .sort_values("account_id")
    )
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.MODEL_NAME}/{champion.version}")
    expected = dict(
        zip(features["account_id"], np.asarray(pyfunc.predict(model_input(features, list(FEATURE_COLUMNS)))))
    )
    over = sorted(a for a, s in expected.items() if s >= THRESHOLD)
    assert 0 < len(over) < len(expected)
    vendor = max(over, key=lambda a: expected[a])
    allow_list.add(sail, world, [allow_list.Entry(vendor, "legal", "agreement", day(0))])

    result = score.run(sail, world, DAY)
    assert (result["flagged"], result["allow_listed"]) == (len(over) - 1, 1)
    rows = {r.account_id: r for r in tables.read(sail, world, Table.FLAGGED_ACCOUNTS).collect()}
    assert sorted(rows) == over
    for account, row in rows.items():
        # Singleton clusters: no lift, so the stored score is the pyfunc's own.
        assert row.score == pytest.approx(expected[account], rel=1e-12)
        assert (row.risk_tier in ("review", "suspend_recommended"), row.allow_listed) == (True, account == vendor)
        assert (row.model_version, row.model_run_id) == (str(champion.version), champion.run_id)
    logged = registry.client(world).get_run(result["scoring_run_id"]).data
    assert logged.metrics["allow_listed_not_exported"] == 1 and logged.metrics["flagged"] == len(over) - 1
    assert logged.params["model_uri"] == "models:/distillguard_distillation@champion"


def _flagged(world: Lakehouse) -> dict[tuple, tuple]:
    frame = DeltaTable(world.table_path(Table.FLAGGED_ACCOUNTS)).to_pandas()
    return {
        (str(r["flag_date"]), r["account_id"]): tuple(str(r[c]) for c in sorted(frame.columns))
        for _, r in frame.iterrows()
    }


def test_rerun_withdrawal_other_days_signature_and_lineage(sail: SparkSession, world: Lakehouse) -> None:
    client = registry.client(world)
    first_champion = registry.champion(client)
    earlier = day(14)
    score.run(sail, world, earlier)
    first = score.run(sail, world, DAY)
    before = _flagged(world)
    on_day = sorted(a for d, a in before if d == DAY.isoformat())
    assert len(on_day) == first["flagged"] >= 2

    # A re-run changes nothing: same rows, same values, same lineage, no new Delta commit of data.
    again = score.run(sail, world, DAY)
    assert _flagged(world) == before
    assert (again["flagged"], again["by_tier"]) == (first["flagged"], first["by_tier"])

    # Columns match the champion's signature: the scorer feeds exactly its input names, in order.
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.MODEL_NAME}/{first_champion.version}")
    assert pyfunc.metadata.get_input_schema().input_names() == list(FEATURE_COLUMNS)
    on_day_features = F.col("feature_date") == F.lit(DAY)
    features = (
        tables.read(sail, world, Table.ACCOUNT_ROLLING)
        .where(on_day_features)
        .join(
            tables.read(sail, world, Table.ACCOUNT_CLUSTERS).where(on_day_features).drop("feature_date"), "account_id"
        )
        .toPandas()
    )
    assert list(model_input(features, list(FEATURE_COLUMNS)).columns) == list(FEATURE_COLUMNS)

    # A stricter champion: accounts no longer flagged on DAY are withdrawn, the earlier day is untouched.
    flagged = DeltaTable(world.table_path(Table.FLAGGED_ACCOUNTS)).to_pandas()
    scores = sorted(flagged[flagged.flag_date.astype(str) == DAY.isoformat()].score)
    stricter = (scores[0] + scores[1]) / 2 if scores[0] < scores[1] else scores[0] + 1e-9
    registry.promote(client, register(world, client, stricter, seed=5, trees=8), "test", actor="test")
    third = score.run(sail, world, DAY)
    after = _flagged(world)
    kept = sorted(a for d, a in after if d == DAY.isoformat())
    assert set(kept) < set(on_day) and len(kept) == third["flagged"] + third["allow_listed"]
    assert {k: v for k, v in after.items() if k[0] == earlier.isoformat()} == {
        k: v for k, v in before.items() if k[0] == earlier.isoformat()
    }

    # Every row resolves to its registered version, that version's training run, and a finished scoring run.
    for row in tables.read(sail, world, Table.FLAGGED_ACCOUNTS).collect():
        version = client.get_model_version(row.model_name, row.model_version)
        assert version.run_id == row.model_run_id
        scoring = client.get_run(row.scoring_run_id)
        assert scoring.info.status == "FINISHED"
        assert scoring.data.params["model_version"] == row.model_version
        assert scoring.data.params["flag_date"] == row.flag_date.isoformat()
