"""Who sets the review threshold, and which strong evidence the labels can teach.

    python benchmarks/threshold_audit.py --home LAKEHOUSE --truth LAKEHOUSE/truth/accounts.parquet

Reads the newest training set of ``--home`` (as ``distillguard train`` wrote it), trains the
model on its training side exactly as ``train`` does (models/classifier.py), and prints,
with the synthetic ground truth (EVALUATION ONLY):

1. the negatives that decide the 0.1% threshold: the highest out-of-fold scores among the
   rows trained as negatives, with their true population, and how many negatives are in
   truth attackers (uncaught campaigns in the unlabelled sample);
2. the out-of-fold score of the labelled attackers per campaign type (median, max);
3. per campaign type, the share of its labelled training rows with a strong lineage link
   (``lineage_strong_accounts`` > 0) against the share of its accounts with one on the
   as-of day: a link the labelled rows never carry cannot be learned;
4. on the as-of day, the active accounts of each population with a strong lineage link:
   what a rule "strong lineage alone flags" would flag.
Writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.engine import get_spark
from distillguard.models import classifier, evaluation
from distillguard.models.split import TRAIN
from distillguard.models.training_set import ROW_ORDER

LINEAGE = "lineage_strong_accounts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--truth", required=True, type=Path)
    parser.add_argument("--top", type=int, default=12, help="highest-scoring negatives to list")
    args = parser.parse_args()
    lakehouse, spark = Lakehouse.resolve(args.home), get_spark()
    truth = evaluation.read_truth(args.truth).set_index("account_id")
    stored = tables.read(spark, lakehouse, Table.TRAINING_SET)
    as_of = stored.agg(F.max("as_of")).first()[0]
    frame = stored.where(F.col("as_of") == F.lit(as_of)).orderBy(*ROW_ORDER).toPandas()
    train = frame[frame["split"] == TRAIN].reset_index(drop=True)
    model = classifier.train(train)
    train = train.assign(oof=model.oof_scores).join(truth, on="account_id")
    last = train[train["last_day"]]
    negatives = last[last["label"] == 0]
    print(f"training set as of {as_of}: {len(train):,} training rows; review threshold {model.threshold.value:.4f}")
    print(
        f"\n1. negatives (one row per account): {len(negatives):,}, of which {int(negatives['is_attack'].sum()):,} "
        f"are attackers in truth; the {args.top} highest out-of-fold scores:"
    )
    top = negatives.nlargest(args.top, "oof")[["account_id", "archetype", "is_attack", "label_name", "oof"]]
    print(top.to_string(index=False))
    benign = negatives[~negatives["is_attack"].astype(bool)]
    print(
        f"highest truly benign negative: {benign['oof'].max():.4f} ({benign.loc[benign['oof'].idxmax(), 'archetype']})"
    )
    positives = last[last["label"] == 1]
    print("\n2. labelled attackers, out-of-fold score by campaign type:")
    print(positives.groupby("archetype")["oof"].agg(["count", "median", "max"]).round(3).to_string())
    day = (
        tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS)
        .where(F.col("feature_date") == F.lit(as_of))
        .select("account_id", LINEAGE)
        .toPandas()
        .join(truth, on="account_id", how="inner")
    )
    day["strong"] = day[LINEAGE] > 0
    labelled = train[train["label"] == 1].assign(strong=lambda f: f[LINEAGE].astype(float) > 0)
    print(f"\n3. strong lineage link: labelled training rows vs accounts active on {as_of}")
    print(
        pd.DataFrame(
            {
                "labelled_rows": labelled.groupby("archetype")["strong"].mean(),
                f"active_{as_of}": day[day["is_attack"]].groupby("archetype")["strong"].mean(),
            }
        )
        .round(3)
        .to_string()
    )
    print(f"\n4. active accounts on {as_of} with a strong lineage link, by population:")
    counts = day.groupby(["population_kind", "archetype"])["strong"].agg(["size", "sum"])
    print(counts[counts["sum"] > 0].rename(columns={"size": "active", "sum": "strong_lineage"}).to_string())


if __name__ == "__main__":
    main()
