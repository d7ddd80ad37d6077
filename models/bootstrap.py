"""Confidence intervals by resampling groups (campaigns, benign groups), never rows.

Rows of one campaign are not independent draws: a campaign's accounts share tooling,
prompts and schedule, so a model catches most of them or few. Resampling rows would treat
400 accounts of one campaign as 400 pieces of evidence and give intervals far too narrow.
Here each resample draws, with replacement and within each stratum (groups holding a
positive, groups holding none), as many groups as the stratum has; a row then counts as
many times as its group was drawn (its *multiplicity*), and the statistic is recomputed
with weights x multiplicity. Percentile intervals at ``TrainingSettings.interval_level``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from distillguard.config import TRAINING, TrainingSettings

Statistic = Callable[[np.ndarray], float]
"""Takes the per-row multiplicity of one resample, returns the statistic (NaN if undefined)."""


def strata(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 for rows whose group holds a positive (a campaign), 0 otherwise (benign groups)."""
    codes = np.unique(groups, return_inverse=True)[1]
    has_positive = np.bincount(codes, weights=(y == 1).astype(float)) > 0
    return has_positive[codes].astype(int)


def multiplicities(groups: np.ndarray, stratum: np.ndarray, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Per-row multiplicity of each resample: draws of its group within its stratum."""
    names, codes = np.unique(groups, return_inverse=True)
    group_stratum = np.zeros(len(names), dtype=int)
    group_stratum[codes] = stratum
    members = [np.flatnonzero(group_stratum == s) for s in np.unique(group_stratum)]
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        counts = np.zeros(len(names))
        for inside in members:
            counts += np.bincount(rng.choice(inside, size=len(inside), replace=True), minlength=len(names))
        yield counts[codes]


def intervals(
    statistics: dict[str, Statistic], groups: np.ndarray, y: np.ndarray, settings: TrainingSettings = TRAINING
) -> dict[str, tuple[float, float]]:
    """(low, high) percentile interval of each statistic over group resamples."""
    values: dict[str, list[float]] = {name: [] for name in statistics}
    for m in multiplicities(groups, strata(groups, y), settings.bootstrap_samples, settings.sample_seed):
        for name, statistic in statistics.items():
            values[name].append(statistic(m))
    tail = (1 - settings.interval_level) / 2 * 100
    out = {}
    for name, drawn in values.items():
        finite = np.asarray(drawn, dtype=float)
        finite = finite[~np.isnan(finite)]
        out[name] = (
            (float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail)))
            if finite.size
            else (float("nan"), float("nan"))
        )
    return out
