"""Time split grouped by campaign: train on the past, hold out the newest campaigns.

Groups are the connected components of incidents, accounts and clusters: two rows are in
one group when they share an incident, an account or a cluster (on any day). So an
incident, an account, or a cluster of linked accounts (a campaign) never sits on both
sides. The components are found on the engine (min-label propagation,
``features/clusters.py``, every iteration staged); a group's id is ``a:`` and its smallest
account id. The driver receives only the labelled (incident, account) pairs, to choose
the cutoff: thousands of rows, never the training set.

Cutoff C: the latest date such that the groups first decided on or after C hold at least
``holdout_min_share`` of the labelled (incident, account) pairs and ``holdout_min_per_class``
of each class. Then a labelled row goes to ``holdout`` when its group was first decided on
or after C, to ``train`` when it was decided before C, and is ``excluded`` otherwise (a
label of an old campaign decided after C: training on it would use a label the simulated
past could not know). A sampled unlabelled row follows its group when the group has labels,
and otherwise goes by its feature date (before C: train, else holdout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard.config import TRAINING, TrainingSettings
from distillguard.errors import DistillguardError
from distillguard.features.clusters import components

TRAIN, HOLDOUT, EXCLUDED = "train", "holdout", "excluded"
# Writes a frame under a scratch name and reads it back (``tables.stage`` in the jobs).
Stage = Callable[[str, DataFrame], DataFrame]


@dataclass(frozen=True)
class SplitInfo:
    cutoff: date
    groups: int
    holdout_positive: int
    holdout_benign: int
    train_positive: int
    train_benign: int

    def as_params(self) -> dict[str, Any]:
        return {f"split_{k}": (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()}


def with_groups(keys: DataFrame, stage: Stage) -> DataFrame:
    """``keys`` with ``group_id``: the component of the account over incident and cluster edges."""
    edges = (
        keys.where(F.col("incident_id").isNotNull())
        .select("account_id", F.lit("incident").alias("key_type"), F.col("incident_id").alias("key"))
        .unionByName(
            keys.where(F.col("cluster_id").isNotNull()).select(
                "account_id", F.lit("cluster").alias("key_type"), F.col("cluster_id").alias("key")
            )
        )
        .distinct()
    )
    labels, iterations, converged = components(keys, edges, lambda df, i: stage(f"split_labels_{i % 2}", df))
    if not converged:
        raise DistillguardError(f"campaign groups did not converge in {iterations} iterations; the split would leak")
    return keys.join(labels.select("account_id", F.concat(F.lit("a:"), "label").alias("group_id")), "account_id")


def _pairs_by_class(pairs: list[Any], holdout_groups: set[str]) -> dict[tuple[bool, int], int]:
    """Labelled (incident, account) pairs per (held out, label)."""
    counts: dict[tuple[bool, int], int] = {}
    for _, _, label, held in {(p.incident_id, p.account_id, p.label, p.group_id in holdout_groups) for p in pairs}:
        counts[(held, label)] = counts.get((held, label), 0) + 1
    return counts


def choose_cutoff(pairs: list[Any], settings: TrainingSettings) -> tuple[date, set[str]]:
    """The latest cutoff whose holdout meets the share and per-class minimums."""
    first: dict[str, date] = {}
    for p in pairs:
        if p.decided_on is not None:
            first[p.group_id] = min(first.get(p.group_id, p.decided_on), p.decided_on)
    total = len({(p.incident_id, p.account_id) for p in pairs})
    for cutoff in sorted(set(first.values()), reverse=True):
        held = {g for g, d in first.items() if d >= cutoff}
        counts = _pairs_by_class(pairs, held)
        positive, benign = counts.get((True, 1), 0), counts.get((True, 0), 0)
        if (
            positive >= settings.holdout_min_per_class
            and benign >= settings.holdout_min_per_class
            and positive + benign >= settings.holdout_min_share * total
        ):
            return cutoff, held
    raise DistillguardError(
        f"cannot hold out {settings.holdout_min_per_class} incidents of each class and "
        f"{settings.holdout_min_share:.0%} of {total} labelled accounts by decision date; wait for more labels"
    )


def _side(cutoff: date) -> Column:
    """The split of a row, given its group's ``held`` flag (null: a group without labels)."""
    before = F.col("feature_date") < F.lit(cutoff)
    return (
        F.when(F.col("held"), F.lit(HOLDOUT))
        .when(F.col("incident_id").isNotNull(), F.when(F.col("decided_on") < F.lit(cutoff), TRAIN).otherwise(EXCLUDED))
        .when(F.col("held").isNotNull(), F.when(before, TRAIN).otherwise(EXCLUDED))
        .otherwise(F.when(before, TRAIN).otherwise(HOLDOUT))
    )


def split(
    spark: SparkSession, rows: DataFrame, stage: Stage, settings: TrainingSettings = TRAINING
) -> tuple[DataFrame, SplitInfo]:
    """``rows`` with ``group_id`` and ``split`` columns, and what the split looks like."""
    keys = stage(
        "split_keys",
        rows.select("row_key", "incident_id", "account_id", "cluster_id", "label", "decided_on", "feature_date"),
    )
    grouped = stage("split_groups", with_groups(keys, stage))
    pairs = (
        grouped.where(F.col("incident_id").isNotNull())
        .select("incident_id", "account_id", "label", "decided_on", "group_id")
        .distinct()
        .collect()
    )
    cutoff, held = choose_cutoff(pairs, settings)
    flags = spark.createDataFrame(
        sorted({(p.group_id, p.group_id in held) for p in pairs}), "group_id string, held boolean"
    )
    mapping = stage(
        "split_assignment",
        grouped.join(F.broadcast(flags), "group_id", "left").select(
            "row_key", "group_id", _side(cutoff).alias("split")
        ),
    )
    counts = _pairs_by_class(pairs, held)
    trained = {
        (p.incident_id, p.account_id, p.label)
        for p in pairs
        if p.group_id not in held and p.decided_on is not None and p.decided_on < cutoff
    }
    info = SplitInfo(
        cutoff=cutoff,
        groups=grouped.select("group_id").distinct().count(),
        holdout_positive=counts.get((True, 1), 0),
        holdout_benign=counts.get((True, 0), 0),
        train_positive=sum(1 for *_, label in trained if label == 1),
        train_benign=sum(1 for *_, label in trained if label == 0),
    )
    if not info.train_positive or not info.train_benign:
        raise DistillguardError(f"the training side would miss a class ({info}); wait for more labels")
    return rows.join(mapping, "row_key"), info
