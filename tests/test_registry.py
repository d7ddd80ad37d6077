"""Registry on a real sqlite MLflow store: challenger, promote, history, rollback, load_champion."""

from __future__ import annotations

import mlflow
import pytest

from distillguard.config import Lakehouse
from distillguard.errors import DistillguardError
from distillguard.models import registry
from tests.model_rows import register as _register
from tests.model_rows import training_frame


@pytest.fixture
def store(lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Lakehouse, mlflow.MlflowClient]:
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
        monkeypatch.delenv(name, raising=False)
    return lakehouse, registry.client(lakehouse)


def test_store_lives_under_the_lakehouse(store: tuple) -> None:
    lakehouse, client = store
    experiment = client.get_experiment(registry.experiment_id(lakehouse, client))
    assert (lakehouse.mlflow_dir / "mlflow.db").is_file()
    assert experiment.artifact_location == lakehouse.mlflow_artifacts.as_uri()


def test_promote_history_and_rollback(store: tuple) -> None:
    lakehouse, client = store
    v1, v2, v3 = (_register(lakehouse, client, t) for t in (0.5, 0.6, 0.7))
    assert registry.challenger(client).version == v3
    assert registry.champion(client) is None
    with pytest.raises(DistillguardError, match="no previous champion"):
        registry.rollback(client, "nothing to undo")
    registry.promote(client, v1, "first", actor="tester")
    # v1 was not the challenger: v3 still waits for a decision.
    assert registry.challenger(client).version == v3
    registry.promote(client, None, "better on holdout", actor="tester")
    assert registry.challenger(client) is None
    with pytest.raises(DistillguardError, match="no challenger to promote"):
        registry.promote(client, None, "nothing waiting")
    with pytest.raises(DistillguardError, match="has no version 9"):
        registry.promote(client, 9, "no such version")
    assert registry.history(client) == [int(v1), int(v3)]
    assert client.get_model_version(registry.MODEL_NAME, v3).tags["replaced_champion"] == str(v1)
    champion = registry.load_champion(lakehouse)
    assert (champion.version, champion.threshold) == (v3, 0.7)
    assert champion.uri == "models:/distillguard_distillation@champion"
    assert champion.run_id == client.get_model_version(registry.MODEL_NAME, v3).run_id
    assert len(champion.model.predict(training_frame(n=4)[list(registry.FEATURE_COLUMNS)])) == 4

    restored = registry.rollback(client, "v3 flags eval labs", actor="oncall")
    assert restored.version == v1 and registry.champion(client).version == v1
    assert registry.history(client) == [int(v1)]
    demoted = client.get_model_version(registry.MODEL_NAME, v3).tags
    assert (demoted["rollback_reason"], demoted["rolled_back_by"], demoted["restored_champion"]) == (
        "v3 flags eval labs",
        "oncall",
        str(v1),
    )
    assert registry.load_champion(lakehouse).threshold == 0.5
    with pytest.raises(DistillguardError, match="already the champion"):
        registry.promote(client, v1, "again")
    assert v2 not in registry.history(client)
