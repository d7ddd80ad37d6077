"""Evaluation pieces by hand: group bootstrap, leave-one-type-out, gate, days to detection."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from distillguard.config import TRAINING
from distillguard.models import backtest, bootstrap, evaluation, promotion
from tests.test_training_model import _training_frame


def test_bootstrap_resamples_whole_groups_within_strata() -> None:
    # Campaign A has 5 rows, B 1, C 2 (all positive); benign groups x, y, z one row each.
    groups = np.array(["A"] * 5 + ["B"] + ["C"] * 2 + ["x", "y", "z"])
    y = np.array([1] * 8 + [0] * 3)
    stratum = bootstrap.strata(groups, y)
    assert stratum.tolist() == [1] * 8 + [0] * 3
    for m in bootstrap.multiplicities(groups, stratum, samples=50, seed=1):
        per_group = {g: set(m[groups == g]) for g in np.unique(groups)}
        assert all(len(v) == 1 for v in per_group.values())  # a group's rows share one multiplicity
        drawn = {g: v.pop() for g, v in per_group.items()}
        assert drawn["A"] + drawn["B"] + drawn["C"] == 3 and drawn["x"] + drawn["y"] + drawn["z"] == 3
    # Recall where campaign A (5 rows) is all caught and B, C missed: by rows 5/8, by campaign
    # anything from 0 to 1. The interval spans the campaign uncertainty, not the row count.
    flagged = np.array([True] * 5 + [False] * 3 + [False] * 3)
    low, high = bootstrap.intervals(
        {"recall": lambda m: float((m * flagged * y).sum() / (m * y).sum())},
        groups,
        y,
        replace(TRAINING, bootstrap_samples=400),
    )["recall"]
    assert low == 0.0 and high == 1.0


def _typed_frame() -> tuple[pd.DataFrame, np.ndarray]:
    frame = _training_frame(n=240).assign(split="train", account_id=[f"a{i}" for i in range(240)])
    frame.loc[frame.index % 12 == 0, "split"] = "excluded"
    kinds = np.array(["hydra", "paraphraser", "bulk"], dtype=object)
    types = np.where(frame["label"] == 1, kinds[np.arange(240) % 3], None)
    return frame, types


def test_leave_one_type_out_never_trains_on_the_held_out_type() -> None:
    frame, types = _typed_frame()
    # A benign row in a hydra campaign group must leave training with it.
    hydra_group = frame.loc[types == "hydra", "group_id"].iloc[0]
    folds = list(evaluation.loo_folds(frame, types))
    assert [kind for kind, _, _ in folds] == ["bulk", "hydra", "paraphraser"]
    for kind, fit, held in folds:
        assert not (types[fit] == kind).any()
        assert not set(frame["group_id"][fit]) & set(frame["group_id"][types == kind])
        assert (types[held] == kind).all() and not (frame["split"][held] == "excluded").any()
        assert not (frame["split"][fit] == "excluded").any()
    hydra_fit = folds[1][1]
    assert not (frame["group_id"][hydra_fit] == hydra_group).any()
    table = evaluation.leave_one_type_out(
        frame, types, replace(TRAINING, inner_n_estimators=10, inner_cv_folds=2, target_fpr=0.05)
    )
    assert table["campaign_type"].tolist() == ["bulk", "hydra", "paraphraser"]
    assert table["accounts"].tolist() == [
        int(((types == k) & (frame["split"] != "excluded")).sum()) for k in ("bulk", "hydra", "paraphraser")
    ]
    assert table["recall"].between(0, 1).all()


GOOD = {
    "pr_auc": 0.80,
    "recall": 0.7,
    "benign_fpr": 0.0008,
    "n_positive": 10,
    "n_benign": 5,
    "n_unlabelled": 20,
    "calibration_error": 0.05,
    "score_std": 0.3,
}
BASE = {"pr_auc": 0.60}


def test_gate_refuses_a_pr_auc_win_that_misses_the_fpr_target() -> None:
    champion_rows = promotion.Comparison(
        rows=40,
        challenger_recall=0.9,
        challenger_recall_ci_low=0.8,
        champion_recall=0.7,
        challenger_pr_auc=0.95,
        champion_pr_auc=0.80,
    )
    noisy = promotion.Evidence(
        GOOD | {"pr_auc": 0.95, "benign_fpr": 0.004}, BASE, oof_fpr=0.0009, oof_reached=True, comparison=champion_rows
    )
    decision = promotion.decide(noisy, TRAINING)
    assert not decision.promote
    assert decision.reasons == ["benign FPR target missed on the holdout: 0.4000% > 0.1000%"]
    assert decision.checks["b_recall_vs_champion"].startswith("passed")
    # Out of fold missed too (no threshold within target flags a positive).
    assert not promotion.decide(replace(noisy, holdout=GOOD, oof_reached=False), TRAINING).promote
    # Same evidence with the target met is promoted; a recall lower bound under the champion's is not.
    assert promotion.decide(replace(noisy, holdout=GOOD), TRAINING).promote
    weak = replace(champion_rows, challenger_recall_ci_low=0.6)
    refused = promotion.decide(replace(noisy, holdout=GOOD, comparison=weak), TRAINING)
    assert not refused.promote and "recall lower bound 0.600" in refused.reason and "same 40 rows" in refused.reason
    # (c) a campaign type's leave-one-out recall falling by more than 0.10 blocks it.
    dropped = promotion.decide(
        replace(noisy, holdout=GOOD, loo={"hydra": 0.5, "bulk": 0.9}, champion_loo={"hydra": 0.65, "bulk": 0.9}),
        TRAINING,
    )
    assert not dropped.promote and dropped.reasons == [
        "leave-one-out recall of hydra falls 0.650 -> 0.500 (more than 0.1)"
    ]


def test_sanity_checks_block_even_the_first_champion() -> None:
    assert promotion.decide(promotion.Evidence(GOOD, BASE, 0.0005, True), TRAINING).promote
    bad = promotion.decide(
        promotion.Evidence(
            GOOD | {"n_benign": 0, "n_unlabelled": 0, "calibration_error": 0.3, "score_std": 0.0, "pr_auc": 0.5},
            BASE,
            0.0005,
            True,
        ),
        TRAINING,
    )
    assert not bad.promote and len(bad.reasons) == 4


def test_days_to_detection_on_two_campaigns() -> None:
    d = lambda n: date(2026, 11, n)  # noqa: E731
    campaigns = pd.DataFrame(
        {
            "account_id": ["a1", "a2", "b1"],
            "campaign_id": ["A", "A", "B"],
            "campaign_type": ["hydra", "hydra", "low_and_slow"],
        }
    )
    # A starts on the 3rd (a1) and a2 is flagged on the 5th: 2 days. B starts on the 4th, never flagged.
    first = pd.DataFrame({"account_id": ["a1", "a2", "b1", "n1"], "first_date": [d(3), d(4), d(4), d(1)]})
    flags = pd.DataFrame(
        {
            "account_id": ["a1", "a2", "a1", "a2", "b1", "n1", "b1", "n1"],
            "feature_date": [d(5), d(5), d(6), d(6), d(5), d(5), d(6), d(6)],
            "flagged": [False, True, True, True, False, True, False, False],
        }
    )
    per, summary = backtest.days_to_detection(flags, campaigns, first, replay_end=d(10), within=3)
    assert per[["campaign_id", "days_to_detection", "caught"]].values.tolist() == [["A", 2, True], ["B", 7, False]]
    assert per["first_flag"].tolist()[0] == d(5)
    # B is censored at the replay end + 1 (11th) - 4th = 7 days: p50 2, p90 7; caught within 3 days: A only.
    assert summary == {
        "days_to_detection_p50": 2.0,
        "days_to_detection_p90": 7.0,
        "caught_within_3d_share": 0.5,
        "backtest_campaigns": 2.0,
        "backtest_campaigns_caught": 1.0,
    }
    assert backtest.false_flags_per_day(flags, {"a1", "a2", "b1"}) == 0.5  # n1 once over two days


def test_population_weighted_fpr_and_recall_with_intervals() -> None:
    rows = pd.DataFrame(
        {"label": [1, 1, 0, 0, 0], "eval_weight": [1.0, 1.0, 1.0, 4.0, 4.0], "group_id": ["c1", "c2", "b1", "u1", "u2"]}
    )
    point = evaluation.operating_point(rows, np.array([0.9, 0.2, 0.1, 0.8, 0.3]), 0.5, TRAINING)
    # One of 9 live benign accounts-weight flagged: a sampled account standing for 4 -> 4/9.
    assert point["benign_fpr"] == pytest.approx(4 / 9) and point["recall_at_fpr"] == 0.5
    assert point["recall_at_fpr_ci_low"] == 0.0 and point["recall_at_fpr_ci_high"] == 1.0
    assert point["benign_fpr_ci_high"] == 1.0
