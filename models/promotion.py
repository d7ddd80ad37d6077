"""The promotion gate: a challenger replaces the champion only when noise cannot explain it.

A challenger is promoted only when every check holds (docs/evaluation.md):

* sanity, on the holdout: both classes present, calibration error within bounds, scores not
  degenerate, population-weighted PR-AUC at least the rule baseline's;
* (a) the benign-FPR target is reached on the out-of-fold scores (a threshold within
  ``target_fpr`` that still flags positives) *and* on the holdout (population-weighted FPR
  at that threshold <= ``target_fpr``): a model that misses its operating point is never
  promoted, whatever its PR-AUC;
* (b) with a champion: on the same rows (the holdout minus the champion's training
  accounts), the lower bound of the challenger's recall at its threshold (campaign
  bootstrap) is >= the champion's point recall at its own threshold - ``recall_tolerance``
  (0.05): non-inferiority with an interval, so a lucky handful of rows cannot carry it;
* (c) with a champion and campaign types known to both runs: no ``loo_recall_<type>`` falls
  more than ``loo_tolerance`` (0.10) under the champion's (the champion's figure comes from
  its own training run, so the comparison is over the same types, not the same rows).

PR-AUC is reported, never decisive: it summarises every threshold, while enforcement runs at
one. A refusal is not an error here: the caller records every reason and the CLI exits
non-zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from distillguard.config import TRAINING, TrainingSettings


@dataclass(frozen=True)
class Comparison:
    """Challenger and champion on the same rows."""

    rows: int
    challenger_recall: float
    challenger_recall_ci_low: float
    champion_recall: float
    challenger_pr_auc: float
    champion_pr_auc: float


@dataclass
class Evidence:
    holdout: dict[str, float]
    baseline: dict[str, float]
    oof_fpr: float
    oof_reached: bool
    comparison: Comparison | None = None
    loo: dict[str, float] = field(default_factory=dict)
    champion_loo: dict[str, float] = field(default_factory=dict)


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def sanity_failures(
    model: dict[str, float], baseline: dict[str, float], settings: TrainingSettings = TRAINING
) -> list[str]:
    failures = []
    if not model["n_positive"] or not (model["n_benign"] + model["n_unlabelled"]):
        failures.append(
            f"empty class in holdout ({model['n_positive']:.0f} positive, "
            f"{model['n_benign'] + model['n_unlabelled']:.0f} negative)"
        )
    if math.isnan(model["pr_auc"]):
        failures.append("PR-AUC undefined on the holdout")
    elif not math.isnan(baseline["pr_auc"]) and model["pr_auc"] < baseline["pr_auc"]:
        failures.append(f"PR-AUC {model['pr_auc']:.4f} below the rule baseline's {baseline['pr_auc']:.4f}")
    if model["calibration_error"] > settings.max_calibration_error:
        failures.append(f"calibration error {model['calibration_error']:.4f} above {settings.max_calibration_error}")
    if model["score_std"] < settings.min_score_std:
        failures.append(f"degenerate scores: std {model['score_std']:.4f} below {settings.min_score_std}")
    return failures


def fpr_failures(evidence: Evidence, settings: TrainingSettings = TRAINING) -> list[str]:
    """(a): the operating point holds out of fold and on the holdout."""
    target, failures = settings.target_fpr, []
    if not evidence.oof_reached or evidence.oof_fpr > target:
        failures.append(
            f"benign FPR target {target:.4%} not reached out of fold (no threshold within it flags a "
            f"positive; FPR {evidence.oof_fpr:.4%})"
        )
    holdout = evidence.holdout["benign_fpr"]
    if math.isnan(holdout) or holdout > target:
        failures.append(f"benign FPR target missed on the holdout: {holdout:.4%} > {target:.4%}")
    return failures


def recall_failure(comparison: Comparison, settings: TrainingSettings = TRAINING) -> str | None:
    """(b): challenger recall lower bound >= champion point recall - tolerance, same rows."""
    floor = comparison.champion_recall - settings.recall_tolerance
    if math.isnan(comparison.challenger_recall_ci_low) or math.isnan(comparison.champion_recall):
        return f"recall undefined on the {comparison.rows} rows shared with the champion"
    if comparison.challenger_recall_ci_low < floor:
        return (
            f"recall lower bound {comparison.challenger_recall_ci_low:.3f} (point "
            f"{comparison.challenger_recall:.3f}) under the champion's {comparison.champion_recall:.3f} - "
            f"{settings.recall_tolerance} on the same {comparison.rows} rows"
        )
    return None


def loo_failures(
    loo: dict[str, float], champion_loo: dict[str, float], settings: TrainingSettings = TRAINING
) -> list[str]:
    """(c): no campaign type's leave-one-out recall falls more than the tolerance."""
    return [
        f"leave-one-out recall of {kind} falls {champion_loo[kind]:.3f} -> {loo[kind]:.3f} "
        f"(more than {settings.loo_tolerance})"
        for kind in sorted(set(loo) & set(champion_loo))
        if champion_loo[kind] - loo[kind] > settings.loo_tolerance
    ]


def decide(evidence: Evidence, settings: TrainingSettings = TRAINING) -> Decision:
    """Apply every check; ``checks`` says what each one found (logged with the run)."""
    checks: dict[str, str] = {}
    sanity = sanity_failures(evidence.holdout, evidence.baseline, settings)
    checks["sanity"] = "; ".join(sanity) or "passed"
    fpr = fpr_failures(evidence, settings)
    checks["a_fpr_target"] = "; ".join(fpr) or (
        f"passed: out of fold {evidence.oof_fpr:.4%}, holdout {evidence.holdout['benign_fpr']:.4%} <= "
        f"{settings.target_fpr:.4%}"
    )
    failures = sanity + fpr
    if evidence.comparison is None:
        checks["b_recall_vs_champion"] = "not applicable: no champion"
    else:
        verdict = recall_failure(evidence.comparison, settings)
        c = evidence.comparison
        checks["b_recall_vs_champion"] = verdict or (
            f"passed: lower bound {c.challenger_recall_ci_low:.3f} >= {c.champion_recall:.3f} - "
            f"{settings.recall_tolerance} on {c.rows} rows"
        )
        failures += [verdict] if verdict else []
    shared = set(evidence.loo) & set(evidence.champion_loo)
    loo = loo_failures(evidence.loo, evidence.champion_loo, settings)
    checks["c_loo_recall"] = (
        "; ".join(loo) or f"passed on {len(shared)} campaign types"
        if shared
        else "not applicable: campaign types not known to both runs"
    )
    failures += loo
    if failures:
        return Decision(False, failures, checks)
    summary = (
        f"benign FPR {evidence.holdout['benign_fpr']:.4%} <= {settings.target_fpr:.4%} on holdout and out of "
        f"fold, recall {evidence.holdout['recall']:.3f}"
    )
    if evidence.comparison is None:
        return Decision(True, [f"first champion: sanity checks passed, {summary}"], checks)
    return Decision(True, [f"{summary}; {checks['b_recall_vs_champion']}; {checks['c_loo_recall']}"], checks)
