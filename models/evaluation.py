"""One evaluation for ``train`` and ``evaluate``: named metrics, intervals, per-type and
per-population tables, leave-one-campaign-type-out. Pure pandas/numpy on the training set.

Which rows measure what (all at population weight, one row per account, docs/evaluation.md):

* **holdout** (the newest campaign groups, models/split.py), scored by the final model at
  the review threshold chosen on out-of-fold scores: the headline metrics
  ``recall_at_fpr`` (+ ``_ci_low``/``_ci_high``), ``benign_fpr`` (+ ``_ci_high``), ``pr_auc``.
* **group K-fold by campaign**: the out-of-fold scores of the training side (GroupKFold
  over campaign groups, models/classifier.py): ``kfold_recall_at_fpr``, ``kfold_benign_fpr``.
* **leave one campaign type out**, only when campaign types are known (the incidents of the
  landing contract carry none: they come from the evaluation option ``--truth``): for each
  type T, a model trained (with ``inner_*`` settings) without any row of a campaign group
  that holds a T account, scored on the T accounts at its own threshold:
  ``loo_recall_<T>``, ``loo_recall_min``.
* **population** (``--truth`` only): every account with features on the as_of day that is in
  no training row, scored by the final model: recall per campaign type on campaigns the
  training rows never touched, benign FPR per benign population (heavy users, eval-style
  harnesses, hard negatives...), with intervals.

Intervals: bootstrap over campaign groups and benign groups (models/bootstrap.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from distillguard.config import TRAINING, TrainingSettings
from distillguard.errors import DistillguardError
from distillguard.models import bootstrap, classifier
from distillguard.models.metrics import evaluation_rows, weighted_fpr, weighted_pr_auc, weighted_recall
from distillguard.models.split import EXCLUDED, HOLDOUT, TRAIN
from distillguard.models.training_set import BENIGN

ATTACK, BENIGN_KIND = "attack", "benign"


@dataclass
class Evaluation:
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_truth(path: Path) -> pd.DataFrame:
    """Synthetic ground truth, EVALUATION ONLY: account -> type, campaign, population.

    ``archetype`` is the campaign type of an attacker and the population name of a benign
    account; ``population_kind`` (attack, benign, hard_negative) is derived from
    ``is_attack`` when the file predates it."""
    if not Path(path).is_file():
        raise DistillguardError(f"ground truth {path} not found (it is written by `distillguard generate`)")
    truth = pd.read_parquet(path)
    missing = {"account_id", "archetype", "is_attack", "campaign_id"} - set(truth.columns)
    if missing:
        raise DistillguardError(f"ground truth {path} lacks columns {sorted(missing)}")
    if "population_kind" not in truth.columns:
        truth["population_kind"] = np.where(truth["is_attack"], ATTACK, BENIGN_KIND)
    truth["campaign_id"] = truth["campaign_id"].astype(str)
    return truth[["account_id", "archetype", "is_attack", "campaign_id", "population_kind"]]


def campaign_types(frame: pd.DataFrame, truth: pd.DataFrame | None) -> np.ndarray:
    """Campaign type of each row's account (None for non-attackers or without truth)."""
    if truth is None:
        return np.full(len(frame), None, dtype=object)
    attack = truth[truth["is_attack"]].set_index("account_id")["archetype"]
    return frame["account_id"].map(attack).astype(object).where(lambda s: s.notna(), None).to_numpy()


def operating_point(
    rows: pd.DataFrame, score: np.ndarray, threshold: float, settings: TrainingSettings = TRAINING
) -> dict[str, float]:
    """Recall, benign FPR and PR-AUC at population weight, with group-bootstrap intervals."""
    y, w = rows["label"].to_numpy(dtype=int), rows["eval_weight"].to_numpy(dtype=float)
    groups = rows["group_id"].to_numpy()
    flagged = score >= threshold
    statistics = {
        "recall_at_fpr": lambda m: weighted_recall(y, flagged, w * m),
        "benign_fpr": lambda m: weighted_fpr(y, flagged, w * m),
        "pr_auc": lambda m: weighted_pr_auc(y, score, w * m),
    }
    ci = bootstrap.intervals(statistics, groups, y, settings)
    out = {}
    for name, statistic in statistics.items():
        out[name] = statistic(np.ones(len(y)))
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = ci[name]
    return out


def loo_folds(frame: pd.DataFrame, types: np.ndarray) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(type, fit rows, evaluation rows) per campaign type with a labelled positive.

    Fit rows: usable rows (not ``excluded``) outside every campaign group that holds an
    account of the type, and not themselves of the type (a sampled unlabelled attacker of
    the type is left out too: it would teach the type as a negative). Evaluation rows: the
    type's accounts, one row each."""
    usable = (frame["split"] != EXCLUDED).to_numpy()
    groups, last = frame["group_id"].to_numpy(), frame["last_day"].to_numpy(dtype=bool)
    labelled = (frame["label"] == 1).to_numpy()
    for kind in sorted({t for t in types[labelled & usable] if t is not None}):
        of_type = types == kind
        touched = np.isin(groups, np.unique(groups[of_type])) | of_type
        yield kind, usable & ~touched, usable & of_type & last


def leave_one_type_out(frame: pd.DataFrame, types: np.ndarray, settings: TrainingSettings = TRAINING) -> pd.DataFrame:
    """Recall of each held-out campaign type at the operating point of a model that never saw it."""
    inner = replace(settings, n_estimators=settings.inner_n_estimators, cv_folds=settings.inner_cv_folds)
    rows = []
    for kind, fit, held in loo_folds(frame, types):
        evaluated = frame[held]
        weight = evaluated["population_weight"].to_numpy(dtype=float)
        try:
            model = classifier.train(frame[fit].reset_index(drop=True), inner)
        except DistillguardError as failure:
            rows.append(
                {
                    "campaign_type": kind,
                    "accounts": len(evaluated),
                    "recall": float("nan"),
                    "threshold": float("nan"),
                    "note": str(failure),
                }
            )
            continue
        flagged = model.scorer.score(evaluated) >= model.threshold.value
        rows.append(
            {
                "campaign_type": kind,
                "accounts": len(evaluated),
                "recall": float(weight[flagged].sum() / weight.sum()) if weight.sum() else float("nan"),
                "threshold": model.threshold.value,
                "note": "",
            }
        )
    return pd.DataFrame(rows, columns=["campaign_type", "accounts", "recall", "threshold", "note"])


def _interval(
    values: np.ndarray, weights: np.ndarray, groups: np.ndarray, settings: TrainingSettings
) -> tuple[float, float, float]:
    """Weighted mean of a 0/1 column with its group-bootstrap interval."""
    y = np.zeros(len(values), dtype=int)

    def share(m: np.ndarray) -> float:
        total = (weights * m).sum()
        return float((weights * m * values).sum() / total) if total else float("nan")

    low, high = bootstrap.intervals({"share": share}, groups, y, settings)["share"]
    return share(np.ones(len(values))), low, high


def per_type_recall(
    rows: pd.DataFrame, flagged: np.ndarray, types: np.ndarray, groups: np.ndarray, settings: TrainingSettings
) -> pd.DataFrame:
    """Recall per campaign type with intervals over that type's campaign groups."""
    out = []
    for kind in sorted({t for t in types if t is not None}):
        inside = types == kind
        recall, low, high = _interval(
            flagged[inside].astype(float), rows["eval_weight"].to_numpy(dtype=float)[inside], groups[inside], settings
        )
        out.append(
            {
                "campaign_type": kind,
                "accounts": int(inside.sum()),
                "campaigns": len(np.unique(groups[inside])),
                "recall": recall,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(out, columns=["campaign_type", "accounts", "campaigns", "recall", "ci_low", "ci_high"])


def per_population_fpr(
    rows: pd.DataFrame, flagged: np.ndarray, populations: np.ndarray, settings: TrainingSettings
) -> pd.DataFrame:
    """Benign FPR per benign population (accounts resampled), with intervals."""
    out = []
    for name in sorted({p for p in populations if p is not None}):
        inside = populations == name
        fpr, low, high = _interval(
            flagged[inside].astype(float),
            rows["eval_weight"].to_numpy(dtype=float)[inside],
            rows["account_id"].to_numpy()[inside],
            settings,
        )
        out.append(
            {
                "benign_population": name,
                "accounts": int(inside.sum()),
                "flagged": int(flagged[inside].sum()),
                "fpr": fpr,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(out, columns=["benign_population", "accounts", "flagged", "fpr", "ci_low", "ci_high"])


def population_tables(
    population: pd.DataFrame,
    score: np.ndarray,
    threshold: float,
    truth: pd.DataFrame,
    trained_accounts: set[str],
    settings: TrainingSettings = TRAINING,
) -> Evaluation:
    """Truth-mode census on one day: recall per type on campaigns no training row touched,
    FPR per benign population, on accounts in no training row (each weighs 1: nothing sampled)."""
    scored = population[["account_id"]].assign(score=score, eval_weight=1.0).merge(truth, on="account_id")
    scored = scored[~scored["account_id"].isin(trained_accounts)].reset_index(drop=True)
    seen = set(truth.loc[truth["account_id"].isin(trained_accounts) & truth["is_attack"], "campaign_id"])
    flagged = scored["score"].to_numpy() >= threshold
    attack = scored["is_attack"].to_numpy(dtype=bool)
    unseen = attack & ~scored["campaign_id"].isin(seen).to_numpy()
    types = np.where(unseen, scored["archetype"], None)
    populations = np.where(~attack, scored["archetype"], None)
    result = Evaluation()
    result.tables["population_recall_by_type"] = per_type_recall(
        scored, flagged, types, scored["campaign_id"].to_numpy(), settings
    )
    result.tables["population_fpr_by_benign_population"] = per_population_fpr(scored, flagged, populations, settings)
    hard = ~attack & (scored["population_kind"] == "hard_negative").to_numpy()
    for name, mask in (("population_benign_fpr", ~attack), ("population_hard_negative_fpr", hard)):
        if mask.any():
            result.metrics[name] = float(flagged[mask].mean())
    if unseen.any():
        result.metrics["population_recall_unseen_campaigns"] = float(flagged[unseen].mean())
    result.metrics["population_flagged_per_day"] = float(flagged.sum())
    return result


def evaluate_recipe(
    frame: pd.DataFrame,
    model: classifier.TrainedModel,
    truth: pd.DataFrame | None,
    settings: TrainingSettings = TRAINING,
    loo: bool = True,
) -> Evaluation:
    """Headline, group K-fold and (with truth) per-type and leave-one-type-out figures."""
    result = Evaluation()
    holdout = evaluation_rows(frame, HOLDOUT)
    train_side = frame[frame["split"] == TRAIN].reset_index(drop=True)
    oof = evaluation_rows(train_side.assign(oof=model.oof_scores), TRAIN)
    threshold = model.threshold.value
    holdout_score = model.scorer.score(holdout)
    result.metrics.update(operating_point(holdout, holdout_score, threshold, settings))
    kfold = operating_point(oof, oof["oof"].to_numpy(), threshold, settings)
    result.metrics.update({f"kfold_{name}": value for name, value in kfold.items()})
    result.metrics.update(
        {
            "threshold": threshold,
            "suspend_threshold": model.suspend.value,
            "target_fpr": settings.target_fpr,
            "oof_benign_fpr": model.threshold.fpr,
            "oof_recall_at_fpr": model.threshold.recall,
            "oof_target_reached": float(model.threshold.reached),
        }
    )
    summary = pd.DataFrame(
        [
            {"rows": "holdout (newest campaigns)", **_row(holdout, holdout_score >= threshold, result.metrics)},
            {"rows": "group K-fold by campaign (out of fold)", **_row(oof, oof["oof"].to_numpy() >= threshold, kfold)},
        ]
    )
    result.tables["operating_point"] = summary
    result.tables["cleared_accounts_fpr"] = pd.DataFrame(
        [
            _cleared(name, rows, score >= threshold, truth)
            for name, rows, score in (
                ("holdout", holdout, holdout_score),
                ("group K-fold (out of fold)", oof, oof["oof"].to_numpy()),
            )
        ]
    )
    if truth is None:
        result.notes.append("campaign types unknown (no --truth): leave-one-type-out and per-type tables skipped")
        return result
    for name, rows, score in (("holdout", holdout, holdout_score), ("kfold", oof, oof["oof"].to_numpy())):
        types = campaign_types(rows, truth)
        result.tables[f"{name}_recall_by_type"] = per_type_recall(
            rows, score >= threshold, types, rows["group_id"].to_numpy(), settings
        )
    if loo:
        table = leave_one_type_out(frame, campaign_types(frame, truth), settings)
        result.tables["leave_one_type_out"] = table
        for row in table.itertuples():
            if not np.isnan(row.recall):
                result.metrics[f"loo_recall_{row.campaign_type}"] = row.recall
        if table["recall"].notna().any():
            result.metrics["loo_recall_min"] = float(table["recall"].min())
    return result


def _cleared(name: str, rows: pd.DataFrame, flagged: np.ndarray, truth: pd.DataFrame | None) -> dict[str, object]:
    """Investigated-and-cleared accounts flagged again (each one an analyst already cleared)."""
    cleared = (rows["label_name"] == BENIGN).to_numpy()
    again = int((flagged & cleared).sum())
    row: dict[str, object] = {
        "rows": name,
        "cleared_accounts": int(cleared.sum()),
        "flagged_again": again,
        "fpr": again / cleared.sum() if cleared.any() else float("nan"),
    }
    if truth is not None:
        kinds = rows.loc[cleared & flagged, "account_id"].map(truth.set_index("account_id")["archetype"])
        row["flagged_by_population"] = ", ".join(f"{k} {v}" for k, v in kinds.value_counts().sort_index().items())
    return row


def _row(rows: pd.DataFrame, flagged: np.ndarray, point: dict[str, float]) -> dict[str, object]:
    y, w = rows["label"].to_numpy(dtype=int), rows["eval_weight"].to_numpy(dtype=float)
    positive = y == 1
    return {
        "positive_accounts": int(positive.sum()),
        "campaign_groups": int(rows.loc[positive, "group_id"].nunique()),
        "population_negatives": float(w[~positive].sum()),
        "recall": point["recall_at_fpr"],
        "recall_ci": f"[{point['recall_at_fpr_ci_low']:.3f}, {point['recall_at_fpr_ci_high']:.3f}]",
        "benign_fpr": point["benign_fpr"],
        "benign_fpr_ci_high": point["benign_fpr_ci_high"],
        "precision_at_live_prevalence": float(w[flagged & positive].sum() / w[flagged].sum())
        if w[flagged].sum()
        else float("nan"),
    }
