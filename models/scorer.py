"""The registered model's scoring code: feature encoding, booster, Platt calibration.

Logged with MLflow "models from code": this file is copied into the model artifact, so it
imports only json, numpy, pandas, lightgbm and mlflow, never distillguard; a Spark worker
or a serving endpoint with those packages can load the model. Training uses the same
``Scorer`` so the scores it evaluates are the ones the registered model returns.

Input: a pandas frame with the feature columns named in the metadata (as in the feature
tables: numbers, booleans, and the strings ``kyc_tier`` and ``plan``); nulls are allowed
(LightGBM routes missing values itself). Output: the calibrated probability of
distillation, one float per row.
"""

from __future__ import annotations

import json
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd

# Ordered categories: the order carries meaning (more verification, bigger plan).
ORDINALS: dict[str, dict[str, float]] = {
    "kyc_tier": {"none": 0.0, "basic": 1.0, "verified": 2.0, "enterprise": 3.0},
    "plan": {"free": 0.0, "payg": 1.0, "scale": 2.0, "enterprise": 3.0},
}


def encode(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Feature columns as a float matrix (booleans 0/1, ordinal strings ranked, nulls NaN),
    every value rounded to the nearest float32 (~7 significant digits).

    Why rounded: LightGBM's bin edges lie between distinct values, so a last-bit change in an
    input moves the trees and the threshold. The feature jobs sum exactly (``exact_sum``);
    this is the guard for noise from anywhere else. Rounding to 2^-24 relative makes such
    pairs equal (unless they straddle a rounding boundary: odds ~1e-8 per value) and keeps
    far more precision than 255 bins use."""
    columns = []
    for name in features:
        column = frame[name].map(ORDINALS[name]) if name in ORDINALS else frame[name]
        columns.append(column.astype("float64").to_numpy().astype("float32").astype("float64"))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def model_input(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The columns the signature declares: strings for the ordinals, float64 for the rest
    (a nullable count or flag reaches pandas as float or object; double accepts them all)."""
    return pd.DataFrame({name: frame[name] if name in ORDINALS else frame[name].astype("float64") for name in features})


class Scorer:
    """Booster margin -> sigmoid(a * margin + b): Platt scaling keeps the booster's ranking."""

    def __init__(self, booster: lgb.Booster, meta: dict[str, Any]) -> None:
        self.booster, self.meta = booster, meta
        self.features: list[str] = list(meta["features"])

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(encode(frame, self.features), raw_score=True), dtype="float64")

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        z = self.meta["platt_a"] * self.margin(frame) + self.meta["platt_b"]
        return 1.0 / (1.0 + np.exp(-z))

    def contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(encoded features, SHAP contribution of each to the margin): the reasons behind a score."""
        matrix = encode(frame, self.features)
        return matrix, np.asarray(self.booster.predict(matrix, pred_contrib=True), dtype="float64")[:, :-1]


class DistillationModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper; artifacts ``booster`` (LightGBM text) and ``meta`` (JSON)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        with open(context.artifacts["meta"], encoding="utf-8") as handle:
            meta = json.load(handle)
        self.scorer = Scorer(lgb.Booster(model_file=context.artifacts["booster"]), meta)

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.Series:
        return pd.Series(self.scorer.score(model_input), name="score")


mlflow.models.set_model(DistillationModel())
