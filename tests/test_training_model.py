"""Classifier, baseline, metrics and promotion gate on tiny pandas data, values by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from distillguard.config import TRAINING
from distillguard.models import classifier, metrics, promotion
from distillguard.models.scorer import encode
from distillguard.models.training_set import FEATURE_COLUMNS


def test_threshold_maximises_recall_at_target_precision() -> None:
    y, score = np.array([1, 1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    at_95 = classifier.choose_threshold(y, score, np.ones(5), 0.95)
    assert (at_95.value, at_95.reached, at_95.train_precision, at_95.train_recall) == (0.8, True, 1.0, pytest.approx(2 / 3))
    assert classifier.choose_threshold(y, score, np.ones(5), 0.7).value == 0.6  # 3 of 4 flagged are right
    # A light negative at 0.7 (weight 0.1): 3 / 3.1 = 0.968 precision at 0.6 reaches 0.95.
    assert classifier.choose_threshold(y, score, np.array([1, 1, 0.1, 1, 1]), 0.95).value == 0.6
    missed = classifier.choose_threshold(np.array([0, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]), np.ones(4), 0.95)
    assert (missed.reached, missed.value, missed.train_precision) == (False, 0.6, 0.5)


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{c: None for c in FEATURE_COLUMNS} | r for r in rows])


def test_baseline_is_the_share_of_red_flags() -> None:
    frame = _frame([
        {"top_template_share_28d": 0.6, "intent_share_28d": 0.5},              # 2 of 8
        {"proxy_share_28d": 0.3, "hosting_share_28d": 0.3, "partner_payment_hit": True,
         "unverified_over_kyc_threshold": True, "projected_monthly_spend": 1000.0},  # 4 of 8
        {},                                                                  # nulls raise nothing
    ])
    assert classifier.baseline_score(frame).tolist() == [0.25, 0.5, 0.0]


def test_encode_ranks_ordinals_and_keeps_nulls() -> None:
    frame = _frame([{"kyc_tier": "verified", "plan": "free", "new_account": True, "cluster_size": 3}])
    row = dict(zip(FEATURE_COLUMNS, encode(frame, list(FEATURE_COLUMNS))[0]))
    assert (row["kyc_tier"], row["plan"], row["new_account"], row["cluster_size"]) == (2.0, 0.0, 1.0, 3.0)
    assert np.isnan(row["intent_share_28d"])


def test_metrics_by_hand() -> None:
    rows = pd.DataFrame({
        "label": [1, 1, 1, 0, 0, 0], "label_name": ["distillation"] * 3 + ["benign", "benign", "unlabelled"],
        "source": ["red_team", "enforcement_review", "enforcement_review", "enforcement_review",
                   "enforcement_review", "unlabelled_sample"],
        "eval_weight": [1, 1, 1, 1, 1, 0.5], "account_id": list("abcdef")})
    score = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.8])
    m = metrics.evaluate(rows, score, threshold=0.5, k=2)
    # flagged: a, b (positives), d (benign), f (unlabelled, weight 0.5)
    assert m["recall"] == pytest.approx(2 / 3) and m["precision"] == pytest.approx(2 / 3.5)
    assert (m["benign_fpr"], m["unlabelled_flag_rate"], m["precision_at_2"]) == (0.5, 1.0, 0.5)
    assert (m["recall_red_team"], m["recall_enforcement_review"]) == (1.0, 0.5)
    # Weighted AP: ranks a(+) f(-, .5) d(-) b(+) c(+) e(-) -> 1*(1/3) + (2/3.5)*(1/3) + (3/4.5)*(1/3)
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3.5 + 3 / 4.5) / 3)
    # Ties at the cut fill the queue at their average label: 0.9 (+), then one slot for two tied 0.5s (+, -).
    assert metrics.precision_at_k(np.array([1, 1, 0, 0]), np.array([0.9, 0.5, 0.5, 0.1]), 2) == 0.75
    assert m["n_positive"] == 3 and m["n_benign"] == 2 and m["n_unlabelled"] == 1
    # One score per bin: |y - s| = .1 (e), .8 (c), .4 (b), .7 (d), .8 (f, weight .5), .1 (a); total weight 5.5
    w = np.array([1, 1, 1, 1, 1, 0.5])
    expected = (0.1 + 0.8 + 0.4 + 0.7 + 0.5 * 0.8 + 0.1) / 5.5
    assert metrics.calibration_error(rows["label"].to_numpy(), score, w) == pytest.approx(expected)


def _training_frame(n: int = 240, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    signal = np.clip(np.where(y == 1, 0.65, 0.35) + rng.normal(0, 0.15, n), 0, 1)
    frame = _frame([{}] * n)
    frame["intent_share_28d"], frame["top_template_share_28d"] = signal, rng.random(n)
    frame["kyc_tier"], frame["plan"] = "basic", "payg"
    return frame.assign(label=y, weight=1.0, group_id=[f"g{i % 40}" for i in range(n)])


def test_classifier_is_calibrated_and_ranks() -> None:
    frame = _training_frame()
    model = classifier.train(frame, replace(TRAINING, n_estimators=40, target_precision=0.9))
    assert model.scorer.meta["features"] == list(FEATURE_COLUMNS)
    fresh = _training_frame(seed=2)
    score = model.scorer.score(fresh)
    assert roc_auc_score(fresh["label"], score) > 0.9
    assert abs(score.mean() - fresh["label"].mean()) < 0.08  # calibrated: mean score ~ positive rate
    assert model.threshold.reached and model.threshold.train_precision >= 0.9
    assert model.oof_scores.shape == (len(frame),) and model.meta["threshold"] == model.threshold.value


GOOD = {"pr_auc": 0.80, "n_positive": 10, "n_benign": 5, "n_unlabelled": 20, "calibration_error": 0.05,
        "score_std": 0.3}
BASE = {"pr_auc": 0.60}


def test_a_worse_challenger_is_not_promoted() -> None:
    worse = promotion.decide(GOOD | {"pr_auc": 0.78}, BASE, (GOOD | {"pr_auc": 0.78}, GOOD))
    assert not worse.promote and "does not beat the champion" in worse.reason and "pr_auc" in worse.reason
    # Better, but not by the margin (0.01): still not promoted.
    assert not promotion.decide(GOOD, BASE, (GOOD | {"pr_auc": 0.805}, GOOD)).promote
    better = promotion.decide(GOOD, BASE, (GOOD | {"pr_auc": 0.85}, GOOD))
    assert better.promote and "beats champion PR-AUC 0.8000 -> 0.8500" in better.reason


def test_sanity_checks_block_even_the_first_champion() -> None:
    assert promotion.decide(GOOD, BASE, None).promote
    bad = promotion.decide(GOOD | {"n_benign": 0, "n_unlabelled": 0, "calibration_error": 0.3, "score_std": 0.0,
                                   "pr_auc": 0.5}, BASE, None)
    assert not bad.promote and len(bad.reasons) == 4
    assert ["empty class", "below the rule baseline", "calibration error", "degenerate"] == [
        next(key for key in ("empty class", "below the rule baseline", "calibration error", "degenerate") if key in r)
        for r in bad.reasons]


def test_archetype_metrics_read_only_the_truth_file_given(tmp_path) -> None:
    truth = tmp_path / "accounts.parquet"
    pd.DataFrame({"account_id": ["h1", "h2", "h3", "p1", "e1", "e2"],
                  "archetype": ["hydra", "hydra", "hydra", "paraphraser", "eval_lab", "eval_lab"],
                  "is_attack": [True, True, True, True, False, False], "campaign_id": [1, 1, 1, 2, -1, -1],
                  "created_day": 0}).to_parquet(truth)
    holdout = pd.DataFrame({"account_id": ["p1", "e1"], "label": [1, 0]})
    population = pd.DataFrame({"account_id": ["h1", "h2", "h3", "p1", "e1", "e2"]})
    # h1 was trained on: campaign 1 is seen, so only p1 and the eval labs are "population".
    m = metrics.synthetic_truth_metrics(truth, holdout, np.array([True, True]), population,
                                        np.array([True, False, True, False, False, True]), {"h1"})
    assert (m["holdout_recall_paraphraser"], m["holdout_fpr_eval_lab"], m["holdout_n_hydra"]) == (1.0, 1.0, 0.0)
    assert (m["population_n_hydra"], m["population_recall_paraphraser"], m["population_fpr_eval_lab"]) == (0.0, 0.0, 0.5)
    assert (m["unnamed_n_hydra"], m["unnamed_recall_hydra"]) == (2.0, 0.5)
