"""Are the feature tables of two lakehouses equal? Integers, strings, booleans, dates and
arrays exactly; doubles exactly or, where summation order differs, to a relative 1e-9.

    python benchmarks/compare_feature_tables.py --old /tmp/fb-old --new /tmp/fb-new [--since 2026-11-01]
        [--tables account_clusters account_rolling]

Use it after building the same features from the same landing data with two versions of
the code (e.g. ``benchmarks/features_backfill.py --whole`` on two copies of one lakehouse).
For each table it prints the row counts, whether the schemas match (names, types, order),
the rows of either side missing from the other (multiset difference of whole rows), and,
when there are some, whether they differ only in double columns: both sides are joined on
every other column (a key checked to be unique) and each double compared. Exits 1 when a
table differs beyond that.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.engine import get_spark

COMPARED = (
    (Table.ACCOUNT_CLUSTERS, "feature_date"),
    (Table.REQUEST_SIGNALS, "event_date"),
    (Table.MODEL_DAILY, "feature_date"),
    (Table.ACCOUNT_DAILY, "feature_date"),
    (Table.ACCOUNT_KEYS, "feature_date"),
    (Table.ACCOUNT_ROLLING, "feature_date"),
    (Table.SKETCH_DAILY, "feature_date"),
    (Table.REPLAY_DAILY, "feature_date"),
    (Table.LOCKSTEP_DAILY, "feature_date"),
)
"""Compared in this order: account_clusters (the slowest to build, the one most code touches) first."""
RELATIVE = 1e-9


def _close(a: Column, b: Column) -> Column:
    both_null = a.isNull() & b.isNull()
    both_nan = F.isnan(a) & F.isnan(b)
    near = F.abs(a - b) <= F.lit(RELATIVE) * F.greatest(F.abs(a), F.abs(b)) + F.lit(1e-300)
    return F.coalesce(both_null | both_nan | (a == b) | near, F.lit(False))


def _all(conditions: list[Column]) -> Column:
    """AND of the conditions as a balanced tree (a chain of ~100 exceeds Spark Connect's plan depth)."""
    if len(conditions) == 1:
        return conditions[0]
    middle = len(conditions) // 2
    return _all(conditions[:middle]) & _all(conditions[middle:])


def _doubles_only(old: DataFrame, new: DataFrame) -> tuple[bool, str]:
    """Join the differing rows on every non-double column (as one JSON key); True when each
    pair of doubles is close."""
    doubles = [f.name for f in old.schema.fields if isinstance(f.dataType, (DoubleType, FloatType))]
    keys = [c for c in old.columns if c not in doubles]
    if not doubles:
        return False, "no double columns: the difference is exact"
    for side, df in (("old", old), ("new", new)):
        if df.select(*keys).distinct().count() != df.count():
            return False, f"non-double columns are not a unique key on the {side} side"
    key = F.to_json(F.struct(*keys)).alias("key")
    a = old.select(key, *[F.col(d).alias(f"a_{d}") for d in doubles])
    b = new.select(key, *[F.col(d).alias(f"b_{d}") for d in doubles])
    joined = a.join(b, "key")
    lonely = a.join(b, "key", "left_anti").count() + b.join(a, "key", "left_anti").count()
    far = joined.where(~_all([_close(F.col(f"a_{d}"), F.col(f"b_{d}")) for d in doubles]))
    far_count = far.count()
    if lonely or far_count:
        return False, f"{lonely} rows without a partner, {far_count} pairs beyond rel {RELATIVE}"
    worst = joined.select(
        F.max(
            F.greatest(
                *[
                    F.coalesce(
                        F.abs(F.col(f"a_{d}") - F.col(f"b_{d}"))
                        / F.greatest(F.abs(F.col(f"a_{d}")), F.abs(F.col(f"b_{d}")), F.lit(1e-300)),
                        F.lit(0.0),
                    )
                    for d in doubles
                ],
                F.lit(0.0),
            )
        )
    ).first()[0]
    return True, f"same keys; doubles within relative {worst:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="lakehouse built by the reference code")
    parser.add_argument("--new", required=True, help="lakehouse built by the code under test")
    parser.add_argument("--since", type=date.fromisoformat, help="compare only partitions from this date on")
    parser.add_argument(
        "--tables", nargs="+", metavar="NAME", help="compare only these tables (e.g. account_clusters); default all"
    )
    args = parser.parse_args()
    compared = [(t, c) for t, c in COMPARED if not args.tables or t.value.split("/")[-1] in args.tables]
    if args.tables and len(compared) != len(args.tables):
        known = ", ".join(t.value.split("/")[-1] for t, _ in COMPARED)
        parser.error(f"--tables takes names among: {known}")
    spark = get_spark()
    old_home, new_home = Lakehouse.resolve(args.old), Lakehouse.resolve(args.new)
    failed = False
    for table, column in compared:
        if not (tables.exists(old_home, table) and tables.exists(new_home, table)):
            print(f"{table.value:<32} missing on one side")
            failed = True
            continue
        old, new = tables.read(spark, old_home, table), tables.read(spark, new_home, table)
        if args.since is not None:
            old, new = old.where(F.col(column) >= F.lit(args.since)), new.where(F.col(column) >= F.lit(args.since))
        counts = f"{old.count():>10,} / {new.count():>10,} rows"
        if [(f.name, f.dataType) for f in old.schema.fields] != [(f.name, f.dataType) for f in new.schema.fields]:
            print(f"{table.value:<32} {counts}  SCHEMAS DIFFER")
            failed = True
            continue
        only_old, only_new = old.exceptAll(new), new.exceptAll(old)
        missing = (only_old.count(), only_new.count())
        if missing == (0, 0):
            print(f"{table.value:<32} {counts}  identical", flush=True)
            continue
        ok, why = _doubles_only(only_old, only_new)
        print(f"{table.value:<32} {counts}  {missing[0]:,} / {missing[1]:,} rows differ: {why}", flush=True)
        failed = failed or not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
