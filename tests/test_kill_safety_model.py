"""SIGKILL the score, export and train jobs at several points, re-run them: the result equals
an uninterrupted run's (same flagged rows, same export files and manifest, one MLflow model
version per training run), in the style of tests/test_kill_safety.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard.config import Lakehouse, Table
from distillguard.enforcement import export as handoff
from distillguard.jobs import export, score, train
from distillguard.models import registry
from tests.model_rows import register
from tests.test_train_job import SETTINGS
from tests.training_rows import day, synthetic_tables

DAY = day(15)
THRESHOLD = 0.5
# Differ between two lakehouses by design: MLflow run ids and the wall clock.
RUN_COLUMNS = ("model_run_id", "scoring_run_id", "scored_at", "exported_at")


def _rows(lakehouse: Lakehouse, table: Table, drop: tuple[str, ...] = RUN_COLUMNS) -> list[tuple]:
    frame = DeltaTable(lakehouse.table_path(table)).to_pandas()
    frame = frame[sorted(c for c in frame.columns if c not in drop)]
    return sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))


def _world(sail: SparkSession, lakehouse: Lakehouse, champion: bool = True, incidents: bool = False) -> Lakehouse:
    sizes = {} if incidents else {"positives": 10, "benign": 10, "unlabelled": 20}
    rolling, clusters, labels = synthetic_tables(sail, **sizes)
    rolling = rolling.withColumns({"partner_prefix_requests_28d": F.lit(0), "partner_template_requests_28d": F.lit(0)})
    rolling.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_ROLLING))
    clusters.write.format("delta").partitionBy("feature_date").save(lakehouse.table_path(Table.ACCOUNT_CLUSTERS))
    if incidents:
        labels.write.format("delta").save(lakehouse.table_path(Table.INCIDENTS))
    if champion:
        client = registry.client(lakehouse)
        registry.promote(client, register(lakehouse, client, THRESHOLD, seed=5, trees=8), "test", actor="test")
    return lakehouse


def _kill_when(lakehouse: Lakehouse, command: list[str], ready: Callable[[], bool]) -> int:
    """Run ``distillguard <command>`` (or ``python -c <code>`` for a command starting with
    ``-c``) and SIGKILL it as soon as ``ready()`` holds."""
    argv = command if command[0] == "-c" else ["-m", "distillguard.cli", *command, "--home", str(lakehouse.home)]
    child = subprocess.Popen(
        [sys.executable, *argv],
        cwd=Path(__file__).parent.parent,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        if ready():
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    return child.wait(timeout=60)


def _parquet_under(path: os.PathLike, pattern: str = "*.parquet") -> Callable[[], bool]:
    """Whether a ``pattern`` file is under ``path``. The watched job removes its scratch
    folders while this walks them: a folder gone mid-walk counts as not there yet."""

    def ready() -> bool:
        try:
            return Path(path).is_dir() and any(Path(path).rglob(pattern))
        except FileNotFoundError:
            return False

    return ready


@pytest.fixture(autouse=True)
def _no_outside_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def uninterrupted(sail: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One uninterrupted score then export of DAY: the flagged rows, the export files and manifest."""
    patch = pytest.MonkeyPatch()
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
        patch.delenv(name, raising=False)
    lakehouse = _world(sail, Lakehouse.resolve(tmp_path_factory.mktemp("whole") / "lakehouse"))
    score.run(sail, lakehouse, DAY)
    exported = export.run(sail, lakehouse, DAY)
    yield {
        "flagged": _rows(lakehouse, Table.FLAGGED_ACCOUNTS),
        "export": _export_files(Path(exported["folder"])),
        "exports": _rows(lakehouse, Table.EXPORTS),
    }
    patch.undo()


def _export_files(folder: Path) -> dict[str, object]:
    """Every file of an export folder; the manifest without its wall-clock stamp."""
    files: dict[str, object] = {}
    for path in sorted(folder.iterdir()):
        if path.name == "manifest.json":
            manifest = json.loads(path.read_text())
            manifest.pop("generated_at")
            manifest["scoring_run_ids"] = len(manifest["scoring_run_ids"])
            files[path.name] = manifest
        else:
            files[path.name] = path.read_bytes()
    return files


@pytest.mark.parametrize("killed_at", ["scores staged", "flagged merged"])
def test_sigkill_score_then_rerun_equals_an_uninterrupted_run(
    killed_at: str, uninterrupted: dict, sail: SparkSession, lakehouse: Lakehouse
) -> None:
    world = _world(sail, lakehouse)
    ready = (
        _parquet_under(world.table_path(Table.FEATURE_SCRATCH), "scores_*/*.parquet")
        if killed_at == "scores staged"
        else _parquet_under(world.table_path(Table.FLAGGED_ACCOUNTS))
    )
    assert _kill_when(world, ["score", "--date", str(DAY)], ready) == -signal.SIGKILL

    result = score.run(sail, world, DAY)
    assert _rows(world, Table.FLAGGED_ACCOUNTS) == uninterrupted["flagged"]
    # Every row names the re-run's scoring run, and that run finished; the killed one did not.
    client = registry.client(world)
    stored = DeltaTable(world.table_path(Table.FLAGGED_ACCOUNTS)).to_pandas()
    assert set(stored.scoring_run_id) == {result["scoring_run_id"]}
    assert set(stored.model_run_id) == {registry.champion(client).run_id}
    assert client.get_run(result["scoring_run_id"]).info.status == "FINISHED"
    experiment = client.get_run(result["scoring_run_id"]).info.experiment_id
    statuses = sorted(r.info.status for r in client.search_runs([experiment]))
    # A run killed after its MLflow run started is resumed and finished by the re-run.
    assert statuses == ["FINISHED"]
    assert len(client.search_model_versions(f"name='{registry.MODEL_NAME}'")) == 1


@pytest.mark.parametrize("killed_at", ["files written", "manifest written"])
def test_sigkill_export_then_rerun_equals_an_uninterrupted_run(
    killed_at: str, uninterrupted: dict, sail: SparkSession, lakehouse: Lakehouse
) -> None:
    world = _world(sail, lakehouse)
    score.run(sail, world, DAY)
    folder = world.exports / f"date={DAY.isoformat()}" / "export-0001"
    name = "manifest.json" if killed_at == "manifest written" else "*.parquet"
    assert _kill_when(world, ["export", "--date", str(DAY)], _parquet_under(folder, name)) == -signal.SIGKILL
    # Killed before the run row: the export is not committed (the three files land within
    # milliseconds of each other, so which of them exist varies).
    assert handoff.runs(sail, world, DAY) == []

    result = export.run(sail, world, DAY)
    assert (result["export_id"], result["status"]) == (f"{DAY.isoformat()}-0001", "written")
    assert _export_files(folder) == uninterrupted["export"]
    assert sorted(p.name for p in folder.parent.iterdir()) == ["export-0001"]
    assert _rows(world, Table.EXPORTS) == uninterrupted["exports"]
    # A second re-run sends nothing again.
    assert export.run(sail, world, DAY)["status"] == "unchanged"


def _versions(client) -> list:
    return client.search_model_versions(f"name='{registry.MODEL_NAME}'")


# The retrain at the test settings, in a child process (the CLI trains at production size).
TRAIN = (
    "from distillguard.config import Lakehouse; from distillguard.engine import get_spark; "
    "from distillguard.jobs import train; from tests.test_train_job import SETTINGS; "
    "train.run(get_spark(), Lakehouse.resolve({home!r}), None, SETTINGS)"
)


@pytest.mark.parametrize("killed_at", ["training set written", "model logged", "version registered"])
def test_sigkill_train_then_rerun_leaves_one_live_version(
    killed_at: str, sail: SparkSession, lakehouse: Lakehouse
) -> None:
    world = _world(sail, lakehouse, champion=False, incidents=True)
    client = registry.client(world)
    ready = {
        "training set written": _parquet_under(world.table_path(Table.TRAINING_SET)),
        "model logged": _parquet_under(world.home, "MLmodel"),
        "version registered": lambda: bool(_versions(client)),
    }[killed_at]
    assert _kill_when(world, ["-c", TRAIN.format(home=str(world.home))], ready) == -signal.SIGKILL

    # Killed after its gate promoted the version: that champion is kept (scoring depends on it).
    promoted = registry.champion(client)
    result = train.run(sail, world, None, SETTINGS)
    live = sorted(v.version for v in _versions(client))
    assert live == sorted({result["version"], *([promoted.version] if promoted else [])})
    assert client.get_run(client.get_model_version(registry.MODEL_NAME, result["version"]).run_id).info.status == (
        "FINISHED"
    )
    if promoted is None:
        assert registry.champion(client).version == result["version"]
        killed = [r for r in client.search_runs([client.get_run(result["run_id"]).info.experiment_id])]
        assert "RUNNING" not in {r.info.status for r in killed if killed_at == "version registered"}
