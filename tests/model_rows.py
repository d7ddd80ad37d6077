"""Small trained and registered models on a real MLflow store, for registry and scoring tests."""

from __future__ import annotations

from dataclasses import replace

import mlflow
import numpy as np
import pandas as pd

from distillguard.config import TRAINING, Lakehouse
from distillguard.jobs.train import _log_model
from distillguard.models import classifier, registry
from distillguard.models.training_set import FEATURE_COLUMNS

STRINGS = ("kyc_tier", "plan")


def training_frame(n: int = 120, seed: int = 1) -> pd.DataFrame:
    """Features (two informative, the rest null) with labels, weights and groups."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    frame = pd.DataFrame([{c: None for c in FEATURE_COLUMNS}] * n)
    frame["intent_share_28d"] = np.clip(np.where(y == 1, 0.65, 0.35) + rng.normal(0, 0.15, n), 0, 1)
    frame["top_template_share_28d"] = rng.random(n)
    frame["kyc_tier"], frame["plan"] = "basic", "payg"
    return frame.assign(
        label=y, weight=1.0, population_weight=1.0, last_day=True, group_id=[f"g{i % 40}" for i in range(n)]
    )


def register(lakehouse: Lakehouse, client: mlflow.MlflowClient, threshold: float, seed: int = 1, trees: int = 5) -> str:
    """Train, log (as jobs/train.py does) and register a challenger; returns its version."""
    model = classifier.train(training_frame(seed=seed), replace(TRAINING, n_estimators=trees, cv_folds=2))
    model.threshold = replace(model.threshold, value=threshold)
    with mlflow.start_run(experiment_id=registry.experiment_id(lakehouse, client)):
        info = _log_model(model, training_frame(n=5))
    return registry.register_challenger(client, info.model_uri, {registry.THRESHOLD_TAG: str(threshold)}).version


def spark_schema() -> str:
    """account_id plus every model feature (strings for the ordinals, doubles for the rest)."""
    return ", ".join(["account_id string", *(f"{c} {'string' if c in STRINGS else 'double'}" for c in FEATURE_COLUMNS)])
