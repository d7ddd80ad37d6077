"""A copied lakehouse (``cp -a``) keeps its MLflow store to itself, on a real sqlite store.

The store records absolute artifact URIs; without relocation a run in the copy wrote its
artifacts into the original's folder, and the copy's models lived in the original.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from distillguard.config import Lakehouse
from distillguard.models import registry
from tests.model_rows import register, training_frame


def _files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(autouse=True)
def _default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
        monkeypatch.delenv(name, raising=False)


def test_a_copy_writes_and_loads_only_its_own_artifacts(tmp_path: Path) -> None:
    original = Lakehouse.resolve(tmp_path / "original")
    first = register(original, registry.client(original), 0.6)
    registry.promote(registry.client(original), first, "first", actor="tester")
    before = _files(original.mlflow_artifacts)

    shutil.copytree(original.home, tmp_path / "copy", symlinks=True)
    copy = Lakehouse.resolve(tmp_path / "copy")
    # MLflow left the original's registry URI in the environment: the copy must not follow it.
    client = registry.client(copy)
    assert os.environ[registry.REGISTRY_ENV] == copy.mlflow_tracking_uri
    assert registry.relocate(copy) == []  # done once, by client()
    experiment = client.get_experiment(registry.experiment_id(copy, client))
    assert experiment.artifact_location == copy.mlflow_artifacts.as_uri()
    inside = copy.mlflow_artifacts.as_uri() + "/"
    assert client.get_model_version_download_uri(registry.MODEL_NAME, first).startswith(inside)
    run_id = client.get_model_version(registry.MODEL_NAME, first).run_id
    assert client.get_run(run_id).info.artifact_uri.startswith(inside)

    second = register(copy, client, 0.7, seed=2)
    assert _files(original.mlflow_artifacts) == before
    shutil.rmtree(original.home)  # the copy no longer needs the original for anything
    assert client.get_model_version_download_uri(registry.MODEL_NAME, second).startswith(inside)
    champion = registry.load_champion(copy)
    assert (champion.version, champion.threshold) == (first, 0.6)
    assert len(champion.model.predict(training_frame(n=3)[list(registry.FEATURE_COLUMNS)])) == 3
    assert before <= _files(copy.mlflow_artifacts)


def test_a_store_already_in_place_is_left_alone(tmp_path: Path) -> None:
    home = Lakehouse.resolve(tmp_path / "home")
    register(home, registry.client(home), 0.5)
    store = (home.mlflow_dir / "mlflow.db").read_bytes()
    assert registry.relocate(home) == []
    assert (home.mlflow_dir / "mlflow.db").read_bytes() == store
