"""Feature drift of today's scored population against the training set (PSI).

Bins are the training distribution's deciles; PSI = sum((p - q) * ln(p / q)) over bins,
with empty bins floored at a small share so one empty bin cannot make it infinite.
Above ``drift_warning_psi`` (0.2, the usual "significant shift") the run warns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

DRIFT_FEATURES = ("requests_28d", "spend_usd_28d", "intent_share_28d", "top_template_share_28d", "proxy_share_28d",
                  "hour_entropy_28d", "cluster_size")
FLOOR = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    p = np.maximum(expected / max(expected.sum(), 1), FLOOR)
    q = np.maximum(actual / max(actual.sum(), 1), FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def edges(values: pd.Series, bins: int) -> list[float]:
    """Inner bin edges: distinct training quantiles."""
    clean = values.dropna().astype("float64")
    return sorted(set(np.quantile(clean, np.linspace(0, 1, bins + 1)[1:-1]).tolist())) if len(clean) else []


def bin_counts(df: DataFrame, column: str, inner_edges: list[float]) -> np.ndarray:
    """Counts per bin of a Spark column (bin i = number of edges the value exceeds)."""
    index = sum((F.col(column) > F.lit(edge)).cast("int") for edge in inner_edges) if inner_edges else F.lit(0)
    counts = {r["bin"]: r["count"] for r in df.where(F.col(column).isNotNull())
              .groupBy(index.alias("bin")).count().collect()}
    return np.array([counts.get(i, 0) for i in range(len(inner_edges) + 1)], dtype="float64")


def drift(training: pd.DataFrame, scored: DataFrame, bins: int) -> dict[str, float]:
    """PSI per key feature present in both the training frame and the scored frame."""
    result = {}
    for name in DRIFT_FEATURES:
        if name not in training.columns or name not in scored.columns:
            continue
        inner = edges(training[name], bins)
        values = training[name].dropna().astype("float64").to_numpy()
        expected = np.bincount(np.searchsorted(inner, values, side="left"), minlength=len(inner) + 1)
        expected = expected.astype("float64")
        result[name] = psi(expected, bin_counts(scored, name, inner))
    return result
