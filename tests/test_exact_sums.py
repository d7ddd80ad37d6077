"""Double sums that do not depend on row order: the same logs write the same bits.

0.1 + 0.2 + 0.3 is 0.6000000000000001 added left to right and 0.6 right to left, so a plain
float sum of a day's costs depends on how the engine ordered the rows. ``exact_sum``
accumulates in a decimal and must give the double nearest the true sum in every order,
on both engines.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard.features.account_daily import exact_mean, exact_sum

ORDERS = ([0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.2, 0.3, 0.1])


def test_exact_sum_is_the_true_sum_in_every_row_order(engine: SparkSession) -> None:
    for order in ORDERS:
        rows = [("a", v) for v in order] + [("b", None), ("b", 1e-12), ("b", 2.5)]
        frame = engine.createDataFrame(rows, "k string, v double").repartition(1)
        got = {
            r["k"]: (r["total"], r["mean"])
            for r in frame.groupBy("k")
            .agg(exact_sum(F.col("v")).alias("total"), exact_mean(F.col("v")).alias("mean"))
            .collect()
        }
        # The mean is the exact sum divided in double: 0.6 / 3.
        assert got["a"] == (0.6, 0.19999999999999998)
        assert got["b"] == (2.500000000001, 1.2500000000005)
