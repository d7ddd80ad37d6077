"""The window step's cheaper formulations, on both engines: lineage caps counted only for the
banned accounts' keys, weak keys as distinct keys of the window (hand-computed values)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pyspark.sql import SparkSession

from distillguard.config import FEATURES
from distillguard.features.clusters import weak_keys
from distillguard.features.lineage import banned_as_of, lineage_features, lineage_links
from tests.rows import DAY

SKETCH_DAILY = "feature_date date, account_id string, band int, bucket long, hour int, requests long"
KEYS_DAILY = "feature_date date, account_id string, key_type string, key string, requests long"


def test_lineage_sketch_cap_counts_every_holder_of_a_banned_key(engine: SparkSession) -> None:
    settings = replace(FEATURES, sketch_hub_accounts=3, lineage_lookback_days=90)
    incidents = engine.createDataFrame(
        [("i1", "b1", "distillation", DAY - timedelta(days=5)), ("i2", "b2", "distillation", DAY - timedelta(days=3))],
        "incident_id string, account_id string, label string, decided_on date",
    )
    accounts = engine.createDataFrame(
        [(a, None, None) for a in ("b1", "b2", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8")],
        "account_id string, payment_fingerprint string, org_id string",
    )
    keys = engine.createDataFrame([], KEYS_DAILY)
    d1, d2 = DAY - timedelta(days=1), DAY - timedelta(days=2)
    sketches = engine.createDataFrame(
        [
            # bucket 10: b1, n1 (on two days, one holder), n2 -> 3 holders, at the cap
            (d1, "b1", 0, 10, 9, 1),
            (DAY, "n1", 0, 10, 9, 1),
            (d2, "n1", 1, 10, 3, 1),
            (DAY, "n2", 0, 10, 9, 1),
            # bucket 20: b1 and three others -> 4 holders, over the cap: links nobody
            *[(DAY, a, 0, 20, 9, 1) for a in ("b1", "n3", "n4", "n5")],
            # bucket 30: two banned accounts and n6 -> everyone links to the other banned ones
            *[(DAY, a, 0, 30, 9, 1) for a in ("b1", "b2", "n6")],
            # bucket 40: no banned holder
            *[(DAY, a, 0, 40, 9, 1) for a in ("n7", "n8")],
        ],
        SKETCH_DAILY,
    )
    replays = engine.createDataFrame([], "feature_date date, account_id string, source_account_id string, refs long")
    links = lineage_links(banned_as_of(incidents, DAY), accounts, keys, sketches, replays, DAY, settings)
    assert sorted((r.account_id, r.banned_id, r.strength, r.link_type) for r in links.collect()) == [
        ("b1", "b2", "weak", "sketch"),
        ("b2", "b1", "weak", "sketch"),
        ("n1", "b1", "weak", "sketch"),
        ("n2", "b1", "weak", "sketch"),
        ("n6", "b1", "weak", "sketch"),
        ("n6", "b2", "weak", "sketch"),
    ]
    got = {r.account_id: tuple(r)[1:] for r in lineage_features(links, DAY).collect()}
    assert got == {"b1": (0, 1, 3), "b2": (0, 1, 5), "n1": (0, 1, 5), "n2": (0, 1, 5), "n6": (0, 2, 3)}


def test_lineage_payment_cap_counts_holders_that_are_not_banned(engine: SparkSession) -> None:
    settings = replace(FEATURES, payment_max_accounts=2)
    incidents = engine.createDataFrame(
        [("i1", "b1", "distillation", DAY - timedelta(days=1))],
        "incident_id string, account_id string, label string, decided_on date",
    )
    accounts = engine.createDataFrame(
        [("b1", "p1", None), ("n1", "p1", None), ("b1x", "p2", None), ("n2", "p2", None), ("n3", "p2", None)],
        "account_id string, payment_fingerprint string, org_id string",
    )
    accounts = accounts.unionByName(
        engine.createDataFrame([("b1", "p2", None)], "account_id string, payment_fingerprint string, org_id string")
    )
    links = lineage_links(
        banned_as_of(incidents, DAY),
        accounts,
        engine.createDataFrame([], KEYS_DAILY),
        engine.createDataFrame([], SKETCH_DAILY),
        engine.createDataFrame([], "feature_date date, account_id string, source_account_id string, refs long"),
        DAY,
        settings,
    )
    # p1: b1 and n1 (2 <= cap) links n1 strongly; p2: b1x, n2, n3, b1 (4 > cap) links nobody.
    assert [(r.account_id, r.banned_id, r.strength, r.link_type) for r in links.collect()] == [
        ("n1", "b1", "strong", "payment")
    ]


def test_weak_keys_are_the_distinct_keys_of_active_accounts_in_the_window(engine: SparkSession) -> None:
    keys_daily = engine.createDataFrame(
        [
            (DAY, "a1", "ua_template", "t1|curl/8|-", 5),
            (DAY - timedelta(days=1), "a1", "ua_template", "t2|curl/8|s1", 7),
            (DAY, "a1", "ip_prefix", "10.0.0.0/24", 1),
            (DAY - timedelta(days=3), "a1", "ip_prefix", "10.0.0.0/24", 2),
            (DAY - timedelta(days=28), "a1", "ip_prefix", "10.9.0.0/24", 4),  # outside the 28-day window
            (DAY + timedelta(days=1), "a1", "ip_prefix", "10.8.0.0/24", 4),  # after the day
            (DAY, "a9", "ip_prefix", "10.0.0.0/24", 3),  # not active on the day
        ],
        KEYS_DAILY,
    )
    accounts = engine.createDataFrame([("a1", "o1"), ("a2", "o1"), ("a9", "o1")], "account_id string, org_id string")
    buckets = engine.createDataFrame(
        [("a2", 0, 77, 3), ("a2", 1, 88, 3), ("a9", 0, 77, 1)],
        "account_id string, band int, bucket long, requests long",
    )
    rolling_day = engine.createDataFrame([("a1",), ("a2",)], "account_id string")
    got = sorted(tuple(r) for r in weak_keys(keys_daily, accounts, buckets, rolling_day, DAY).collect())
    assert got == [
        ("a1", "ip_prefix", "10.0.0.0/24"),
        ("a1", "org", "o1"),
        ("a1", "user_agent", "curl/8"),
        ("a2", "org", "o1"),
        ("a2", "sketch", "77"),
        ("a2", "sketch", "88"),
    ]
