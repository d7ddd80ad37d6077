"""What the intent threshold rule changes in detection, without rebuilding the lakehouse.

    python benchmarks/intent_threshold_effect.py --home /tmp/fresh3/lakehouse

1. Refits each registered intent model of the lakehouse point in time (models/intent.py
   ``training_prompts`` + ``fit`` as of its ``as_of`` tag; the fit is deterministic, so the
   prompt AUC printed next to the registered one must match) and takes the threshold the
   current rule chooses.
2. Recomputes ``intent_share_{7,28}d`` per account and feature date from the stored
   per-request ``intent_score`` (``refined/request_signals``) as features/account_daily.py and
   features/rolling.py do (hits over scored prompts in (D - w, D], null without scored
   prompts), once with the registered thresholds, which must reproduce the stored columns,
   and once with the chosen ones.
3. Evaluates the model's feature set with the recomputed columns on the training set's rows
   and split (benchmarks/compare_feature_sets.py), next to the stored columns.
Reads the lakehouse (its MLflow store from a copy); writes nothing in it. Reads ground truth.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
from datetime import date, timedelta
from pathlib import Path

import compare_feature_sets as compare  # the sibling script (run from benchmarks/ as a file)
import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import INTENT, INTENT_MODEL_NAME, TRAINING, Lakehouse, Table
from distillguard.engine import get_spark
from distillguard.jobs.evaluate import training_frame
from distillguard.jobs.train import latest_feature_date
from distillguard.models import evaluation
from distillguard.models.feature_audit import feature_auc
from distillguard.models.intent import fit, training_prompts
from distillguard.models.training_set import FEATURE_COLUMNS

SHARES = ("intent_share_7d", "intent_share_28d")


def registered(lakehouse: Lakehouse) -> pd.DataFrame:
    """(version, as_of, threshold) of the registered intent models, from a copy of the store."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "mlflow.db"
        shutil.copy2(lakehouse.home / "mlflow" / "mlflow.db", copy)
        with sqlite3.connect(copy) as db:
            tags = pd.read_sql(
                "select version, key, value from model_version_tags where name = ? and key in ('as_of', 'threshold')",
                db,
                params=(INTENT_MODEL_NAME,),
            )
    wide = tags.pivot(index="version", columns="key", values="value").reset_index()
    return wide.assign(version=wide["version"].astype(str), threshold=wide["threshold"].astype(float))


def shares(daily: pd.DataFrame, days: list[date], hits: str) -> pd.DataFrame:
    """intent_share_{7,28}d per (account, feature date) from daily (scored, hits) counts."""
    parts = []
    for day in days:
        frame = None
        for window in (7, 28):
            inside = daily[(daily["feature_date"] > day - timedelta(days=window)) & (daily["feature_date"] <= day)]
            sums = inside.groupby("account_id")[["scored", hits]].sum()
            share = (sums[hits] / sums["scored"].where(sums["scored"] > 0)).rename(f"intent_share_{window}d")
            frame = share.to_frame() if frame is None else frame.join(share, how="outer")
        parts.append(frame.reset_index().assign(feature_date=day))
    return pd.concat(parts, ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, type=Path, help="a lakehouse with intent models and features")
    args = parser.parse_args()
    lakehouse = Lakehouse.resolve(home=args.home)
    truth = evaluation.read_truth(lakehouse.truth / "accounts.parquet")
    spark = get_spark()
    raw, incidents = (tables.read(spark, lakehouse, t) for t in (Table.RAW_REQUESTS, Table.INCIDENTS))

    versions = registered(lakehouse)
    chosen = {}
    for row in versions.sort_values("as_of").itertuples():
        prompts = training_prompts(raw, incidents, date.fromisoformat(row.as_of), INTENT).toPandas()
        fitted = fit(prompts, INTENT)
        del prompts  # raw prompts are personal data: never kept past the fit
        if fitted is None:
            print(f"intent v{row.version} as of {row.as_of}: too few labelled accounts to refit; threshold kept")
            chosen[row.version] = row.threshold
            continue
        chosen[row.version] = fitted.threshold
        m = fitted.metrics
        print(
            f"intent v{row.version} as of {row.as_of}: prompt AUC {m['holdout_prompt_roc_auc']:.3f}; threshold "
            f"{row.threshold:.4f} -> {fitted.threshold:.4f} (negative prompt rate "
            f"{m['chosen_negative_prompt_rate']:.0%}, held-out account AUC of the share "
            f"{m['holdout_account_share_roc_auc']:.3f}, of the mean score {m['holdout_account_mean_score_roc_auc']:.3f})"
        )

    signals = tables.read(spark, lakehouse, Table.REQUEST_SIGNALS).select(
        "account_id", "event_date", "intent_score", "intent_model_version"
    )
    thresholds = spark.createDataFrame(
        [(v, float(old), float(chosen[v])) for v, old in zip(versions["version"], versions["threshold"])],
        "intent_model_version string, old double, new double",
    )
    daily = (
        signals.join(thresholds, "intent_model_version", "left")
        .groupBy("account_id", F.col("event_date").alias("feature_date"))
        .agg(
            F.count("intent_score").alias("scored"),
            F.count(F.when(F.col("intent_score") >= F.col("old"), 1)).alias("hits_old"),
            F.count(F.when(F.col("intent_score") >= F.col("new"), 1)).alias("hits_new"),
        )
        .toPandas()
    )
    stored = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).select("account_id", "feature_date", *SHARES)
    stored = stored.toPandas()
    days = sorted(stored["feature_date"].unique())
    check = stored.merge(shares(daily, days, "hits_old"), on=["account_id", "feature_date"], how="left")
    for name in SHARES:
        a, b = check[f"{name}_x"].astype(float), check[f"{name}_y"].astype(float)
        same = (a.isna() & b.isna()) | np.isclose(a, b, rtol=0, atol=1e-12)
        print(f"{name}: {int(same.sum())} of {len(check)} stored values reproduced with the registered thresholds")
        if not same.all():
            print("the recomputation does not reproduce the stored features; figures below would mislead")
            return 1
    recomputed = shares(daily, days, "hits_new")

    as_of = latest_feature_date(spark, lakehouse)
    frame = training_frame(spark, lakehouse, as_of, TRAINING)
    rows = frame[list(compare.ROW_COLUMNS)]
    audit = {
        "stored": feature_auc(frame, "label", list(SHARES), "population_weight"),
        "chosen": feature_auc(
            rows.merge(recomputed, on=["account_id", "feature_date"], how="left"),
            "label",
            list(SHARES),
            "population_weight",
        ),
    }
    plain = compare.read_features

    def with_recomputed(home: Lakehouse, columns: list[str], dates: list[date]) -> pd.DataFrame:
        values = plain(home, columns, dates).drop(columns=list(SHARES))
        return values.merge(recomputed, on=["account_id", "feature_date"], how="left")[
            ["account_id", "feature_date", *columns]
        ]

    results, loose, flags = {}, {}, {}
    for name, reader in (("stored", plain), ("chosen", with_recomputed)):
        compare.read_features = reader
        results[name], loose[name], flags[name], _ = compare.evaluate_set(
            name, lakehouse, list(FEATURE_COLUMNS), rows, as_of, truth, TRAINING, 0.01, True
        )
    compare.read_features = plain
    print(f"\n# intent threshold: stored (1%) vs chosen, as of {as_of}\n")
    for name, table in audit.items():
        print(f"single-feature AUC, {name}: " + ", ".join(f"{r.feature} {r.auc:.3f}" for r in table.itertuples()))
    for name, table in compare.side_by_side(results, loose, 0.01).items():
        print(f"\n## {name}\n\n{compare._markdown(table)}")
    for name, table in flags.items():
        print(f"\n## flags on {as_of}, {name}\n\n{compare._markdown(compare.reason_table(table, truth))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
