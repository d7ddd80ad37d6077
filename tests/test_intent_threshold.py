"""The intent threshold is chosen for account separation of the share above it (models/intent.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distillguard.errors import DistillguardError
from distillguard.models.intent import choose_threshold

# Held-out prompts of two campaign accounts (A, B) and two negative accounts (N1, N2).
SCORES = {
    "A": (1, [0.9, 0.6, 0.2, 0.1]),
    "B": (1, [0.7, 0.3]),
    "N1": (0, [0.8, 0.4, 0.3, 0.2, 0.1]),
    "N2": (0, [0.5, 0.35, 0.15, 0.05, 0.0]),
}


def _arrays(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = np.array([s for n in names for s in SCORES[n][1]])
    y = np.array([SCORES[n][0] for n in names for _ in SCORES[n][1]])
    accounts = np.array([n for n in names for _ in SCORES[n][1]])
    return score, y, accounts


def test_keeps_the_rate_whose_share_separates_accounts_best() -> None:
    score, y, accounts = _arrays(("A", "B", "N1", "N2"))
    # Negatives ascending: 0, .05, .1, .15, .2, .3, .35, .4, .5, .8 ("higher" quantile index ceil(q * 9)).
    # rate 0.1 -> 0.8: shares A 1/4, B 0, N1 1/5, N2 0 -> AUC (1 + 1 + 0 + 0.5) / 4 = 0.625
    # rate 0.3 -> 0.4: shares A 2/4, B 1/2, N1 2/5, N2 1/5 -> AUC 1.0
    # rate 0.5 -> 0.3: shares A 2/4, B 2/2, N1 3/5, N2 2/5 -> AUC 3/4
    assert choose_threshold(score, y, accounts, (0.5, 0.1, 0.3)) == (0.4, 0.3, 1.0)
    assert choose_threshold(score, y, accounts, (0.1, 0.5)) == (0.3, 0.5, 0.75)
    assert choose_threshold(score, y, accounts, (0.1,)) == (0.8, 0.1, 0.625)


def test_one_class_holdout_keeps_the_strictest_rate() -> None:
    score, y, accounts = _arrays(("N1", "N2"))
    threshold, rate, auc = choose_threshold(score, y, accounts, (0.5, 0.1))
    assert (threshold, rate) == (0.8, 0.1) and math.isnan(auc)


def test_no_rate_is_a_clear_error() -> None:
    score, y, accounts = _arrays(("A", "N1"))
    with pytest.raises(DistillguardError, match="negative_prompt_rates is empty"):
        choose_threshold(score, y, accounts, ())
