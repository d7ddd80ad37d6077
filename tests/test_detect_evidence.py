"""Evidence at the operating point, on both engines, hand-computed: a strong lineage link
lifts a cluster to review, weak links (a shared IP prefix, a template sketch) flag nobody
alone, and suspects never serve as negatives."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard.config import FEATURES
from distillguard.features.clusters import components, strong_links
from distillguard.features.lineage import banned_as_of, lineage_edges, lineage_features, lineage_links
from distillguard.models.training_set import UNLABELLED_SOURCE, without_suspects
from distillguard.scoring.policy import lift_to_clusters, risk_tiers
from tests.rows import DAY

KEYS_DAILY = "feature_date date, account_id string, key_type string, key string, requests long"
REPLAYS = "feature_date date, account_id string, source_account_id string, refs long"


def _lineage_world(spark: SparkSession):
    """b1 banned 4 days before D. r1, r2 reuse its card (strong); w1 shares only a rare IP
    prefix with it (weak); s1 would have shared only a template-sketch bucket, which is no
    lineage key any more, so it appears nowhere."""
    incidents = spark.createDataFrame(
        [("i1", "b1", "distillation", DAY - timedelta(days=4))],
        "incident_id string, account_id string, label string, decided_on date",
    )
    accounts = spark.createDataFrame(
        [("b1", "card1", None, None), ("r1", "card1", None, None), ("r2", "card1", None, None)]
        + [(a, None, None, None) for a in ("w1", "s1")],
        "account_id string, payment_fingerprint string, org_id string, payment_fingerprint_hmac string",
    )
    keys = spark.createDataFrame(
        [
            (DAY - timedelta(days=10), "b1", "ip_prefix", "7.7.7.0/24", 40),
            (DAY, "w1", "ip_prefix", "7.7.7.0/24", 3),
        ],
        KEYS_DAILY,
    )
    replays = spark.createDataFrame([], REPLAYS)
    settings = replace(FEATURES, ip_prefix_max_accounts=20, payment_max_accounts=200)
    return lineage_links(banned_as_of(incidents, DAY), accounts, keys, replays, DAY, settings), accounts


def test_lineage_links_strong_and_weak_without_sketch(engine: SparkSession) -> None:
    links, _ = _lineage_world(engine)
    assert sorted((r.account_id, r.banned_id, r.strength, r.link_type) for r in links.collect()) == [
        ("r1", "b1", "strong", "payment"),
        ("r2", "b1", "strong", "payment"),
        ("w1", "b1", "weak", "ip_prefix"),
    ]
    got = {r.account_id: tuple(r)[1:] for r in lineage_features(links, DAY).collect()}
    assert got == {"r1": (1, 0, 4), "r2": (1, 0, 4), "w1": (0, 1, 4)}


def test_strong_lineage_lifts_its_cluster_and_a_weak_link_flags_nobody(engine: SparkSession) -> None:
    links, accounts = _lineage_world(engine)
    active = engine.createDataFrame([(a,) for a in ("r1", "r2", "w1", "s1")], "account_id string")
    empty_pairs = engine.createDataFrame([], "account_id string, peer_id string")
    edges = strong_links(
        accounts.where(F.col("account_id") != "b1"),  # the banned account is gone
        engine.createDataFrame([], "indicator_type string, value string"),
        active,
        engine.createDataFrame([], "account_id string, template string"),
        engine.createDataFrame([], "account_id string, source_account_id string"),
        empty_pairs,
        lineage_edges(links),
    )
    # r1 and r2 hold card1 and the incident i1: one component; w1 and s1 none.
    assert sorted((r.account_id, r.key_type, r.key) for r in edges.collect()) == [
        ("r1", "lineage", "i1"),
        ("r1", "payment", "card1"),
        ("r2", "lineage", "i1"),
        ("r2", "payment", "card1"),
    ]
    labels, _, converged = components(active, edges, lambda df, _: df)
    assert converged
    cluster = {r.account_id: r.label for r in labels.collect()}
    assert cluster == {"r1": "r1", "r2": "r1", "w1": "w1", "s1": "s1"}
    sizes = {"r1": 2, "r2": 2, "w1": 1, "s1": 1}
    types = {"r1": ["lineage", "payment"], "r2": ["lineage", "payment"], "w1": [], "s1": []}
    scores = {"r1": 0.90, "r2": 0.40, "w1": 0.69, "s1": 0.69}
    scored = engine.createDataFrame(
        [(a, cluster[a], sizes[a], types[a], scores[a], "verified", 0.0, 0.0) for a in sorted(scores)],
        "account_id string, cluster_id string, cluster_size long, link_types array<string>, score double, "
        "kyc_tier string, cluster_spend_28d double, spend_28d double",
    )
    got = {r.account_id: r for r in risk_tiers(lift_to_clusters(scored), threshold=0.7).collect()}
    # r2 inherits 0.8 x 0.90 = 0.72 >= 0.70 through its strong links; w1 (weak link to the
    # banned account) and s1 stay at their own 0.69: no tier.
    assert got["r2"].final_score == pytest.approx(0.72)
    assert {a: got[a].risk_tier for a in got} == {"r1": "review", "r2": "review", "w1": None, "s1": None}
    assert (
        got["r2"].policy_reasons[0]
        == "inherits 0.72 from cluster member r1 (score 0.90) through strong links: lineage, payment"
    )


ROWS = (
    "account_id string, cluster_id string, cluster_size double, label int, source string, "
    "lineage_strong_accounts double"
)


def test_suspects_are_dropped_from_the_negatives(engine: SparkSession) -> None:
    rows = engine.createDataFrame(
        [
            ("p1", "cA", 3.0, 1, "enforcement_review", 0.0),  # labelled positive in cluster cA
            ("u1", "cA", 3.0, 0, UNLABELLED_SOURCE, 0.0),  # shares cA with p1: suspect
            ("u2", "cB", 1.0, 0, UNLABELLED_SOURCE, 2.0),  # strong lineage link: suspect
            ("u3", "cC", 4.0, 0, UNLABELLED_SOURCE, 0.0),  # strong cluster without a positive: kept
            ("u4", None, None, 0, UNLABELLED_SOURCE, None),  # no cluster row: kept
            ("c1", "cA", 3.0, 0, "enforcement_review", 1.0),  # cleared by review: always kept
            ("u5", "cH", 5000.0, 0, UNLABELLED_SOURCE, 0.0),  # hub over the size guard: kept
            ("p2", "cH", 5000.0, 1, "enforcement_review", 0.0),
        ],
        ROWS,
    )
    kept = without_suspects(rows)
    assert kept.columns == rows.columns
    assert sorted(r.account_id for r in kept.collect()) == ["c1", "p1", "p2", "u3", "u4", "u5"]


def test_a_lift_that_flags_nobody_is_no_reason(engine: SparkSession) -> None:
    scored = engine.createDataFrame(
        [
            ("x1", "c9", 2, ["payment"], 0.50, "verified", 0.0, 0.0),
            ("x2", "c9", 2, ["payment"], 0.10, "verified", 0.0, 0.0),
        ],
        "account_id string, cluster_id string, cluster_size long, link_types array<string>, score double, "
        "kyc_tier string, cluster_spend_28d double, spend_28d double",
    )
    got = {r.account_id: r for r in risk_tiers(lift_to_clusters(scored), threshold=0.7).collect()}
    # x2 inherits 0.8 x 0.50 = 0.40, under 0.70: no tier and no reason to show.
    assert got["x2"].final_score == pytest.approx(0.40)
    assert (got["x2"].risk_tier, got["x2"].policy_reasons) == (None, [])
