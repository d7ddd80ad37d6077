"""Cluster linking, the hub rule, components and stable ids, on both engines."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from pyspark.sql import DataFrame, SparkSession

from distillguard.config import FEATURES
from distillguard.features.clusters import cluster_features, components, link_keys, stable_ids
from tests.rows import DAY

SETTINGS = replace(FEATURES, ip_prefix_max_accounts=3)
ROLLING = ("account_id string, prompt_requests_28d long, requests_28d long, spend_usd_7d double, "
           "spend_usd_28d double, new_account boolean, proxy_requests_28d long, kyc_tier string, "
           "partner_payment_hit boolean, partner_prefix_requests_28d long, partner_template_requests_28d long")


def _inputs(spark: SparkSession):
    keys = spark.createDataFrame([
        (DAY, "a2", "ip_prefix", "23.0.0.0/24", 5), (DAY, "a3", "ip_prefix", "23.0.0.0/24", 5),
        *[(DAY, a, "ip_prefix", "99.9.9.0/24", 1) for a in ("a1", "a4", "a5", "a6", "a7")],
        (DAY, "a4", "ua_template", "t1|aiohttp", 30), (DAY, "a5", "ua_template", "t1|aiohttp", 25),
        (DAY, "a6", "ua_template", "t1|aiohttp", 5),
        (DAY, "a7", "ua_template", "tp|curl", 1), (DAY, "a8", "ua_template", "tp|curl", 1),
    ], "feature_date date, account_id string, key_type string, key string, requests long")
    accounts = spark.createDataFrame([
        ("a1", "p1", None, "h1"), ("a2", "p1", None, "h1"), ("a3", "p3", None, "h3"), ("a4", None, None, None),
        ("a5", None, None, None), ("a6", "p6", None, "h6"), ("a7", "p7", None, "h7"), ("a8", "p8", None, "h8"),
    ], "account_id string, payment_fingerprint string, org_id string, payment_fingerprint_hmac string")
    # A partner-shared hub prefix stays a hub: partner IP keys get the IP cap.
    indicators = spark.createDataFrame([("prompt_template_hash", "tp"), ("ip_prefix", "99.9.9.0/24")],
                                       "indicator_type string, value string")
    rolling = spark.createDataFrame([
        ("a1", 100, 100, 1.0, 10.0, True, 50, "none", False, 0, 0),
        ("a2", 100, 100, 2.0, 20.0, True, 0, "basic", False, 0, 0),
        ("a3", 100, 200, 3.0, 30.0, False, 50, "verified", False, 0, 0),
        ("a4", 100, 100, 0.0, 1.0, True, 0, "none", False, 0, 0),
        ("a5", 50, 50, 0.0, 1.0, True, 0, "none", False, 0, 0),
        ("a6", 100, 100, 0.0, 1.0, False, 0, "verified", False, 0, 0),
        ("a7", 10, 10, 0.0, 1.0, True, 0, "none", False, 0, 1),
        ("a8", 10, 10, 0.0, 1.0, True, 0, "none", False, 0, 1),
    ], ROLLING)
    return keys, accounts, indicators, rolling


def _materialize(df: DataFrame, _: int) -> DataFrame:
    """Test checkpoint: cut the lineage by collecting the (tiny) labels."""
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def _fresh(label: str) -> str:
    return "cl_" + hashlib.sha256(label.encode()).hexdigest()[:12]


def test_links_components_and_hub_rule(engine: SparkSession) -> None:
    keys, accounts, indicators, rolling = _inputs(engine)
    edges = link_keys(keys, accounts, indicators, rolling, DAY, SETTINGS)
    assert sorted(tuple(r) for r in edges.collect()) == [
        ("a1", "payment", "p1"), ("a2", "ip_prefix", "23.0.0.0/24"), ("a2", "payment", "p1"),
        ("a3", "ip_prefix", "23.0.0.0/24"), ("a4", "ua_template", "t1|aiohttp"),
        ("a5", "ua_template", "t1|aiohttp"), ("a7", "partner", "tp"), ("a8", "partner", "tp")]
    labels, iterations, converged = components(rolling, edges, _materialize)
    assert converged and iterations <= 3
    assert {r.account_id: r.label for r in labels.collect()} == {
        "a1": "a1", "a2": "a1", "a3": "a1", "a4": "a4", "a5": "a4", "a6": "a6", "a7": "a7", "a8": "a7"}


def test_cluster_ids_are_inherited_then_fresh(engine: SparkSession) -> None:
    labels = engine.createDataFrame([("a1", "a1"), ("a2", "a1"), ("a3", "a1"), ("a4", "a4"), ("a5", "a4"),
                                     ("a6", "a6")], "account_id string, label string")
    previous = engine.createDataFrame([("a1", "cl_old1"), ("a2", "cl_old1"), ("a4", "cl_old2"),
                                       ("a5", "cl_old3")], "account_id string, cluster_id string")
    got = {r.account_id: r.cluster_id for r in stable_ids(labels, previous).collect()}
    assert got == {"a1": "cl_old1", "a2": "cl_old1", "a3": "cl_old1", "a4": "cl_old2", "a5": "cl_old2",
                   "a6": _fresh("a6")}
    first_day = {r.account_id: r.cluster_id for r in stable_ids(labels, None).collect()}
    assert first_day["a3"] == _fresh("a1")


def test_cluster_features(engine: SparkSession) -> None:
    keys, accounts, indicators, rolling = _inputs(engine)
    edges = link_keys(keys, accounts, indicators, rolling, DAY, SETTINGS)
    labels, _, _ = components(rolling, edges, _materialize)
    got = {r.account_id: r.asDict() for r in
           cluster_features(stable_ids(labels, None), edges, rolling, DAY, SETTINGS).collect()}
    a1 = got["a1"]
    assert (a1["cluster_id"], a1["cluster_size"], a1["cluster_spend_28d"], a1["cluster_spend_7d"]) == \
        (_fresh("a1"), 3, 60.0, 6.0)
    assert a1["cluster_new_account_share"] == pytest.approx(2 / 3)
    assert a1["cluster_proxy_share"] == pytest.approx(0.25)
    assert a1["cluster_unverified_share"] == pytest.approx(2 / 3)
    assert (a1["link_types"], got["a2"]["link_types"], got["a6"]["link_types"]) == \
        (["payment"], ["ip_prefix", "payment"], [])
    assert (got["a4"]["cluster_template_overlap"], a1["cluster_template_overlap"]) == (1.0, 0.0)
    assert (got["a7"]["cluster_size"], got["a7"]["cluster_partner_hit_accounts"]) == (2, 2)
    assert got["a6"]["cluster_size"] == 1
