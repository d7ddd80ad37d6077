"""Artifact audit of a generated lakehouse: single-property and single-feature ROC AUC.

    python benchmarks/artifact_audit.py --home /tmp/demo     # after `distillguard generate --scale demo`

Prints, per account over the window, the ROC AUC between attack and benign accounts of
every audited landing-data property (issue 9: none of the ``bounded`` ones may reach a
separation of 0.9), then, if the features tables exist, of every model feature
(``FEATURE_COLUMNS``) on each account's last feature day. Reads ground truth: evaluation only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from distillguard.config import Lakehouse, Table
from distillguard.models.feature_audit import feature_auc
from distillguard.synthetic import audit

BOUND = 0.9


def _feature_rows(lakehouse: Lakehouse) -> pd.DataFrame | None:
    """Each account's last day of rolling features joined with its cluster features, or None."""
    from deltalake import DeltaTable

    from distillguard.models.training_set import CLUSTER_FEATURES, FEATURE_COLUMNS

    rolling_path, clusters_path = (
        Path(lakehouse.table_path(t)) for t in (Table.ACCOUNT_ROLLING, Table.ACCOUNT_CLUSTERS)
    )
    if not (rolling_path / "_delta_log").is_dir():
        return None
    rolling_columns = [c for c in FEATURE_COLUMNS if c not in CLUSTER_FEATURES]
    rolling = DeltaTable(str(rolling_path)).to_pandas(columns=["account_id", "feature_date", *rolling_columns])
    last = rolling.sort_values("feature_date").groupby("account_id").tail(1)
    if (clusters_path / "_delta_log").is_dir():
        clusters = DeltaTable(str(clusters_path)).to_pandas(columns=["account_id", "feature_date", *CLUSTER_FEATURES])
        last = last.merge(clusters, on=["account_id", "feature_date"], how="left")
    for column in FEATURE_COLUMNS:
        if column not in last:
            last[column] = float("nan")
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path, help="lakehouse home with landing/ and truth/")
    args = parser.parse_args()
    lakehouse = Lakehouse.resolve(args.home)
    truth = pd.read_parquet(lakehouse.truth / "accounts.parquet")
    pd.set_option("display.width", 160)
    started = time.perf_counter()
    requests, accounts = audit.requests_from_landing(lakehouse.landing)
    values = audit.account_properties(requests, accounts)
    table = audit.auc_table(values, truth, list(audit.ARTIFACT_PROPERTIES) + list(audit.OTHER_PROPERTIES))
    table["bounded"] = table["property"].isin(audit.ARTIFACT_PROPERTIES)
    print(
        f"landing properties: {len(requests):,} requests, {len(values):,} accounts with traffic "
        f"({int(truth.is_attack.sum()):,} attack in truth), parsed in {time.perf_counter() - started:.0f}s"
    )
    print(table.round(3).to_string(index=False))
    over = table[table["bounded"] & (table["separation"] >= BOUND)]
    print(f"bounded properties at separation >= {BOUND}: {', '.join(over['property']) or 'none'}")
    features = _feature_rows(lakehouse)
    if features is None:
        print("no features tables: run the features job to audit model features")
        return
    from distillguard.models.training_set import FEATURE_COLUMNS

    joined = features.merge(truth[["account_id", "is_attack"]], on="account_id")
    print(f"\nmodel features (last feature day per account, {len(joined):,} accounts):")
    print(feature_auc(joined, "is_attack", FEATURE_COLUMNS).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
