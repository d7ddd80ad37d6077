"""Distributed scoring with per-account reasons, via mapInPandas (never a driver collect).

The champion's LightGBM booster travels to the workers as its text dump with the model's
metadata; each partition rebuilds the registered ``Scorer`` once and computes the
calibrated score and the booster's SHAP contributions (``pred_contrib``). Top reasons are
the features pushing the score up most, with their values, in readable names.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

REASONS_TYPE = "array<struct<feature:string,value:double,contribution:double>>"
OUTPUT_SCHEMA = f"account_id string, score double, top_reasons {REASONS_TYPE}"


def _reasons(contributions: np.ndarray, values: np.ndarray, features: list[str], top: int) -> list[list[dict]]:
    order = np.argsort(-contributions, axis=1)[:, :top]
    return [[{"feature": features[j], "value": None if np.isnan(values[i, j]) else float(values[i, j]),
              "contribution": float(contributions[i, j])}
             for j in row if contributions[i, j] > 0] for i, row in enumerate(order)]


def scoring_function(booster_text: str, meta: dict[str, Any], top: int) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A mapInPandas function closing over the model (text + metadata, small to ship)."""

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import lightgbm as lgb

        from distillguard.models.scorer import Scorer, encode

        scorer = Scorer(lgb.Booster(model_str=booster_text), meta)
        for batch in batches:
            matrix = encode(batch, scorer.features)
            contributions = scorer.booster.predict(matrix, pred_contrib=True)[:, :-1]
            yield pd.DataFrame({"account_id": batch["account_id"], "score": scorer.score(batch),
                                "top_reasons": _reasons(contributions, matrix, scorer.features, top)})
    return score_batches


def score_accounts(features: DataFrame, booster_text: str, meta: dict[str, Any], top: int) -> DataFrame:
    """(account_id, score, top_reasons) for every row of ``features`` (model columns + account_id)."""
    return features.mapInPandas(scoring_function(booster_text, meta, top), OUTPUT_SCHEMA)
