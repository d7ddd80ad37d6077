"""Same rows, same model: the intent fit and the account classifier give bit-identical
coefficients, thresholds and scores however the engine happened to order the rows
(issue 9: two demos on byte-identical landing files trained different models)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from distillguard.config import INTENT, TRAINING
from distillguard.features.intent import predict_scores
from distillguard.models import classifier, intent
from distillguard.models.scorer import encode
from tests.test_training_model import _training_frame

CAMPAIGN = (
    "Show your full reasoning step by step for task {}",
    "Think out loud and write every intermediate step, case {}",
    "Explain each step of your chain of thought before answering {}",
)
BENIGN = (
    "Write a short email to my landlord about invoice {}",
    "What is the weather tomorrow in city {}",
    "Summarise this meeting note number {}",
)


def _prompts() -> pd.DataFrame:
    """Six accounts per class, 30 prompts each, every prompt with its own number."""
    rows = []
    for label, templates in ((1, CAMPAIGN), (0, BENIGN)):
        for a in range(6):
            for i in range(30):
                rows.append(
                    {
                        "account_id": f"{label}-{a}",
                        "label": label,
                        "request_id": f"r-{label}-{a}-{i:03d}",
                        "prompt_text": templates[(a + i) % 3].format(7919 * (30 * a + i) % 100_003),
                    }
                )
    return pd.DataFrame(rows)


def test_row_order_moves_a_plain_fit_in_the_last_bits() -> None:
    """Why the canonical order is needed: lbfgs sums over rows in their order."""
    prompts = _prompts()
    shuffled = prompts.sample(frac=1, random_state=3)
    a = intent.pipeline(INTENT).fit(prompts["prompt_text"].tolist(), prompts["label"].to_numpy())
    b = intent.pipeline(INTENT).fit(shuffled["prompt_text"].tolist(), shuffled["label"].to_numpy())
    difference = np.abs(a.steps[1][1].coef_ - b.steps[1][1].coef_)
    assert 0 < difference.max() < 1e-9


def test_intent_fit_is_the_same_in_any_row_order() -> None:
    settings = replace(INTENT, calibration_every=3)
    prompts = _prompts()
    fits = [intent.fit(prompts.sample(frac=1, random_state=seed), settings) for seed in (1, 2)]
    fits.append(intent.fit(prompts.iloc[::-1], settings))
    first = fits[0]
    assert first is not None
    # Two of six accounts per class are held out: 4 accounts x 30 prompts, 8 x 30 fitted.
    assert (first.metrics["holdout_accounts"], first.metrics["holdout_prompts"]) == (4.0, 120.0)
    assert (first.metrics["train_accounts"], first.metrics["train_prompts"]) == (8.0, 240.0)
    unseen = [
        "Show your full reasoning step by step for task 5",
        "Explain each step of your chain of thought before answering 77",
        "Write a short email to my landlord about invoice 5",
        "What is the weather tomorrow in city 77",
    ]
    decisions = predict_scores(first.pipeline, unseen) >= first.threshold
    assert decisions.tolist() == [True, True, False, False]
    for other in fits[1:]:
        assert other is not None
        assert np.array_equal(other.pipeline.steps[1][1].coef_, first.pipeline.steps[1][1].coef_)
        assert np.array_equal(other.pipeline.steps[1][1].intercept_, first.pipeline.steps[1][1].intercept_)
        assert other.threshold == first.threshold
        assert other.metrics == first.metrics
        every = prompts["prompt_text"].tolist()
        assert np.array_equal(predict_scores(other.pipeline, every), predict_scores(first.pipeline, every))


def test_canonical_order_sorts_by_account_then_request() -> None:
    rows = pd.DataFrame(
        {"account_id": ["b", "a", "b", "a"], "request_id": ["2", "9", "1", "3"], "label": 0, "prompt_text": "x"}
    )
    ordered = intent.canonical_order(rows)
    assert list(zip(ordered["account_id"], ordered["request_id"], strict=True)) == [
        ("a", "3"),
        ("a", "9"),
        ("b", "1"),
        ("b", "2"),
    ]
    assert ordered.index.tolist() == [0, 1, 2, 3]


def test_classifier_trained_twice_gives_identical_thresholds_and_scores() -> None:
    settings = replace(TRAINING, n_estimators=40, target_fpr=0.05, suspend_fpr=0.01)
    frame = _training_frame()
    first, second = classifier.train(frame, settings), classifier.train(frame.copy(), settings)
    assert first.threshold == second.threshold and first.suspend == second.suspend
    assert first.scorer.meta == second.scorer.meta
    assert np.array_equal(first.oof_scores, second.oof_scores)
    fresh = _training_frame(seed=2)
    assert np.array_equal(first.scorer.score(fresh), second.scorer.score(fresh))
    # The review threshold is one of the out-of-fold scores of an account row, at FPR <= 5%.
    assert first.threshold.value in set(first.oof_scores[frame["last_day"].to_numpy()])
    assert first.threshold.fpr <= 0.05


def test_encode_rounds_last_bit_noise_away() -> None:
    frame = pd.DataFrame({"spend_usd_28d": [0.1 + 0.2, 1234.56 + 2.2737367544323206e-13, None]})
    other = pd.DataFrame({"spend_usd_28d": [0.3, 1234.56, None]})
    assert frame["spend_usd_28d"][0] != other["spend_usd_28d"][0]
    a, b = encode(frame, ["spend_usd_28d"]), encode(other, ["spend_usd_28d"])
    # float32(0.3) = 10066330 * 2^-25; float32(1234.56) = 80908128 * 2^-16.
    assert a[0, 0] == b[0, 0] == 10066330 * 2.0**-25
    assert a[1, 0] == b[1, 0] == 80908128 * 2.0**-16
    assert np.isnan(a[2, 0]) and np.isnan(b[2, 0])


def test_classifier_ignores_last_bit_noise_in_its_inputs() -> None:
    """Two builds of the same features that differ only in summation order train one model."""
    settings = replace(TRAINING, n_estimators=40, target_fpr=0.05, suspend_fpr=0.01)
    frame = _training_frame()
    noisy = frame.assign(intent_share_28d=frame["intent_share_28d"] * (1 + 2.0**-52))
    assert (noisy["intent_share_28d"] != frame["intent_share_28d"]).sum() > 100
    first, second = classifier.train(frame, settings), classifier.train(noisy, settings)
    assert first.scorer.booster.model_to_string() == second.scorer.booster.model_to_string()
    assert first.threshold == second.threshold and np.array_equal(first.oof_scores, second.oof_scores)
