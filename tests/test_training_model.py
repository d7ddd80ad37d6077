"""Classifier, baseline, metrics and promotion gate on tiny pandas data, values by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from distillguard.config import TRAINING
from distillguard.models import classifier, metrics
from distillguard.models.scorer import encode
from distillguard.models.training_set import FEATURE_COLUMNS


def test_threshold_keeps_the_population_weighted_benign_fpr_under_target() -> None:
    y, score = np.array([1, 0, 1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    # Negatives weigh 1 (cleared), 10 (a sampled account) and 989: 1000 live benign accounts.
    weight = np.array([1, 1, 1, 10, 1, 989])
    # FPR at >= 0.8 or 0.7: 1/1000; at >= 0.6: 11/1000. Target 0.1% -> 0.7 (recall 2/3); 1.1% -> 0.5 (recall 1).
    at_01 = classifier.choose_threshold(y, score, weight, 0.001)
    assert (at_01.value, at_01.reached, at_01.fpr, at_01.recall) == (0.7, True, 0.001, pytest.approx(2 / 3))
    # A sampled account counted once (weight 1 instead of 10) would hide 9 flagged live accounts.
    assert classifier.choose_threshold(y, score, np.array([1, 1, 1, 1, 1, 998]), 0.002).value == 0.5
    assert classifier.choose_threshold(y, score, weight, 0.011).value == 0.5
    # Ties move together: two rows at 0.9, one negative -> no threshold within 0 FPR flags a positive.
    tied = classifier.choose_threshold(np.array([1, 0, 1]), np.array([0.9, 0.9, 0.2]), np.ones(3), 0.0)
    assert not tied.reached and tied.value > 0.9 and tied.recall == 0.0


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{c: None for c in FEATURE_COLUMNS} | r for r in rows])


def test_baseline_is_the_share_of_red_flags() -> None:
    frame = _frame(
        [
            {"top_template_share_28d": 0.6, "intent_share_28d": 0.5},  # 2 of 8
            {
                "proxy_share_28d": 0.3,
                "hosting_share_28d": 0.3,
                "partner_payment_hit": True,
                "unverified_over_kyc_threshold": True,
                "projected_monthly_spend": 1000.0,
            },  # 4 of 8
            {},  # nulls raise nothing
        ]
    )
    assert classifier.baseline_score(frame).tolist() == [0.25, 0.5, 0.0]


def test_encode_ranks_ordinals_and_keeps_nulls() -> None:
    frame = _frame([{"kyc_tier": "verified", "plan": "free", "new_account": True, "cluster_size": 3}])
    row = dict(zip(FEATURE_COLUMNS, encode(frame, list(FEATURE_COLUMNS))[0]))
    assert (row["kyc_tier"], row["plan"], row["new_account"], row["cluster_size"]) == (2.0, 0.0, 1.0, 3.0)
    assert np.isnan(row["intent_share_28d"])


def test_metrics_by_hand() -> None:
    rows = pd.DataFrame(
        {
            "label": [1, 1, 1, 0, 0, 0],
            "label_name": ["distillation"] * 3 + ["benign", "benign", "unlabelled"],
            "source": [
                "red_team",
                "enforcement_review",
                "enforcement_review",
                "enforcement_review",
                "enforcement_review",
                "unlabelled_sample",
            ],
            "eval_weight": [1, 1, 1, 1, 1, 10.0],
            "account_id": list("abcdef"),
        }
    )
    score = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.8])
    m = metrics.evaluate(rows, score, threshold=0.5, k=2)
    # flagged: a, b (positives), d (benign), f (unlabelled, stands for 10 live accounts)
    assert m["recall"] == pytest.approx(2 / 3) and m["precision"] == pytest.approx(2 / 13)
    # Population-weighted benign FPR: (1 + 10) flagged of (1 + 1 + 10) live negatives.
    assert m["benign_fpr"] == pytest.approx(11 / 12) and m["population_negatives"] == 12
    assert (m["cleared_fpr"], m["unlabelled_flag_rate"], m["precision_at_2"]) == (0.5, 1.0, 0.5)
    assert (m["recall_red_team"], m["recall_enforcement_review"]) == (1.0, 0.5)
    # Weighted AP: ranks a(+) f(-, 10) d(-) b(+) c(+) e(-) -> 1*(1/3) + (2/13)*(1/3) + (3/14)*(1/3)
    assert m["pr_auc"] == pytest.approx((1 + 2 / 13 + 3 / 14) / 3)
    # Ties at the cut fill the queue at their average label: 0.9 (+), then one slot for two tied 0.5s (+, -).
    assert metrics.precision_at_k(np.array([1, 1, 0, 0]), np.array([0.9, 0.5, 0.5, 0.1]), 2) == 0.75
    assert m["n_positive"] == 3 and m["n_benign"] == 2 and m["n_unlabelled"] == 1
    # One score per bin: |y - s| = .1 (e), .8 (c), .4 (b), .7 (d), .8 (f, weight 10), .1 (a); total weight 15
    expected = (0.1 + 0.8 + 0.4 + 0.7 + 10 * 0.8 + 0.1) / 15
    assert metrics.calibration_error(rows["label"].to_numpy(), score, rows["eval_weight"].to_numpy()) == pytest.approx(
        expected
    )


def _training_frame(n: int = 240, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    signal = np.clip(np.where(y == 1, 0.65, 0.35) + rng.normal(0, 0.15, n), 0, 1)
    frame = _frame([{}] * n)
    frame["intent_share_28d"], frame["top_template_share_28d"] = signal, rng.random(n)
    frame["kyc_tier"], frame["plan"] = "basic", "payg"
    return frame.assign(
        label=y, weight=1.0, population_weight=1.0, last_day=True, group_id=[f"g{i % 40}" for i in range(n)]
    )


def test_classifier_is_calibrated_and_ranks() -> None:
    frame = _training_frame()
    model = classifier.train(frame, replace(TRAINING, n_estimators=40, target_fpr=0.05, suspend_fpr=0.01))
    assert model.scorer.meta["features"] == list(FEATURE_COLUMNS)
    fresh = _training_frame(seed=2)
    score = model.scorer.score(fresh)
    assert roc_auc_score(fresh["label"], score) > 0.9
    assert abs(score.mean() - fresh["label"].mean()) < 0.08  # calibrated: mean score ~ positive rate
    assert model.threshold.reached and model.threshold.fpr <= 0.05 and model.threshold.recall > 0.5
    assert model.suspend.value >= model.threshold.value and model.suspend.fpr <= 0.01
    assert model.oof_scores.shape == (len(frame),) and model.meta["threshold"] == model.threshold.value
    assert model.meta[classifier.SUSPEND_THRESHOLD] == model.suspend.value
