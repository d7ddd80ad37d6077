"""Held-out metrics at population weight, the same for the model, the rule baseline and the champion.

Evaluation rows: one row per account (``last_day``): the holdout's labelled (incident,
account) rows scored on the last day of their window, plus the sampled unlabelled accounts
of the holdout. Every figure is an estimate for the live population: a row weighs its
``population_weight`` (1 for a labelled account, 1 / sampling fraction for a sampled one;
models/training_set.py), never its training weight. So precision is precision at live
prevalence, and ``benign_fpr`` is the share of the live not-known-distilling accounts
(cleared plus unlabelled) that would be flagged. ``cleared_fpr`` is the same on the
investigated-and-cleared accounts alone (the hard negatives an analyst would be embarrassed
to flag again), unweighted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from distillguard.models.split import HOLDOUT
from distillguard.models.training_set import BENIGN, UNLABELLED

CALIBRATION_BINS = 10


def evaluation_rows(frame: pd.DataFrame, side: str = HOLDOUT) -> pd.DataFrame:
    """One row per account of ``side`` (its last window day), weighted for the population."""
    rows = frame[(frame["split"] == side) & frame["last_day"]].copy()
    rows["eval_weight"] = rows["population_weight"].astype(float)
    return rows.reset_index(drop=True)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def weighted_recall(y: np.ndarray, flagged: np.ndarray, weight: np.ndarray) -> float:
    positive = y == 1
    return _ratio(weight[flagged & positive].sum(), weight[positive].sum())


def weighted_fpr(y: np.ndarray, flagged: np.ndarray, weight: np.ndarray) -> float:
    """Population-weighted share of the negatives flagged."""
    negative = y == 0
    return _ratio(weight[flagged & negative].sum(), weight[negative].sum())


def weighted_pr_auc(y: np.ndarray, score: np.ndarray, weight: np.ndarray) -> float:
    both = (y == 1).any() and (y == 0).any() and weight[y == 1].sum() > 0 and weight[y == 0].sum() > 0
    return float(average_precision_score(y, score, sample_weight=weight)) if both else float("nan")


def calibration_error(y: np.ndarray, score: np.ndarray, weight: np.ndarray) -> float:
    """Weighted expected calibration error over equal-width score bins."""
    bins = np.minimum((score * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    total, error = weight.sum(), 0.0
    for b in np.unique(bins):
        inside = bins == b
        w = weight[inside].sum()
        error += (
            w
            / total
            * abs(np.average(y[inside], weights=weight[inside]) - np.average(score[inside], weights=weight[inside]))
        )
    return float(error)


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of true distillation among the k highest scores (a review queue of size k).
    Scores tied at the k-th place fill the remaining slots at their average label, so the
    value does not depend on row order (the rule baseline ties a lot)."""
    k = min(k, len(score))
    if k == 0:
        return float("nan")
    kth = np.sort(score)[::-1][k - 1]
    above, tied = score > kth, score == kth
    return float((y[above].sum() + (k - above.sum()) * y[tied].mean()) / k)


def evaluate(rows: pd.DataFrame, score: np.ndarray, threshold: float, k: int) -> dict[str, float]:
    """Metrics of one scorer on ``evaluation_rows``: PR-AUC, operating point, per source, @k."""
    y, w = rows["label"].to_numpy(dtype=int), rows["eval_weight"].to_numpy(dtype=float)
    flagged, positive = score >= threshold, y == 1
    benign = (rows["label_name"] == BENIGN).to_numpy()
    unlabelled = (rows["label_name"] == UNLABELLED).to_numpy()
    metrics = {
        "pr_auc": weighted_pr_auc(y, score, w),
        "threshold": float(threshold),
        "recall": weighted_recall(y, flagged, w),
        "precision": _ratio(w[flagged & positive].sum(), w[flagged].sum()),
        "benign_fpr": weighted_fpr(y, flagged, w),
        "cleared_fpr": _ratio((flagged & benign).sum(), benign.sum()),
        "unlabelled_flag_rate": _ratio((flagged & unlabelled).sum(), unlabelled.sum()),
        f"precision_at_{k}": precision_at_k(y, score, k),
        "calibration_error": calibration_error(y, score, w),
        "score_std": float(np.std(score)),
        "n_positive": float(positive.sum()),
        "n_benign": float(benign.sum()),
        "n_unlabelled": float(unlabelled.sum()),
        "population_negatives": float(w[~positive].sum()),
    }
    sources = rows["source"].to_numpy()
    for source in sorted(set(sources[positive])):
        of_source = positive & (sources == source)
        metrics[f"recall_{source}"] = _ratio((flagged & of_source).sum(), of_source.sum())
    return metrics
