"""Key-only dedupe (``first_per_key``, ``classify_days``) keeps exactly the rows a window over
every row keeps, and classifies them as the join with stored keys does, on both engines."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from distillguard.ingest.common import first_by, first_per_key
from distillguard.ingest.requests import DEDUPE_ORDER, classify_days, special_ids

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
T1, T2 = datetime(2026, 11, 2, 1), datetime(2026, 11, 2, 2)
BATCH = [
    # request_id, event_date, source_file, ts, account_id, payload
    ("a", D2, "redelivered", T1, "x", "a-redelivered"),
    ("a", D2, "part-1", T1, "x", "a-part-1"),
    ("a", D2, "part-1", T1, "x", "a-part-1"),
    ("e", D2, "part-2", T2, "x", "e-late"),
    ("e", D2, "part-2", T1, "x", "e-early"),
    ("b", D2, "part-1", T1, "x", "b"),
    ("c", D1, "part-2", T1, "x", "c"),
    ("d", D1, "part-2", T1, "x", "d"),
    ("f", D1, "part-2", T1, "y", "f-y"),
    ("f", D1, "part-2", T1, "x", "f-x"),
    ("g", D2, "part-1", T2, "x", "g"),
]
SCHEMA = "request_id string, event_date date, source_file string, ts timestamp, account_id string, payload string"
# c and f stored by another folder date (duplicates), d by an earlier attempt of D2; b's id
# is stored on another event date, which is another request.
STORED = [("c", D1, D1), ("d", D1, D2), ("b", D1, D1), ("f", D1, D1)]
STORED_SCHEMA = "request_id string, event_date date, landing_date date"


def _window_over_every_row(batch: DataFrame, stored: DataFrame, landing_date: date) -> DataFrame:
    """The reference: a window over every row of one folder date, then a join with every stored key."""
    first = batch.withColumn("_n", F.row_number().over(Window.partitionBy("request_id").orderBy(*DEDUPE_ORDER))).where(
        F.col("_n") == 1
    )
    prior = stored.select("event_date", "request_id", F.col("landing_date").alias("_from"))
    outcome = (
        F.when(F.col("_from").isNull(), F.lit("new"))
        .when(F.col("_from") == F.lit(landing_date), F.lit("accepted_before"))
        .otherwise(F.lit("duplicate"))
    )
    return first.drop("_n").join(prior, ["event_date", "request_id"], "left").withColumn("outcome", outcome)


@pytest.mark.parametrize("held", [False, True], ids=["ids_in_plan", "ids_held"])
def test_classify_days_keeps_the_first_copy_and_classifies_it(engine: SparkSession, held: bool) -> None:
    batch = engine.createDataFrame(BATCH, SCHEMA).withColumn("landing_date", F.lit(D2))
    stored = engine.createDataFrame(STORED, STORED_SCHEMA)
    ids = sorted(r.request_id for r in special_ids(batch, stored).collect())
    assert ids == ["a", "c", "d", "e", "f"]
    special = engine.createDataFrame([(i,) for i in ids], "request_id string") if held else None
    got = classify_days(batch, stored, special)
    assert got.columns == [
        "event_date",
        "request_id",
        "source_file",
        "ts",
        "account_id",
        "payload",
        "landing_date",
        "outcome",
    ]
    rows = sorted((r.request_id, r.payload, r.outcome) for r in got.collect())
    assert rows == [
        ("a", "a-part-1", "new"),
        ("b", "b", "new"),
        ("c", "c", "duplicate"),
        ("d", "d", "accepted_before"),
        ("e", "e-early", "new"),
        ("f", "f-x", "duplicate"),
        ("g", "g", "new"),
    ]
    window = _window_over_every_row(batch, stored, D2)
    assert sorted(map(tuple, got.collect())) == sorted(map(tuple, window.select(*got.columns).collect()))


def test_classify_days_with_nothing_stored(engine: SparkSession) -> None:
    batch = engine.createDataFrame(BATCH, SCHEMA).withColumn("landing_date", F.lit(D2))
    stored = engine.createDataFrame([], STORED_SCHEMA)
    rows = sorted((r.request_id, r.payload, r.outcome) for r in classify_days(batch, stored).collect())
    assert [r[:2] for r in rows] == [
        ("a", "a-part-1"),
        ("b", "b"),
        ("c", "c"),
        ("d", "d"),
        ("e", "e-early"),
        ("f", "f-x"),
        ("g", "g"),
    ]
    assert {r[2] for r in rows} == {"new"}


def test_first_per_key_equals_a_window_over_every_row(engine: SparkSession) -> None:
    rows = engine.createDataFrame(
        [
            ("i1", "a1", "incidents_01.csv", "benign"),
            ("i1", "a1", "incidents_02.csv", "distillation"),  # a revision in a later file wins
            ("i1", "a2", "incidents_01.csv", "benign"),
            ("i2", "a1", "incidents_02.csv", "other_abuse"),
            ("i2", "a1", "incidents_02.csv", "benign"),  # same file: ties break on every column
            ("i3", "a3", "incidents_01.csv", "benign"),
        ],
        "incident_id string, account_id string, source_file string, label string",
    )
    key = ["incident_id", "account_id"]
    order = [F.col("source_file").desc(), *sorted(rows.columns)]
    got = first_per_key(rows, key, order)
    assert got.columns == rows.columns
    assert sorted((r.incident_id, r.account_id, r.label) for r in got.collect()) == [
        ("i1", "a1", "distillation"),
        ("i1", "a2", "benign"),
        ("i2", "a1", "benign"),
        ("i3", "a3", "benign"),
    ]
    assert sorted(map(tuple, got.collect())) == sorted(map(tuple, first_by(rows, key, order).collect()))
