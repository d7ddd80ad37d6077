"""Distributed scoring with per-account reasons, via mapInPandas (never a driver collect).

The champion travels to the workers as its registered MLflow artifact (the folder behind
``models:/<name>@champion``, packed by ``registry.load_champion``); each worker process
unpacks and loads it once as the pyfunc, so the scores are the registered model's own
``predict`` on the columns its signature declares. Top reasons are the features pushing
the score up most (the booster's SHAP contributions, from the same loaded model), with
their values, in readable names.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

REASONS_TYPE = "array<struct<feature:string,value:double,contribution:double>>"
OUTPUT_SCHEMA = f"account_id string, score double, top_reasons {REASONS_TYPE}"
# Loaded pyfuncs of this (worker) process, by SHA-256 of the packed artifact.
_LOADED: dict[str, Any] = {}


def _reasons(contributions: np.ndarray, values: np.ndarray, features: list[str], top: int) -> list[list[dict]]:
    order = np.argsort(-contributions, axis=1)[:, :top]
    return [
        [
            {
                "feature": features[j],
                "value": None if np.isnan(values[i, j]) else float(values[i, j]),
                "contribution": float(contributions[i, j]),
            }
            for j in row
            if contributions[i, j] > 0
        ]
        for i, row in enumerate(order)
    ]


def load_packed(artifact: bytes) -> Any:
    """The pyfunc in a packed artifact, loaded once per process."""
    digest = hashlib.sha256(artifact).hexdigest()
    if digest not in _LOADED:
        import mlflow

        with tempfile.TemporaryDirectory() as folder:
            with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as archive:
                archive.extractall(folder, filter="data")
            _LOADED[digest] = mlflow.pyfunc.load_model(folder)
    return _LOADED[digest]


def score_and_reasons(scorer: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(calibrated scores, encoded features, SHAP contributions) from one booster pass.

    ``scorer`` is the registered model's ``Scorer`` (models/scorer.py): its contributions
    keep the expected value as the last column only in LightGBM's raw output, so the margin
    is rebuilt here from the full row sum and calibrated with the model's Platt coefficients."""
    from distillguard.models.scorer import encode

    matrix = encode(frame, scorer.features)
    raw = np.asarray(scorer.booster.predict(matrix, pred_contrib=True), dtype="float64")
    margin = raw.sum(axis=1)
    scores = 1.0 / (1.0 + np.exp(-(scorer.meta["platt_a"] * margin + scorer.meta["platt_b"])))
    return scores, matrix, raw[:, :-1]


def scoring_function(artifact: bytes, top: int) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A mapInPandas function closing over the packed model (a few hundred kB to ship)."""

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from distillguard.models.scorer import model_input

        model = load_packed(artifact)
        scorer = model.unwrap_python_model().scorer
        for batch in batches:
            scores, matrix, contributions = score_and_reasons(scorer, model_input(batch, scorer.features))
            yield pd.DataFrame(
                {
                    "account_id": batch["account_id"],
                    "score": scores,
                    "top_reasons": _reasons(contributions, matrix, scorer.features, top),
                }
            )

    return score_batches


def score_accounts(features: DataFrame, artifact: bytes, top: int) -> DataFrame:
    """(account_id, score, top_reasons) for every row of ``features`` (model columns + account_id),
    scored by the packed registered model ``artifact``."""
    return features.mapInPandas(scoring_function(artifact, top), OUTPUT_SCHEMA)
