"""Figures logged with every training run (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from distillguard.models.metrics import CALIBRATION_BINS  # noqa: E402


def pr_curves(
    y: np.ndarray, weight: np.ndarray, scores: dict[str, np.ndarray], points: dict[str, tuple[float, float]]
) -> Figure:
    """Holdout precision-recall of each scorer, with its operating point."""
    figure, axes = plt.subplots(figsize=(6, 5))
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(y, score, sample_weight=weight)
        (line,) = axes.plot(recall, precision, label=name)
        if name in points:
            axes.plot(*points[name], "o", color=line.get_color())
    axes.set(xlabel="recall", ylabel="precision", title="Holdout precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    axes.legend(loc="lower left")
    return figure


def score_distributions(label_name: pd.Series, score: np.ndarray, threshold: float) -> Figure:
    """Holdout score histograms per class, with the operating threshold."""
    figure, axes = plt.subplots(figsize=(6, 4))
    for name in sorted(label_name.unique()):
        axes.hist(score[(label_name == name).to_numpy()], bins=20, range=(0, 1), alpha=0.5, density=True, label=name)
    axes.axvline(threshold, color="black", linestyle="--", label="threshold")
    axes.set(xlabel="calibrated score", ylabel="density", title="Holdout scores by class")
    axes.legend()
    return figure


def feature_importance(names: list[str], gains: np.ndarray, top: int = 25) -> Figure:
    order = np.argsort(gains)[-top:]
    figure, axes = plt.subplots(figsize=(7, 7))
    axes.barh([names[i] for i in order], gains[order])
    axes.set(xlabel="total gain", title=f"LightGBM feature importance (top {len(order)})")
    figure.tight_layout()
    return figure


def calibration(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Figure:
    """Reliability diagram: mean score against observed distillation rate per score bin."""
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":")
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    for name, (y, score, weight) in curves.items():
        bins = np.clip(np.digitize(score, edges) - 1, 0, CALIBRATION_BINS - 1)
        used = [b for b in range(CALIBRATION_BINS) if (bins == b).any()]
        axes.plot(
            [np.average(score[bins == b], weights=weight[bins == b]) for b in used],
            [np.average(y[bins == b], weights=weight[bins == b]) for b in used],
            "o-",
            label=name,
        )
    axes.set(xlabel="mean calibrated score", ylabel="observed distillation rate", title="Calibration")
    axes.legend()
    return figure


def pr_curve_band(
    y: np.ndarray,
    weight: np.ndarray,
    score: np.ndarray,
    multiplicities: list[np.ndarray],
    point: tuple[float, float],
    level: float,
) -> Figure:
    """Population-weighted precision-recall with a pointwise band over campaign-bootstrap resamples."""
    grid = np.linspace(0, 1, 101)

    def on_grid(w: np.ndarray) -> np.ndarray:
        if w[y == 1].sum() <= 0 or w[y == 0].sum() <= 0:
            return np.full(len(grid), np.nan)
        precision, recall, _ = precision_recall_curve(y, score, sample_weight=w)
        # Interpolated precision: the best precision at this recall or more.
        best = np.maximum.accumulate(precision[np.argsort(recall)][::-1])[::-1]
        return np.interp(grid, np.sort(recall), best)

    curves = np.array([on_grid(weight * m) for m in multiplicities])
    tail = (1 - level) / 2 * 100
    figure, axes = plt.subplots(figsize=(6, 5))
    if len(curves):
        axes.fill_between(
            grid,
            np.nanpercentile(curves, tail, axis=0),
            np.nanpercentile(curves, 100 - tail, axis=0),
            alpha=0.25,
            label=f"{level:.0%} campaign bootstrap",
        )
    axes.plot(grid, on_grid(weight), label="model (holdout)")
    axes.plot(*point, "o", color="black", label="operating point")
    axes.set(
        xlabel="recall",
        ylabel="precision at live prevalence",
        title="Holdout precision-recall",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    axes.legend(loc="lower left")
    return figure
