"""The cluster step over a batch of dates (``feature_date`` in every key) against the same
step one date at a time, on both engines, with hand-computed weak-link counts and
label-propagation iterations."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard.config import FEATURES
from distillguard.features.clusters import components, components_dates, weak_keys, weak_keys_dates, weak_link_features
from distillguard.features.sketches import sketch_features, sketch_features_dates, window_buckets_dates
from distillguard.features.windows import dated

D1, D2 = date(2026, 11, 27), date(2026, 11, 28)
DAYS = [D1, D2]
KEYS_DAILY = "feature_date date, account_id string, key_type string, key string, requests long"
ACCOUNTS = "account_id string, org_id string"
IDS = {D1: {"a1": "c1", "a2": "c1", "a3": "c3"}, D2: {"a1": "c1", "a2": "c1", "a3": "c3"}}


def _keys(spark: SparkSession) -> DataFrame:
    """p1: a1 on 10-31 (in D1's 28 days (10-30, 11-27], not in D2's (10-31, 11-28]), a3 on
    D1, a2 on D2. User agent ua-x: a1 and a2 on 11-26 (both windows), a3 on D2."""
    return spark.createDataFrame(
        [
            (date(2026, 10, 31), "a1", "ip_prefix", "p1", 3),
            (D1, "a3", "ip_prefix", "p1", 1),
            (D2, "a2", "ip_prefix", "p1", 2),
            (date(2026, 11, 26), "a1", "user_agent", "ua-x", 5),
            (date(2026, 11, 26), "a2", "user_agent", "ua-x", 5),
            (D2, "a3", "user_agent", "ua-x", 1),
        ],
        KEYS_DAILY,
    )


def _accounts(spark: SparkSession, day: date) -> DataFrame:
    """a1 and a3 in organisation o1 on D1; a3 has left it by D2."""
    orgs = {D1: {"a1": "o1", "a3": "o1"}, D2: {"a1": "o1"}}[day]
    return spark.createDataFrame([(a, orgs.get(a)) for a in ("a1", "a2", "a3")], ACCOUNTS)


def _sketch_daily(spark: SparkSession) -> DataFrame:
    """Bucket 42 (band 0): a2 at two hours of D2, a3 at one hour of D2."""
    return spark.createDataFrame(
        [(D2, "a2", 0, 42, 9, 1), (D2, "a2", 0, 42, 10, 2), (D2, "a3", 0, 42, 9, 4)],
        "feature_date date, account_id string, band int, bucket long, hour int, requests long",
    )


def _rolling(spark: SparkSession, day: date) -> DataFrame:
    return spark.createDataFrame([(a,) for a in ("a1", "a2", "a3")], "account_id string")


def _ids(spark: SparkSession, day: date) -> DataFrame:
    return spark.createDataFrame(sorted(IDS[day].items()), "account_id string, cluster_id string")


def _union(spark: SparkSession, part) -> DataFrame:
    return dated(part(spark, D1), D1).unionByName(dated(part(spark, D2), D2))


def _per_date_weak(spark: SparkSession, day: date) -> dict[str, tuple]:
    keys = weak_keys(_keys(spark), _accounts(spark, day), _rolling(spark, day), day)
    return {r.account_id: tuple(r)[1:] for r in weak_link_features(_ids(spark, day), keys).collect()}


def _per_date_sketch(spark: SparkSession, day: date) -> dict[str, tuple]:
    return {r.account_id: tuple(r)[1:] for r in sketch_features(_sketch_daily(spark), day, _ids(spark, day)).collect()}


def test_weak_links_of_a_batch_equal_one_date_at_a_time(engine: SparkSession) -> None:
    buckets = window_buckets_dates(_sketch_daily(engine), DAYS, max(FEATURES.windows))
    keys = weak_keys_dates(_keys(engine), _union(engine, _accounts), _union(engine, _rolling), DAYS, FEATURES)
    batched = weak_link_features(_union(engine, _ids), keys, ("feature_date",))
    assert batched.columns[:2] == ["feature_date", "account_id"]
    got = {(r.feature_date, r.account_id): tuple(r)[2:] for r in batched.collect()}
    for day in DAYS:
        assert {a: v for (d, a), v in got.items() if d == day} == _per_date_weak(engine, day)

    def weak(day: date, account: str, kind: str) -> tuple[int, int]:
        row = batched.where((F.col("feature_date") == F.lit(day)) & (F.col("account_id") == account)).first()
        return row[f"weak_{kind}_cluster_peers"], row[f"weak_{kind}_outside_accounts"]

    # p1 on D1: a1 (10-31) and a3; on D2: a2 and a3 (a1's 10-31 row has left the window).
    assert [weak(D1, a, "ip_prefix") for a in ("a1", "a2", "a3")] == [(0, 1), (0, 0), (0, 1)]
    assert [weak(D2, a, "ip_prefix") for a in ("a1", "a2", "a3")] == [(0, 0), (0, 1), (0, 1)]
    # ua-x on D1: a1 and a2, both of c1; on D2 also a3 (of c3).
    assert [weak(D1, a, "user_agent") for a in ("a1", "a2", "a3")] == [(1, 0), (1, 0), (0, 0)]
    assert [weak(D2, a, "user_agent") for a in ("a1", "a2", "a3")] == [(1, 1), (1, 1), (0, 2)]
    # o1: a1 (c1) and a3 (c3) on D1; only a1 on D2 (held by one account: no link).
    assert [weak(D1, a, "org") for a in ("a1", "a2", "a3")] == [(0, 1), (0, 0), (0, 1)]
    assert [weak(D2, a, "org") for a in ("a1", "a2", "a3")] == [(0, 0), (0, 0), (0, 0)]
    # Bucket 42 on D2 only, a2 and a3 (a2's two hours are one bucket): no sketch row on D1.
    sketched = sketch_features_dates(buckets, _union(engine, _ids))
    got = {(r.feature_date, r.account_id): tuple(r)[2:] for r in sketched.collect()}
    for day in DAYS:
        assert {a: v for (d, a), v in got.items() if d == day} == _per_date_sketch(engine, day)
    assert {
        (r.feature_date, r.account_id): (r.weak_sketch_cluster_peers, r.weak_sketch_outside_accounts)
        for r in sketched.collect()
    } == {
        (D2, "a2"): (0, 1),
        (D2, "a3"): (0, 1),
    }
    window = {(r.feature_date, r.account_id): r.requests for r in buckets.collect()}
    assert window == {(D2, "a2"): 3, (D2, "a3"): 4}


def _materialize(df: DataFrame, _: int) -> DataFrame:
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def _edges(spark: SparkSession, day: date) -> DataFrame:
    """D1: a1 - a2 (payment x). D2: a chain a1 - a2 (x) - a3 (y)."""
    rows = [("a1", "payment", "x"), ("a2", "payment", "x")]
    if day == D2:
        rows += [("a2", "payment", "y"), ("a3", "payment", "y")]
    return spark.createDataFrame(rows, "account_id string, key_type string, key string")


def test_components_of_a_batch_equal_one_date_at_a_time(engine: SparkSession) -> None:
    accounts, edges = _union(engine, _rolling), _union(engine, _edges)
    for cap in (FEATURES.max_label_iterations, 2):
        labels, summary = components_dates(accounts, edges, _materialize, cap)
        got = {(r.feature_date, r.account_id): r.label for r in labels.collect()}
        for day in DAYS:
            alone, iterations, converged = components(_rolling(engine, day), _edges(engine, day), _materialize, cap)
            assert {a: lab for (d, a), lab in got.items() if d == day} == {
                r.account_id: r.label for r in alone.collect()
            }
            assert summary[day] == (iterations, converged)
        # D1 changes once (a2 takes a1), then a quiet iteration: 2. D2's chain needs two
        # changes (a3 takes a2, then a1), then a quiet one: 3, or 2 and unconverged at cap 2.
        assert summary[D1] == (2, True)
        assert summary[D2] == ((3, True) if cap > 2 else (2, False))
        assert {a: got[(D2, a)] for a in ("a1", "a2", "a3")} == {"a1": "a1", "a2": "a1", "a3": "a1"}
        assert {a: got[(D1, a)] for a in ("a1", "a2", "a3")} == {"a1": "a1", "a2": "a1", "a3": "a3"}
