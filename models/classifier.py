"""Gradient-boosted trees with calibrated probabilities, and the rule baseline they must beat.

LightGBM rather than XGBoost: it is already a dependency here, trains in well under a
second on a few thousand rows on 2 cores, handles the many null rates (no prompts, no
requests in a window) natively, takes sample weights, and saves as plain text that
the pyfunc (models/scorer.py) loads without pickles.

Calibration: out-of-fold margins from a ``GroupKFold`` over the training side (groups =
campaign groups of models/split.py, so a fold never scores a campaign it trained on) fit a
Platt sigmoid on one row per account at population weight (so a score is a probability at
live prevalence); the final booster is then trained on the whole training side. Platt rather
than isotonic: with a few hundred labelled accounts isotonic steps overfit and create ties
that blur the ranking.

Operating points are benign false-positive rates, not precisions: precision moves with
prevalence, which changes with every campaign, while the cost enforcement controls is how
many legitimate accounts get flagged. Each threshold is the lowest score whose
*population-weighted* benign FPR on the out-of-fold probabilities (one row per account,
``last_day``, weighted by ``population_weight``; never the holdout) stays at or under its
target, which maximises recall under that FPR: ``threshold`` for review
(``TrainingSettings.target_fpr``, 0.1%) and ``suspend_threshold`` for suspension
(``suspend_fpr``, 0.01%). Both travel in the model's metadata, where scoring reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from distillguard.config import TRAINING, TrainingSettings
from distillguard.errors import DistillguardError
from distillguard.models.scorer import Scorer, encode
from distillguard.models.training_set import FEATURE_COLUMNS

SUSPEND_THRESHOLD = "suspend_threshold"
"""Metadata key (and model version tag) of the suspend tier's threshold; ``threshold`` is review's."""


@dataclass(frozen=True)
class Threshold:
    value: float
    target_fpr: float
    reached: bool
    fpr: float
    recall: float


@dataclass
class TrainedModel:
    scorer: Scorer
    threshold: Threshold
    suspend: Threshold
    oof_scores: np.ndarray

    @property
    def meta(self) -> dict:
        return {
            **self.scorer.meta,
            "threshold": self.threshold.value,
            "target_fpr": self.threshold.target_fpr,
            SUSPEND_THRESHOLD: self.suspend.value,
            "suspend_fpr": self.suspend.target_fpr,
        }


def fpr_curve(y: np.ndarray, score: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct thresholds (descending) with the weighted benign FPR and recall of ``score >= t``."""
    order = np.argsort(-score, kind="mergesort")
    s, y, w = score[order], y[order].astype(float), weight[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp, fp = np.cumsum(w * y)[last], np.cumsum(w * (1 - y))[last]
    return s[last], fp / max(fp[-1], 1e-300), tp / max(tp[-1], 1e-300)


def choose_threshold(y: np.ndarray, score: np.ndarray, weight: np.ndarray, target_fpr: float) -> Threshold:
    """The lowest threshold whose weighted benign FPR is <= ``target_fpr`` (maximum recall
    under it). ``reached`` is False when no threshold flags a positive within the target;
    the value then flags nobody."""
    thresholds, fpr, recall = fpr_curve(y, score, weight)
    within = np.flatnonzero(fpr <= target_fpr * (1 + 1e-9))
    if within.size == 0:
        return Threshold(float(np.nextafter(thresholds[0], np.inf)), target_fpr, False, 0.0, 0.0)
    index = int(within[-1])
    return Threshold(
        float(thresholds[index]), target_fpr, bool(recall[index] > 0), float(fpr[index]), float(recall[index])
    )


def operating_rows(frame: pd.DataFrame) -> np.ndarray:
    """One row per account (its ``last_day``): the rows thresholds and metrics are measured on."""
    return frame["last_day"].to_numpy(dtype=bool)


def _params(settings: TrainingSettings) -> dict:
    return {
        "objective": "binary",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": settings.min_child_samples,
        "feature_fraction": 0.8,
        "lambda_l2": 1.0,
        "seed": settings.sample_seed,
        "deterministic": True,
        "num_threads": 2,
        "verbose": -1,
    }


def _booster(x: np.ndarray, y: np.ndarray, w: np.ndarray, settings: TrainingSettings) -> lgb.Booster:
    data = lgb.Dataset(x, y, weight=w, feature_name=list(FEATURE_COLUMNS), free_raw_data=False)
    return lgb.train(_params(settings), data, num_boost_round=settings.n_estimators)


def train(frame: pd.DataFrame, settings: TrainingSettings = TRAINING) -> TrainedModel:
    """Fit on the training side (columns: features, label, weight, population_weight,
    last_day, group_id); thresholds from its out-of-fold scores."""
    x, y = encode(frame, list(FEATURE_COLUMNS)), frame["label"].to_numpy(dtype=int)
    w, groups = frame["weight"].to_numpy(dtype=float), frame["group_id"].to_numpy()
    folds = min(settings.cv_folds, len(np.unique(groups)))
    if folds < 2 or len(np.unique(y)) < 2:
        raise DistillguardError(f"cannot calibrate: {len(np.unique(groups))} group(s), classes {sorted(set(y))}")
    margins = np.zeros(len(y))
    for fit_rows, score_rows in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(np.unique(y[fit_rows])) < 2:
            raise DistillguardError("a calibration fold has one class only; add labels or lower cv_folds")
        margins[score_rows] = _booster(x[fit_rows], y[fit_rows], w[fit_rows], settings).predict(
            x[score_rows], raw_score=True
        )
    # Platt on one row per account at population weight: scores are probabilities at live
    # prevalence (the training weights only shape the booster).
    rows, population = operating_rows(frame), frame["population_weight"].to_numpy(dtype=float)
    platt = LogisticRegression(C=1e4).fit(margins[rows].reshape(-1, 1), y[rows], sample_weight=population[rows])
    a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    oof = 1.0 / (1.0 + np.exp(-(a * margins + b)))
    review, suspend = (
        choose_threshold(y[rows], oof[rows], population[rows], target)
        for target in (settings.target_fpr, settings.suspend_fpr)
    )
    scorer = Scorer(_booster(x, y, w, settings), {"features": list(FEATURE_COLUMNS), "platt_a": a, "platt_b": b})
    return TrainedModel(scorer, review, suspend, oof)


def _num(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name].astype("float64")


BASELINE_RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "heavy spend (projected >= $1,000/month)": lambda f: _num(f, "projected_monthly_spend") >= 1000,
    "campaign-scale cluster spend (>= $5,000 in 28d)": lambda f: _num(f, "cluster_spend_28d") >= 5000,
    "template reuse (top template >= 50% of prompts)": lambda f: _num(f, "top_template_share_28d") >= 0.5,
    "proxy or hosting egress (>= 50% of requests)": lambda f: (
        _num(f, "proxy_share_28d").fillna(0) + _num(f, "hosting_share_28d").fillna(0) >= 0.5
    ),
    "extraction intent (>= 30% of scored prompts)": lambda f: _num(f, "intent_share_28d") >= 0.3,
    "hits max_tokens (>= 30% of requests)": lambda f: _num(f, "max_tokens_hit_share_28d") >= 0.3,
    "unverified above the KYC review threshold": lambda f: _num(f, "unverified_over_kyc_threshold") == 1,
    "partner-lab indicator hit": lambda f: (
        (_num(f, "partner_payment_hit") == 1)
        | (_num(f, "partner_prefix_share_28d") > 0)
        | (_num(f, "partner_template_share_28d") > 0)
    ),
}
"""The rule baseline, as an analyst would triage without a model: the share of these
red flags an account raises (a null input raises none). Thresholds are round numbers from
the threat model (volume, template reuse, proxies, CoT extraction), not fitted; only its
operating threshold is chosen, like the model's, on the training side."""


def baseline_score(frame: pd.DataFrame) -> np.ndarray:
    """Share of ``BASELINE_RULES`` the row raises, in [0, 1]."""
    fired = [rule(frame).to_numpy(dtype=bool) for rule in BASELINE_RULES.values()]
    return np.mean(np.column_stack(fired), axis=1)


def baseline_threshold(frame: pd.DataFrame, settings: TrainingSettings = TRAINING) -> Threshold:
    rows = operating_rows(frame)
    return choose_threshold(
        frame["label"].to_numpy(dtype=int)[rows],
        baseline_score(frame)[rows],
        frame["population_weight"].to_numpy(dtype=float)[rows],
        settings.target_fpr,
    )
