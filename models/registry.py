"""MLflow tracking and registry: one registered model, aliases ``challenger`` and ``champion``.

Store: sqlite and an artifact folder under the lakehouse by default; ``MLFLOW_TRACKING_URI``
(via ``Lakehouse.mlflow_tracking_uri``) and ``MLFLOW_REGISTRY_URI`` point elsewhere (an
``mlflow server``, Databricks). Every training run registers a new version as
``challenger``; ``champion`` moves only through ``promote`` (the training gate or a human),
and every move is kept: the registered model tag ``champion_history`` lists the champion
versions in order, and each version carries tags saying when, by whom and why it was
promoted or rolled back, so enforcement can see which model flagged whom and go back.

Promoting the challenger removes its ``challenger`` alias: a version is challenger only
while it waits for a decision.

For scoring: ``MODEL_NAME``, ``FEATURE_COLUMNS`` (re-exported), ``load_champion``: the
artifact behind ``models:/<name>@champion`` loaded as the registered pyfunc, with its
version, operating threshold (also in the version tag ``threshold`` and the model
metadata) and the artifact packed as bytes, so Spark workers score with the very files
that were validated and registered.
"""

from __future__ import annotations

import getpass
import io
import json
import logging
import os
import sqlite3
import tarfile
import tempfile
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from distillguard.config import Lakehouse, model_names
from distillguard.errors import DistillguardError
from distillguard.models.classifier import SUSPEND_THRESHOLD
from distillguard.models.training_set import FEATURE_COLUMNS

MODEL_NAME = model_names().model
EXPERIMENT_NAME = "distillguard-train"
CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
THRESHOLD_TAG = "threshold"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
# The user's registry, read once: ``mlflow.set_registry_uri`` writes this variable itself, so
# reading it later would send a second lakehouse's models to the first one's registry.
_USER_REGISTRY_URI = os.environ.get(REGISTRY_ENV)
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
# Where the sqlite store records artifact paths (absolute URIs).
_PATH_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)
log = logging.getLogger(__name__)

__all__ = [
    "MODEL_NAME",
    "FEATURE_COLUMNS",
    "Champion",
    "client",
    "relocate",
    "experiment_id",
    "pinned",
    "register_challenger",
    "champion",
    "challenger",
    "promote",
    "rollback",
    "load_champion",
    "model_inputs",
    "pack",
]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _in_lakehouse(lakehouse: Lakehouse) -> bool:
    """The default store: sqlite under the lakehouse (MLflow also sets MLFLOW_TRACKING_URI
    itself on set_tracking_uri, so the environment alone does not say who chose it)."""
    return lakehouse.mlflow_tracking_uri.startswith(f"sqlite:///{lakehouse.mlflow_dir}")


def relocate(lakehouse: Lakehouse) -> list[str]:
    """Make a copied lakehouse's store name its own artifact folder; returns the old ones.

    The sqlite store records absolute artifact URIs, so a lakehouse copied with ``cp -a``
    still names the original's folder: runs in the copy would write their artifacts into
    the original, and deleting the original would break the copy's models. The experiments
    whose artifacts were another lakehouse's ``mlflow/artifacts`` are moved to this one's,
    with every path recorded under them."""
    store = lakehouse.mlflow_dir / "mlflow.db"
    here = lakehouse.mlflow_artifacts.as_uri()
    if not store.is_file():
        return []
    with closing(sqlite3.connect(store)) as db, db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in tables:
            return []
        found = db.execute(
            "SELECT DISTINCT artifact_location FROM experiments WHERE artifact_location LIKE 'file://%/mlflow/artifacts'"
        )
        elsewhere = sorted(location for (location,) in found if location != here)
        for old in elsewhere:
            for table, column in _PATH_COLUMNS:
                if table in tables:
                    db.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?)"
                        f" WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                        (here, len(old) + 1, old, len(old) + 1, old + "/"),
                    )
    for old in elsewhere:
        log.info("MLflow store of %s named another lakehouse's artifacts (%s): now its own", lakehouse.home, old)
    return elsewhere


def client(lakehouse: Lakehouse) -> MlflowClient:
    """Point MLflow at the lakehouse store (or the URIs the environment gives)."""
    tracking = lakehouse.mlflow_tracking_uri
    if _in_lakehouse(lakehouse):
        lakehouse.mlflow_dir.mkdir(parents=True, exist_ok=True)
        relocate(lakehouse)
    registry = _USER_REGISTRY_URI or model_names().registry_uri or tracking
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)
    return MlflowClient(tracking_uri=tracking, registry_uri=registry)


def pinned(*packages: str) -> list[str]:
    """``pip_requirements`` of a logged model: the installed versions of ``packages``.
    Given explicitly, MLflow skips inferring them (a subprocess that imports the model,
    ~5 s per model, and it lists whatever the process imported, pytest included)."""
    return [f"{package}=={metadata.version(package)}" for package in packages]


def experiment_id(lakehouse: Lakehouse, mlflow_client: MlflowClient, name: str = EXPERIMENT_NAME) -> str:
    """An experiment (default: training, renamed by ``MLFLOW_EXPERIMENT_NAME``, e.g. a
    Databricks workspace path); on the default local store its artifacts live under the lakehouse."""
    if name == EXPERIMENT_NAME:
        name = os.environ.get(EXPERIMENT_ENV) or name
    name = model_names().experiment(name)
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    local = _in_lakehouse(lakehouse)
    if local:
        lakehouse.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
    return mlflow_client.create_experiment(
        name, artifact_location=lakehouse.mlflow_artifacts.as_uri() if local else None
    )


def _version_or_none(mlflow_client: MlflowClient, alias: str) -> ModelVersion | None:
    try:
        return mlflow_client.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None


def champion(mlflow_client: MlflowClient) -> ModelVersion | None:
    return _version_or_none(mlflow_client, CHAMPION)


def history(mlflow_client: MlflowClient) -> list[int]:
    """Champion versions in the order they were promoted (the last one is the champion)."""
    try:
        tags = mlflow_client.get_registered_model(MODEL_NAME).tags
    except MlflowException:
        return []
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def challenger(mlflow_client: MlflowClient) -> ModelVersion | None:
    return _version_or_none(mlflow_client, CHALLENGER)


def register_challenger(mlflow_client: MlflowClient, model_uri: str, tags: dict[str, str]) -> ModelVersion:
    """A new version of ``MODEL_NAME`` carrying ``tags``, aliased ``challenger``."""
    try:
        mlflow_client.get_registered_model(MODEL_NAME)
    except MlflowException:
        mlflow_client.create_registered_model(
            MODEL_NAME,
            description="Distillation classifier: calibrated probability that an account-day "
            "is adversarial distillation. Aliases: champion (scores), challenger (latest).",
        )
    version = mlflow.register_model(model_uri, MODEL_NAME, tags=tags)
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version.version)
    return version


def promote(
    mlflow_client: MlflowClient, version: int | str | None, reason: str, actor: str | None = None
) -> ModelVersion:
    """Make ``version`` (default: the challenger) the champion, recording who, when and why; the
    previous one stays in history and the promoted version stops being challenger."""
    if version is None:
        waiting = challenger(mlflow_client)
        if waiting is None:
            raise DistillguardError(f"{MODEL_NAME} has no challenger to promote; pass --version")
        version = waiting.version
    try:
        promoted = mlflow_client.get_model_version(MODEL_NAME, str(version))
    except MlflowException:
        raise DistillguardError(f"{MODEL_NAME} has no version {version}") from None
    previous = champion(mlflow_client)
    if previous is not None and previous.version == promoted.version:
        raise DistillguardError(f"version {promoted.version} is already the champion")
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHAMPION, promoted.version)
    mlflow_client.set_registered_model_tag(
        MODEL_NAME, HISTORY_TAG, json.dumps([*history(mlflow_client), int(promoted.version)])
    )
    for key, value in {
        "promoted_at": _now(),
        "promoted_by": actor or getpass.getuser(),
        "promotion_reason": reason,
        "replaced_champion": previous.version if previous else "none",
    }.items():
        mlflow_client.set_model_version_tag(MODEL_NAME, promoted.version, key, value)
    waiting = challenger(mlflow_client)
    if waiting is not None and waiting.version == promoted.version:
        mlflow_client.delete_registered_model_alias(MODEL_NAME, CHALLENGER)
    return mlflow_client.get_model_version(MODEL_NAME, promoted.version)


def rollback(mlflow_client: MlflowClient, reason: str, actor: str | None = None) -> ModelVersion:
    """Give ``champion`` back to the version it replaced; the demoted version keeps its tags."""
    promoted = history(mlflow_client)
    if len(promoted) < 2:
        raise DistillguardError("no previous champion to roll back to")
    demoted, restored = promoted[-1], promoted[-2]
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHAMPION, str(restored))
    mlflow_client.set_registered_model_tag(MODEL_NAME, HISTORY_TAG, json.dumps(promoted[:-1]))
    for key, value in {
        "rolled_back_at": _now(),
        "rolled_back_by": actor or getpass.getuser(),
        "rollback_reason": reason,
        "restored_champion": str(restored),
    }.items():
        mlflow_client.set_model_version_tag(MODEL_NAME, str(demoted), key, value)
    mlflow_client.set_model_version_tag(MODEL_NAME, str(restored), "restored_at", _now())
    return mlflow_client.get_model_version(MODEL_NAME, str(restored))


@dataclass(frozen=True)
class Champion:
    """The champion as loaded: the pyfunc, its registry lineage and the artifact's bytes."""

    model: mlflow.pyfunc.PyFuncModel
    version: str
    threshold: float
    uri: str
    # The suspend tier's operating point (benign FPR 0.01%); None for versions trained before it existed.
    run_id: str
    artifact: bytes
    suspend_threshold: float | None = None


def model_inputs(model: mlflow.pyfunc.PyFuncModel) -> tuple[str, ...]:
    """The input columns a registered model was trained with (its signature): scoring and the
    champion comparison select these, so a version trained on another feature set still scores."""
    return tuple(model.metadata.get_input_schema().input_names())


def pack(folder: str) -> bytes:
    """A model folder as one gzipped tar (names relative to the folder): what the workers unpack."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in sorted(os.listdir(folder)):
            archive.add(os.path.join(folder, name), arcname=name)
    return buffer.getvalue()


def load_champion(lakehouse: Lakehouse) -> Champion:
    """``models:/<name>@champion`` as the registered pyfunc with its operating threshold (for scoring).

    The alias is resolved once, the artifact downloaded through it and checked against the
    resolved version, so a promotion racing the load cannot mix two versions."""
    mlflow_client = client(lakehouse)
    current = champion(mlflow_client)
    if current is None:
        raise DistillguardError(f"no champion for {MODEL_NAME}; run `distillguard train` or `distillguard promote`")
    uri = f"models:/{MODEL_NAME}@{CHAMPION}"
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
        model = mlflow.pyfunc.load_model(local)
        if model.metadata.run_id != current.run_id:
            raise DistillguardError(
                f"the {CHAMPION} alias of {MODEL_NAME} moved while loading version {current.version}; run again"
            )
        artifact = pack(local)
    suspend = current.tags.get(SUSPEND_THRESHOLD)
    return Champion(
        model,
        current.version,
        float(current.tags[THRESHOLD_TAG]),
        uri,
        current.run_id,
        artifact,
        float(suspend) if suspend is not None else None,
    )
