"""Held-out metrics, the same for the model, the rule baseline and the champion.

Evaluation rows: the holdout's ``last_day`` rows, one per (incident, account) scored on
the last day of its labelled window, plus the sampled unlabelled accounts of the holdout.
Labelled rows weigh 1, unlabelled ones their sampling weight (training_set.py), so
precision-type metrics see the assumed-benign population at the weight training gave it.

Benign FPR is measured on investigated-and-cleared accounts only (the hard negatives an
analyst would be embarrassed to flag again); the unlabelled flag rate is reported apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from distillguard.models.split import HOLDOUT
from distillguard.models.training_set import BENIGN, UNLABELLED

ATTACK_ARCHETYPES = ("hydra", "bulk_single", "cot_elicitation", "capability_harvest", "low_and_slow",
                     "cross_lab_split", "paraphraser")
HARD_NEGATIVE_ARCHETYPE = "eval_lab"
CALIBRATION_BINS = 10


def evaluation_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Holdout rows scored at the end of their window, with their evaluation weight."""
    rows = frame[(frame["split"] == HOLDOUT) & frame["last_day"]].copy()
    rows["eval_weight"] = np.where(rows["label_name"] == UNLABELLED, rows["weight"], 1.0)
    return rows.reset_index(drop=True)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def calibration_error(y: np.ndarray, score: np.ndarray, weight: np.ndarray) -> float:
    """Weighted expected calibration error over equal-width score bins."""
    bins = np.minimum((score * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    total, error = weight.sum(), 0.0
    for b in np.unique(bins):
        inside = bins == b
        w = weight[inside].sum()
        error += w / total * abs(np.average(y[inside], weights=weight[inside])
                                 - np.average(score[inside], weights=weight[inside]))
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
    both = positive.any() and (~positive).any()
    metrics = {
        "pr_auc": float(average_precision_score(y, score, sample_weight=w)) if both else float("nan"),
        "threshold": float(threshold),
        "recall": _ratio(w[flagged & positive].sum(), w[positive].sum()),
        "precision": _ratio(w[flagged & positive].sum(), w[flagged].sum()),
        "benign_fpr": _ratio((flagged & benign).sum(), benign.sum()),
        "unlabelled_flag_rate": _ratio((flagged & unlabelled).sum(), unlabelled.sum()),
        f"precision_at_{k}": precision_at_k(y, score, k),
        "calibration_error": calibration_error(y, score, w),
        "score_std": float(np.std(score)),
        "n_positive": float(positive.sum()), "n_benign": float(benign.sum()), "n_unlabelled": float(unlabelled.sum()),
    }
    sources = rows["source"].to_numpy()
    for source in sorted(set(sources[positive])):
        of_source = positive & (sources == source)
        metrics[f"recall_{source}"] = _ratio((flagged & of_source).sum(), of_source.sum())
    return metrics


def synthetic_truth_metrics(truth_path: Path, holdout: pd.DataFrame, holdout_flagged: np.ndarray,
                            population: pd.DataFrame, population_flagged: np.ndarray,
                            trained_accounts: set[str]) -> dict[str, float]:
    """EVALUATION ONLY, synthetic data: the one place that reads the ground truth.

    ``holdout_*``: per-archetype recall on the held-out distillation incidents and FPR on
    held-out eval-lab accounts. ``population_*``: every account with features on the
    as_of day whose campaign had no account in the training rows (truth campaign ids are
    used only here), so archetypes the labels never reach are measured too. ``unnamed_*``:
    every account on the as_of day that is in no training row, its campaign seen or not:
    the accounts an incident did not name (optimistic for seen campaigns, and reported
    as such, but it is the job the scorer does on known campaigns).
    """
    truth = pd.read_parquet(truth_path, columns=["account_id", "archetype", "is_attack", "campaign_id"])
    metrics: dict[str, float] = {}
    held = holdout[["account_id", "label"]].assign(flagged=holdout_flagged).merge(truth, on="account_id")
    seen_campaigns = set(truth.loc[truth["account_id"].isin(trained_accounts) & truth["is_attack"], "campaign_id"])
    pop = population[["account_id"]].assign(flagged=population_flagged).merge(truth, on="account_id")
    unnamed = pop[~pop["account_id"].isin(trained_accounts)]
    pop = unnamed[~unnamed["campaign_id"].isin(seen_campaigns)]
    for prefix, frame, attack in (("holdout", held, held["label"] == 1), ("population", pop, pop["is_attack"]),
                                  ("unnamed", unnamed, unnamed["is_attack"])):
        for archetype in ATTACK_ARCHETYPES:
            of_type = frame[attack & (frame["archetype"] == archetype)]
            metrics[f"{prefix}_recall_{archetype}"] = _ratio(of_type["flagged"].sum(), len(of_type))
            metrics[f"{prefix}_n_{archetype}"] = float(len(of_type))
        hard = frame[~attack & (frame["archetype"] == HARD_NEGATIVE_ARCHETYPE)]
        metrics[f"{prefix}_fpr_{HARD_NEGATIVE_ARCHETYPE}"] = _ratio(hard["flagged"].sum(), len(hard))
        metrics[f"{prefix}_n_{HARD_NEGATIVE_ARCHETYPE}"] = float(len(hard))
        benign = frame[~frame["is_attack"]]
        metrics[f"{prefix}_fpr_all_benign"] = _ratio(benign["flagged"].sum(), len(benign))
    return metrics
