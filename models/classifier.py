"""Gradient-boosted trees with calibrated probabilities, and the rule baseline they must beat.

LightGBM rather than XGBoost: it is already a dependency here, trains in well under a
second on a few thousand rows on 2 cores, handles the many null rates (no prompts, no
requests in a window) natively, takes sample weights, and saves as plain text that
the pyfunc (models/scorer.py) loads without pickles.

Calibration: out-of-fold margins from a ``GroupKFold`` over the training side (groups =
campaign groups of models/split.py, so a fold never scores a campaign it trained on) fit a
Platt sigmoid; the final booster is then trained on the whole training side. Platt rather
than isotonic: with a few hundred labelled accounts isotonic steps overfit and create ties
that blur the ranking. The operating threshold is chosen on the same out-of-fold
probabilities (never on the holdout), as the lowest score whose weighted precision reaches
the target, which maximises recall under that precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import GroupKFold

from distillguard.config import TRAINING, TrainingSettings
from distillguard.errors import DistillguardError
from distillguard.models.scorer import Scorer, encode
from distillguard.models.training_set import FEATURE_COLUMNS


@dataclass(frozen=True)
class Threshold:
    value: float
    target_precision: float
    reached: bool
    train_precision: float
    train_recall: float


@dataclass
class TrainedModel:
    scorer: Scorer
    threshold: Threshold
    oof_scores: np.ndarray

    @property
    def meta(self) -> dict:
        return {**self.scorer.meta, "threshold": self.threshold.value,
                "target_precision": self.threshold.target_precision}


def choose_threshold(y: np.ndarray, score: np.ndarray, weight: np.ndarray, target_precision: float) -> Threshold:
    """Maximum recall at weighted precision >= target; else the most precise threshold
    (``reached`` False, so the run says the target was missed)."""
    precision, recall, thresholds = precision_recall_curve(y, score, sample_weight=weight)
    precision, recall = precision[:-1], recall[:-1]
    meets = np.flatnonzero(precision >= target_precision)
    reached = meets.size > 0
    index = int(meets[np.argmax(recall[meets])]) if reached else int(np.flatnonzero(precision == precision.max())[0])
    return Threshold(float(thresholds[index]), target_precision, bool(reached),
                     float(precision[index]), float(recall[index]))


def _params(settings: TrainingSettings) -> dict:
    return {"objective": "binary", "learning_rate": settings.learning_rate, "num_leaves": settings.num_leaves,
            "min_data_in_leaf": settings.min_child_samples, "feature_fraction": 0.8, "lambda_l2": 1.0,
            "seed": settings.sample_seed, "deterministic": True, "num_threads": 2, "verbose": -1}


def _booster(x: np.ndarray, y: np.ndarray, w: np.ndarray, settings: TrainingSettings) -> lgb.Booster:
    data = lgb.Dataset(x, y, weight=w, feature_name=list(FEATURE_COLUMNS), free_raw_data=False)
    return lgb.train(_params(settings), data, num_boost_round=settings.n_estimators)


def train(frame: pd.DataFrame, settings: TrainingSettings = TRAINING) -> TrainedModel:
    """Fit on the training side (columns: features, label, weight, group_id)."""
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
            x[score_rows], raw_score=True)
    platt = LogisticRegression(C=1e4).fit(margins.reshape(-1, 1), y, sample_weight=w)
    a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    oof = 1.0 / (1.0 + np.exp(-(a * margins + b)))
    threshold = choose_threshold(y, oof, w, settings.target_precision)
    scorer = Scorer(_booster(x, y, w, settings), {"features": list(FEATURE_COLUMNS), "platt_a": a, "platt_b": b})
    return TrainedModel(scorer, threshold, oof)


def _num(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name].astype("float64")


BASELINE_RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "heavy spend (projected >= $1,000/month)": lambda f: _num(f, "projected_monthly_spend") >= 1000,
    "campaign-scale cluster spend (>= $5,000 in 28d)": lambda f: _num(f, "cluster_spend_28d") >= 5000,
    "template reuse (top template >= 50% of prompts)": lambda f: _num(f, "top_template_share_28d") >= 0.5,
    "proxy or hosting egress (>= 50% of requests)":
        lambda f: _num(f, "proxy_share_28d").fillna(0) + _num(f, "hosting_share_28d").fillna(0) >= 0.5,
    "extraction intent (>= 30% of scored prompts)": lambda f: _num(f, "intent_share_28d") >= 0.3,
    "hits max_tokens (>= 30% of requests)": lambda f: _num(f, "max_tokens_hit_share_28d") >= 0.3,
    "unverified above the KYC review threshold": lambda f: _num(f, "unverified_over_kyc_threshold") == 1,
    "partner-lab indicator hit": lambda f: ((_num(f, "partner_payment_hit") == 1)
                                            | (_num(f, "partner_prefix_share_28d") > 0)
                                            | (_num(f, "partner_template_share_28d") > 0)),
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
    return choose_threshold(frame["label"].to_numpy(dtype=int), baseline_score(frame),
                            frame["weight"].to_numpy(dtype=float), settings.target_precision)
