"""Strong-link clusters, the component-size guard, weak-link features and stable ids, on both engines."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession

from distillguard.config import FEATURES
from distillguard.features.clusters import (
    account_clusters,
    cluster_features,
    components,
    dominant_templates,
    stable_ids,
    strong_links,
    weak_link_features,
)
from tests.rows import DAY

# A payment method held by 4 accounts is a reseller hub under this cap (production: 200).
SETTINGS = replace(FEATURES, payment_max_accounts=3)
ROLLING = (
    "account_id string, prompt_requests_28d long, requests_28d long, spend_usd_7d double, "
    "spend_usd_28d double, new_account boolean, proxy_requests_28d long, kyc_tier string, "
    "partner_payment_hit boolean, partner_prefix_requests_28d long, partner_template_requests_28d long"
)
ACCOUNTS = "account_id string, payment_fingerprint string, org_id string, payment_fingerprint_hmac string"
PEOPLE = ("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12", "r1", "r2", "r3", "r4")


def _rolling(spark: SparkSession) -> DataFrame:
    values = {
        "a1": (100, 100, 1.0, 10.0, True, 50, "none"),
        "a2": (100, 100, 2.0, 20.0, True, 0, "basic"),
        "a3": (100, 200, 3.0, 30.0, False, 50, "verified"),
    }
    return spark.createDataFrame(
        [
            (a, *values.get(a, (100, 100, 0.0, 1.0, False, 0, "verified")), False, 0, 1 if a in ("a4", "a5") else 0)
            for a in PEOPLE
        ],
        ROLLING,
    )


def _strong_inputs(spark: SparkSession):
    accounts = spark.createDataFrame(
        [
            ("a1", "p1", "org1", None),
            ("a2", "p1", "org1", None),
            # a3 shares a2's organisation and IP range only: weak, so never merged.
            ("a3", "p3", "org1", None),
            ("a7", "p7", None, "hx"),
            ("a8", "p8", None, "hx"),
            *[(r, "reseller", None, None) for r in ("r1", "r2", "r3", "r4")],
        ],
        ACCOUNTS,
    )
    indicators = spark.createDataFrame(
        [("payment_fingerprint_hmac", "hx"), ("prompt_template_hash", "t1"), ("ip_prefix", "23.0.0.0/24")],
        "indicator_type string, value string",
    )
    keys = spark.createDataFrame(
        [
            (DAY, "a4", "ua_template", "t1|aiohttp|-", 30),
            (DAY, "a5", "ua_template", "t1|curl|-", 25),
            (DAY, "a6", "ua_template", "t1|aiohttp|-", 5),  # t1 is not a6's dominant template
            (DAY, "a2", "ip_prefix", "23.0.0.0/24", 5),
            (DAY, "a3", "ip_prefix", "23.0.0.0/24", 5),
        ],
        "feature_date date, account_id string, key_type string, key string, requests long",
    )
    replay = spark.createDataFrame([("a6", "a9", 3)], "account_id string, source_account_id string, refs long")
    lockstep = spark.createDataFrame([("a11", "a12")], "account_id string, peer_id string")
    lineage = spark.createDataFrame(
        [("a3", "lineage", "i1"), ("a10", "lineage", "i1")], "account_id string, key_type string, key string"
    )
    return accounts, indicators, keys, replay, lockstep, lineage


def _materialize(df: DataFrame, _: int) -> DataFrame:
    """Test checkpoint: cut the lineage by collecting the (tiny) labels."""
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def _fresh(label: str) -> str:
    return "cl_" + hashlib.sha256(label.encode()).hexdigest()[:12]


def _clusters(spark: SparkSession):
    accounts, indicators, keys, replay, lockstep, lineage = _strong_inputs(spark)
    rolling = _rolling(spark)
    dominant = dominant_templates(keys, rolling, DAY, SETTINGS)
    edges = strong_links(accounts, indicators, rolling, dominant, replay, lockstep, lineage, SETTINGS)
    return rolling, dominant, edges


def test_dominant_templates_sum_a_key_over_the_window_and_name_each_template_once(engine: SparkSession) -> None:
    """Keys are counted under their two hashes (features/clusters.py::key_id), only those that
    dominate some day's keyed prompts, then named again."""
    keys = engine.createDataFrame(
        [
            # t1 dominates a1 under two keys (another user agent and system prompt): one row.
            (DAY, "a1", "ua_template", "t1|aiohttp|-", 30),
            (DAY, "a1", "ua_template", "t1|curl|s1", 30),
            # t2: 19 + 1 = 20 requests over the window, 20 >= 0.2 x 100 prompts: dominant.
            (DAY, "a1", "ua_template", "t2|aiohttp|-", 19),
            (DAY - timedelta(days=27), "a1", "ua_template", "t2|aiohttp|-", 1),
            # Outside the 28-day window: t4 never reaches 20 requests.
            (DAY - timedelta(days=28), "a1", "ua_template", "t4|aiohttp|-", 15),
            (DAY, "a1", "ua_template", "t4|aiohttp|-", 15),
            # 30 requests are under 0.2 x a2's 200 prompts.
            (DAY, "a2", "ua_template", "t3|aiohttp|-", 30),
            (DAY, "a2", "ip_prefix", "23.0.0.0/24", 90),
            # Only keys over the share of some day's keyed prompts are summed, but over every
            # day: t5 is 10 of 60 two days ago and 15 of 25 today, 25 >= 0.2 x 100 in all;
            # t6 is 50 of 60 on its one day; t7 (10) stays under 20 requests.
            (DAY - timedelta(days=2), "a3", "ua_template", "t5|aiohttp|-", 10),
            (DAY - timedelta(days=2), "a3", "ua_template", "t6|aiohttp|-", 50),
            (DAY, "a3", "ua_template", "t5|aiohttp|-", 15),
            (DAY, "a3", "ua_template", "t7|aiohttp|-", 10),
        ],
        "feature_date date, account_id string, key_type string, key string, requests long",
    )
    rolling = engine.createDataFrame(
        [("a1", 100), ("a2", 200), ("a3", 100)], "account_id string, prompt_requests_28d long"
    )
    dominant = dominant_templates(keys, rolling, DAY, SETTINGS)
    assert sorted(tuple(r) for r in dominant.collect()) == [("a1", "t1"), ("a1", "t2"), ("a3", "t5"), ("a3", "t6")]


def test_strong_links_only_and_the_size_guard(engine: SparkSession) -> None:
    rolling, dominant, edges = _clusters(engine)
    assert sorted(tuple(r) for r in dominant.collect()) == [("a4", "t1"), ("a5", "t1")]
    # No ip_prefix, org or partner-IP edge; the reseller's payment (4 holders > cap 3) links nobody.
    assert sorted(tuple(r) for r in edges.collect()) == [
        ("a1", "payment", "p1"),
        ("a10", "lineage", "i1"),
        ("a11", "lockstep", "a11|a12"),
        ("a12", "lockstep", "a11|a12"),
        ("a2", "payment", "p1"),
        ("a3", "lineage", "i1"),
        ("a4", "partner", "t1"),
        ("a5", "partner", "t1"),
        ("a6", "replay", "a9"),
        ("a7", "partner", "hx"),
        ("a8", "partner", "hx"),
        ("a9", "replay", "a9"),
    ]
    labels, iterations, converged = components(rolling, edges, _materialize)
    assert converged and iterations <= 3
    got = {r.account_id: r.label for r in labels.collect()}
    assert got == {
        "a1": "a1",
        "a2": "a1",
        "a3": "a10",
        "a10": "a10",
        "a4": "a4",
        "a5": "a4",
        "a6": "a6",
        "a9": "a6",
        "a7": "a7",
        "a8": "a7",
        "a11": "a11",
        "a12": "a11",
        "r1": "r1",
        "r2": "r2",
        "r3": "r3",
        "r4": "r4",
    }


def test_cluster_ids_are_inherited_then_fresh(engine: SparkSession) -> None:
    labels = engine.createDataFrame(
        [("a1", "a1"), ("a2", "a1"), ("a3", "a1"), ("a4", "a4"), ("a5", "a4"), ("a6", "a6")],
        "account_id string, label string",
    )
    previous = engine.createDataFrame(
        [("a1", "cl_old1"), ("a2", "cl_old1"), ("a4", "cl_old2"), ("a5", "cl_old3")],
        "account_id string, cluster_id string",
    )
    got = {r.account_id: r.cluster_id for r in stable_ids(labels, previous).collect()}
    assert got == {
        "a1": "cl_old1",
        "a2": "cl_old1",
        "a3": "cl_old1",
        "a4": "cl_old2",
        "a5": "cl_old2",
        "a6": _fresh("a6"),
    }
    first_day = {r.account_id: r.cluster_id for r in stable_ids(labels, None).collect()}
    assert first_day["a3"] == _fresh("a1")


def test_cluster_features(engine: SparkSession) -> None:
    rolling, dominant, edges = _clusters(engine)
    labels, _, _ = components(rolling, edges, _materialize)
    got = {
        r.account_id: r.asDict()
        for r in cluster_features(stable_ids(labels, None), edges, dominant, rolling, DAY, SETTINGS).collect()
    }
    a1 = got["a1"]
    assert (a1["cluster_id"], a1["cluster_size"], a1["cluster_spend_28d"], a1["cluster_spend_7d"]) == (
        _fresh("a1"),
        2,
        30.0,
        3.0,
    )
    assert a1["cluster_new_account_share"] == pytest.approx(1.0)
    assert a1["cluster_proxy_share"] == pytest.approx(0.25)
    assert a1["cluster_unverified_share"] == pytest.approx(1.0)
    assert (a1["link_types"], got["a3"]["link_types"], got["r1"]["link_types"]) == (["payment"], ["lineage"], [])
    assert (got["a4"]["cluster_template_overlap"], a1["cluster_template_overlap"]) == (1.0, 0.0)
    assert (got["a4"]["cluster_size"], got["a4"]["cluster_partner_hit_accounts"]) == (2, 2)
    assert got["r1"]["cluster_size"] == 1


def test_weak_links_are_counted_never_merged(engine: SparkSession) -> None:
    ids = engine.createDataFrame(
        [("a1", "c1"), ("a2", "c1"), ("a3", "c3"), ("a4", "c4"), ("a5", "c5")], "account_id string, cluster_id string"
    )
    keys = engine.createDataFrame(
        [
            ("a1", "ip_prefix", "10.0.0.0/24"),
            ("a2", "ip_prefix", "10.0.0.0/24"),
            ("a3", "ip_prefix", "10.0.0.0/24"),
            ("a1", "ip_prefix", "10.9.0.0/24"),
            ("a4", "ip_prefix", "10.9.0.0/24"),
            ("a5", "ip_prefix", "10.9.0.0/24"),
            ("a4", "ip_prefix", "10.8.0.0/24"),
            ("a1", "user_agent", "curl/8"),
            ("a4", "user_agent", "curl/8"),
            ("a2", "org", "o1"),
            ("a3", "org", "o1"),
        ],
        "account_id string, key_type string, key string",
    )
    got = {r.account_id: r.asDict() for r in weak_link_features(ids, keys).collect()}
    # a1: prefix 10.0.0.0/24 with its cluster peer a2 and outsider a3; 10.9.0.0/24 with two outsiders.
    assert (got["a1"]["weak_ip_prefix_cluster_peers"], got["a1"]["weak_ip_prefix_outside_accounts"]) == (1, 2)
    assert (got["a3"]["weak_ip_prefix_cluster_peers"], got["a3"]["weak_ip_prefix_outside_accounts"]) == (0, 2)
    assert (got["a1"]["weak_user_agent_outside_accounts"], got["a2"]["weak_user_agent_outside_accounts"]) == (1, 0)
    assert got["a2"]["weak_org_outside_accounts"] == 1
    assert got["a5"] == {
        "account_id": "a5",
        "weak_ip_prefix_cluster_peers": 0,
        "weak_ip_prefix_outside_accounts": 2,
        "weak_user_agent_cluster_peers": 0,
        "weak_user_agent_outside_accounts": 0,
        "weak_org_cluster_peers": 0,
        "weak_org_outside_accounts": 0,
    }


def test_account_clusters_fills_counts_and_lineage_share(engine: SparkSession) -> None:
    clusters = engine.createDataFrame(
        [(DAY, "a1", "c1"), (DAY, "a2", "c1"), (DAY, "a3", "c1"), (DAY, "a4", "c4")],
        "feature_date date, account_id string, cluster_id string",
    )
    replay = engine.createDataFrame(
        [("a1", 4, 3, 0.75, 1, 0)],
        "account_id string, replay_refs_sent_28d long, replay_foreign_refs_28d long, "
        "replay_foreign_share_28d double, replay_sources_28d long, "
        "replay_replayers_28d long",
    )
    sketches = engine.createDataFrame(
        [("a2", 10, 1, 3)],
        "account_id string, sketch_requests_28d long, weak_sketch_cluster_peers long, "
        "weak_sketch_outside_accounts long",
    )
    lockstep = engine.createDataFrame(
        [("a3", 1, 0.8)], "account_id string, lockstep_peers_7d long, lockstep_max_jaccard_7d double"
    )
    lineage = engine.createDataFrame(
        [("a2", 0, 1, 4)],
        "account_id string, lineage_strong_accounts long, lineage_weak_accounts long, lineage_days_since_decision int",
    )
    weak = engine.createDataFrame([("a1", 2)], "account_id string, weak_org_outside_accounts long")
    rows = account_clusters(clusters, replay, sketches, lockstep, lineage, weak)
    # The sketch family's weak-link columns sit with the other weak types, as the table has them.
    assert rows.columns[-4:] == [
        "weak_org_outside_accounts",
        "weak_sketch_cluster_peers",
        "weak_sketch_outside_accounts",
        "cluster_lineage_share",
    ]
    got = {r.account_id: r.asDict() for r in rows.collect()}
    assert [(got[a]["weak_sketch_cluster_peers"], got[a]["weak_sketch_outside_accounts"]) for a in ("a1", "a2")] == [
        (0, 0),
        (1, 3),
    ]
    assert got["a4"]["replay_foreign_refs_28d"] == 0 and got["a4"]["replay_foreign_share_28d"] is None
    assert (got["a1"]["lineage_strong_accounts"], got["a1"]["lineage_days_since_decision"]) == (0, None)
    assert got["a1"]["cluster_lineage_share"] == pytest.approx(1 / 3)
    assert got["a4"]["cluster_lineage_share"] == 0.0
    assert (got["a3"]["lockstep_peers_7d"], got["a1"]["lockstep_peers_7d"]) == (1, 0)
