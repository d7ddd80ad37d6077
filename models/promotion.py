"""The promotion gate: a challenger replaces the champion only when it is sane and better.

Sanity (on the holdout): both classes present, calibration error within bounds, a score
distribution that is not degenerate (near-constant scores rank nobody), and a PR-AUC at
least the rule baseline's (a model that cannot beat the analyst's rule adds nothing).
Better: PR-AUC above the champion's by ``promotion_margin`` on the same rows (the holdout
minus accounts the champion trained on), checked with MLflow's
``validate_evaluation_results`` on metrics computed by models/metrics.py (the default
MLflow evaluator knows neither our weights nor our thresholds, so only its validation
step is used). A failed check is never an error: the version stays challenger and the
run records every reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlflow.models import MetricThreshold
from mlflow.models.evaluation import EvaluationResult
from mlflow.models.evaluation.validation import ModelValidationFailedException, validate_evaluation_results

from distillguard.config import TRAINING, TrainingSettings


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def sanity_failures(model: dict[str, float], baseline: dict[str, float],
                    settings: TrainingSettings = TRAINING) -> list[str]:
    failures = []
    if not model["n_positive"] or not (model["n_benign"] + model["n_unlabelled"]):
        failures.append(f"empty class in holdout ({model['n_positive']:.0f} positive, "
                        f"{model['n_benign'] + model['n_unlabelled']:.0f} negative)")
    if math.isnan(model["pr_auc"]):
        failures.append("PR-AUC undefined on the holdout")
    elif not math.isnan(baseline["pr_auc"]) and model["pr_auc"] < baseline["pr_auc"]:
        failures.append(f"PR-AUC {model['pr_auc']:.4f} below the rule baseline's {baseline['pr_auc']:.4f}")
    if model["calibration_error"] > settings.max_calibration_error:
        failures.append(f"calibration error {model['calibration_error']:.4f} above {settings.max_calibration_error}")
    if model["score_std"] < settings.min_score_std:
        failures.append(f"degenerate scores: std {model['score_std']:.4f} below {settings.min_score_std}")
    return failures


def beats_champion(challenger: dict[str, float], champion: dict[str, float],
                   settings: TrainingSettings = TRAINING) -> str | None:
    """None when the challenger's PR-AUC beats the champion's by the margin, else why not."""
    if math.isnan(challenger["pr_auc"]) or math.isnan(champion["pr_auc"]):
        return "comparison rows lack a class: PR-AUC undefined for challenger or champion"
    thresholds = {"pr_auc": MetricThreshold(min_absolute_change=settings.promotion_margin, greater_is_better=True)}
    try:
        validate_evaluation_results(thresholds, EvaluationResult(challenger, {}), EvaluationResult(champion, {}))
    except ModelValidationFailedException as failure:
        return f"does not beat the champion: {failure.message}"
    return None


def decide(model: dict[str, float], baseline: dict[str, float],
           comparison: tuple[dict[str, float], dict[str, float]] | None,
           settings: TrainingSettings = TRAINING) -> Decision:
    """``comparison`` = (challenger, champion) metrics on the same rows, None without a champion."""
    failures = sanity_failures(model, baseline, settings)
    if comparison is not None:
        verdict = beats_champion(*comparison, settings)
        if verdict:
            failures.append(verdict)
    if failures:
        return Decision(False, failures)
    if comparison is None:
        return Decision(True, [f"first champion: sanity checks passed, PR-AUC {model['pr_auc']:.4f} vs "
                               f"baseline {baseline['pr_auc']:.4f}"])
    challenger, champion = comparison
    return Decision(True, [f"beats champion PR-AUC {champion['pr_auc']:.4f} -> {challenger['pr_auc']:.4f} "
                           f"(margin {settings.promotion_margin}) and sanity checks passed"])
