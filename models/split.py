"""Time split grouped by campaign: train on the past, hold out the newest campaigns.

Groups are the connected components of incidents, accounts and clusters: two rows are in
one group when they share an incident, an account or a cluster (on any day). So an
incident, an account, or a cluster of linked accounts (a campaign) never sits on both
sides. The graph is small (labelled accounts times their window days plus the sampled
negatives), so it is collected and solved on the driver with union-find.

Cutoff C: the latest date such that the groups first decided on or after C hold at least
``holdout_min_share`` of the labelled (incident, account) pairs and ``holdout_min_per_class``
of each class. Then a labelled row goes to ``holdout`` when its group was first decided on
or after C, to ``train`` when it was decided before C, and is ``excluded`` otherwise (a
label of an old campaign decided after C: training on it would use a label the simulated
past could not know). A sampled unlabelled row follows its group when the group has labels,
and otherwise goes by its feature date (before C: train, else holdout).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from distillguard.config import TRAINING, TrainingSettings
from distillguard.errors import DistillguardError

TRAIN, HOLDOUT, EXCLUDED = "train", "holdout", "excluded"


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


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        self.parent.setdefault(node, node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _groups(rows: list[Any]) -> dict[str, str]:
    """row_key -> group id (the smallest node name of its component, so ids are stable)."""
    uf = _UnionFind()
    for r in rows:
        account = f"a:{r.account_id}"
        uf.find(account)
        if r.incident_id is not None:
            uf.union(account, f"i:{r.incident_id}")
        if r.cluster_id is not None:
            uf.union(account, f"c:{r.cluster_id}")
    return {r.row_key: uf.find(f"a:{r.account_id}") for r in rows}


def _pairs_by_class(rows: list[Any], group_of: dict[str, str], holdout_groups: set[str]) -> dict[tuple[bool, int], int]:
    pairs = {
        (r.incident_id, r.account_id, r.label, group_of[r.row_key] in holdout_groups)
        for r in rows
        if r.incident_id is not None
    }
    counts: dict[tuple[bool, int], int] = {}
    for _, _, label, held in pairs:
        counts[(held, label)] = counts.get((held, label), 0) + 1
    return counts


def choose_cutoff(rows: list[Any], group_of: dict[str, str], settings: TrainingSettings) -> tuple[date, set[str]]:
    """The latest cutoff whose holdout meets the share and per-class minimums."""
    first: dict[str, date] = {}
    for r in rows:
        if r.decided_on is not None:
            group = group_of[r.row_key]
            first[group] = min(first.get(group, r.decided_on), r.decided_on)
    total = len({(r.incident_id, r.account_id) for r in rows if r.incident_id is not None})
    for cutoff in sorted(set(first.values()), reverse=True):
        held = {g for g, d in first.items() if d >= cutoff}
        counts = _pairs_by_class(rows, group_of, held)
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


def split(spark: SparkSession, rows: DataFrame, settings: TrainingSettings = TRAINING) -> tuple[DataFrame, SplitInfo]:
    """``rows`` with ``group_id`` and ``split`` columns, and what the split looks like."""
    keys = rows.select(
        "row_key", "incident_id", "account_id", "cluster_id", "label", "decided_on", "feature_date"
    ).collect()
    group_of = _groups(keys)
    cutoff, held = choose_cutoff(keys, group_of, settings)
    labelled_groups = {group_of[r.row_key] for r in keys if r.incident_id is not None}

    def side(r: Any) -> str:
        group = group_of[r.row_key]
        if group in held:
            return HOLDOUT
        if r.incident_id is not None:
            return TRAIN if r.decided_on < cutoff else EXCLUDED
        if group in labelled_groups:
            return TRAIN if r.feature_date < cutoff else EXCLUDED
        return TRAIN if r.feature_date < cutoff else HOLDOUT

    assignment = [(r.row_key, group_of[r.row_key], side(r)) for r in keys]
    mapping = spark.createDataFrame(assignment, "row_key string, group_id string, split string")
    counts = _pairs_by_class(keys, group_of, held)
    train_counts = {
        (r.incident_id, r.account_id, r.label)
        for r, (_, _, s) in zip(keys, assignment)
        if r.incident_id is not None and s == TRAIN
    }
    info = SplitInfo(
        cutoff=cutoff,
        groups=len(set(group_of.values())),
        holdout_positive=counts.get((True, 1), 0),
        holdout_benign=counts.get((True, 0), 0),
        train_positive=sum(1 for *_, label in train_counts if label == 1),
        train_benign=sum(1 for *_, label in train_counts if label == 0),
    )
    if not info.train_positive or not info.train_benign:
        raise DistillguardError(f"the training side would miss a class ({info}); wait for more labels")
    return rows.join(mapping, "row_key"), info
