"""Single-feature ROC AUC of every model feature: which feature alone gives the answer away.

A feature that separates the classes alone on synthetic data (AUC near 0 or 1) is more
likely an artifact of the generator than a signal; logged with every training run so a
reviewer sees it next to the model's figures. Pure pandas in/out, no Spark, no MLflow.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

# Categorical features in their natural order (anything else: sorted category codes).
ORDINAL = {"kyc_tier": ("none", "basic", "verified", "enterprise"), "plan": ("free", "payg", "scale", "enterprise")}
AUDIT_COLUMNS = ("feature", "auc", "separation", "positives", "negatives", "missing_share")


def roc_auc(score: pd.Series, positive: pd.Series, weight: pd.Series | None = None) -> float:
    """Weighted Mann-Whitney ROC AUC, ties counting half; rows with a missing score are left out.

    NaN when either class is empty. > 0.5 means positives score higher.
    """
    frame = pd.DataFrame(
        {
            "s": pd.to_numeric(score, errors="coerce").to_numpy(dtype=float),
            "p": np.asarray(positive, dtype=bool),
            "w": 1.0 if weight is None else np.asarray(weight, dtype=float),
        }
    ).dropna()
    frame = frame[frame["w"] > 0]
    by_value = (
        frame.assign(wp=frame["w"].where(frame["p"], 0.0), wn=frame["w"].where(~frame["p"], 0.0))
        .groupby("s")[["wp", "wn"]]
        .sum()
        .sort_index()
    )
    total_p, total_n = by_value["wp"].sum(), by_value["wn"].sum()
    if total_p <= 0 or total_n <= 0:
        return float("nan")
    negatives_below = by_value["wn"].cumsum() - by_value["wn"]
    return float((by_value["wp"] * (negatives_below + 0.5 * by_value["wn"])).sum() / (total_p * total_n))


def _numeric(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    if values.name in ORDINAL:
        order = {name: i for i, name in enumerate(ORDINAL[str(values.name)])}
        return values.map(order).astype(float)
    codes = values.astype("category").cat.codes.astype(float)
    return codes.where(codes >= 0)


def feature_auc(frame: pd.DataFrame, label: str, columns: Iterable[str], weight: str | None = None) -> pd.DataFrame:
    """One row per feature: AUC of the feature alone for ``label`` (truthy = positive),
    ``separation`` = max(AUC, 1 - AUC), class counts and share of missing values; sorted by
    separation, most separating first. ``weight`` names an optional row-weight column."""
    positive = frame[label].astype(bool)
    weights = frame[weight] if weight else None
    rows = []
    for column in columns:
        values = _numeric(frame[column].rename(column))
        auc = roc_auc(values, positive, weights)
        rows.append(
            {
                "feature": column,
                "auc": auc,
                "separation": max(auc, 1.0 - auc) if auc == auc else auc,
                "positives": int((positive & values.notna()).sum()),
                "negatives": int((~positive & values.notna()).sum()),
                "missing_share": float(values.isna().mean()) if len(values) else float("nan"),
            }
        )
    table = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    return table.sort_values("separation", ascending=False, na_position="last").reset_index(drop=True)


def as_metrics(table: pd.DataFrame, prefix: str = "feature_auc") -> dict[str, float]:
    """``{prefix}_{feature}: auc`` for MLflow log_metrics (NaN features left out)."""
    return {f"{prefix}_{row.feature}": float(row.auc) for row in table.itertuples() if row.auc == row.auc}
