"""Feature drift of today's scored population against the training set (PSI).

Bins are the training distribution's deciles; PSI = sum((p - q) * ln(p / q)) over bins,
with empty bins floored at a small share so one empty bin cannot make it infinite.
Above ``drift_warning_psi`` (0.2, the usual "significant shift") the run warns.

The training side is summarised once, when the model is trained: per drift feature, the
inner bin edges and the training rows' count in each bin (``reference``, a few hundred
bytes, logged as the ``REFERENCE_ARTIFACT`` of the training run). Scoring reads that
summary from the champion's run and counts the scored population into the same bins on
the engine (one small aggregate per feature), so it never reads the training set: the
PSI is the one the full training sample would give, bin for bin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

DRIFT_FEATURES = (
    "requests_28d",
    "spend_usd_28d",
    "intent_share_28d",
    "top_template_share_28d",
    "proxy_share_28d",
    "hour_entropy_28d",
    "cluster_size",
)
FLOOR = 1e-4
REFERENCE_ARTIFACT = "drift/reference.json"
REFERENCE_FORMAT = 1


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
    counts = {
        r["bin"]: r["count"] for r in df.where(F.col(column).isNotNull()).groupBy(index.alias("bin")).count().collect()
    }
    return np.array([counts.get(i, 0) for i in range(len(inner_edges) + 1)], dtype="float64")


def reference(training: pd.DataFrame, bins: int) -> dict[str, Any]:
    """The training side of the drift check, JSON-ready: edges and counts per drift feature."""
    features = {}
    for name in DRIFT_FEATURES:
        if name not in training.columns:
            continue
        inner = edges(training[name], bins)
        values = training[name].dropna().astype("float64").to_numpy()
        counts = np.bincount(np.searchsorted(inner, values, side="left"), minlength=len(inner) + 1)
        features[name] = {"edges": inner, "counts": [int(c) for c in counts]}
    return {"format": REFERENCE_FORMAT, "bins": bins, "rows": len(training), "features": features}


def drift(summary: dict[str, Any], scored: DataFrame) -> dict[str, float]:
    """PSI per feature present in both the training ``summary`` and the scored frame."""
    return {
        name: psi(np.asarray(ref["counts"], dtype="float64"), bin_counts(scored, name, ref["edges"]))
        for name, ref in summary["features"].items()
        if name in scored.columns
    }
