"""Scoring transformations on both engines: cluster lift, tiers, reasons, drift."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from distillguard.scoring.drift import bin_counts, edges, psi
from distillguard.scoring.policy import lift_to_clusters, risk_tiers

SCORED = (
    "account_id string, cluster_id string, cluster_size long, link_types array<string>, score double, "
    "kyc_tier string, cluster_spend_28d double, spend_28d double"
)
PAY, REPLAY = ["payment"], ["lockstep", "replay"]


def _tiers(spark: SparkSession) -> dict:
    scored = spark.createDataFrame(
        [
            ("a1", "c1", 3, PAY, 0.99, "basic", 100.0, 90.0),  # suspend on its own score
            ("a2", "c1", 3, PAY, 0.10, "verified", 100.0, 5.0),  # inherits 0.8 * 0.99 = 0.792 -> review
            ("a3", "c1", 3, PAY, 0.05, "none", 100.0, 5.0),
            ("b1", "c2", 2, REPLAY, 0.30, "none", 4_700.0, 100.0),  # pooled 4700 * 30/28 = 5035.7, unverified -> kyc
            ("b2", "c2", 2, REPLAY, 0.20, "verified", 4_700.0, 4_600.0),  # verified: no KYC, 0.24 < threshold
            ("s1", "solo", 1, [], 0.60, "none", 10.0, 10.0),  # under threshold, nothing
            ("s2", "solo2", 1, [], 0.10, "basic", 4_700.0, 4_700.0),  # its own spend over the KYC line
            # Component-size guard: a 5,000-member cluster neither lifts nor pools spend.
            ("h1", "hub", 5000, PAY, 0.10, "none", 900_000.0, 10.0),
            ("h2", "hub", 5000, PAY, 0.99, "none", 900_000.0, 10.0),
            # Only strong links lift: a (legacy) cluster without strong link types is ignored.
            ("w1", "weak", 2, [], 0.99, "verified", 10.0, 5.0),
            ("w2", "weak", 2, [], 0.10, "none", 9_000.0, 10.0),
        ],
        SCORED,
    )
    rows = risk_tiers(lift_to_clusters(scored), threshold=0.7).collect()
    return {r.account_id: r for r in rows}


def test_lift_and_tiers(engine: SparkSession) -> None:
    got = _tiers(engine)
    assert got["a2"].final_score == pytest.approx(0.792) and got["a3"].final_score == pytest.approx(0.792)
    assert (got["h1"].final_score, got["w2"].final_score) == (pytest.approx(0.10), pytest.approx(0.10))
    assert {a: got[a].risk_tier for a in got} == {
        "a1": "suspend_recommended",
        "a2": "review",
        "a3": "review",
        "b1": "kyc_required",
        "b2": None,
        "s1": None,
        "s2": "kyc_required",
        "h1": None,
        "h2": "suspend_recommended",
        "w1": "suspend_recommended",
        "w2": None,
    }
    assert got["b1"].policy_reasons == [
        "cluster spend $5036/month (strong links: lockstep, replay) at or over the $5000 KYC review threshold "
        "without verification"
    ]
    assert got["s2"].policy_reasons == [
        "spend $5036/month at or over the $5000 KYC review threshold without verification"
    ]
    assert got["a2"].policy_reasons == [
        "inherits 0.79 from cluster member a1 (score 0.99) through strong links: payment",
        "model score 0.79 at or over threshold 0.70",
    ]
    assert got["s1"].policy_reasons == [] and got["h1"].policy_reasons == []


def test_psi_and_bins(engine: SparkSession) -> None:
    training = pd.Series([1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    inner = edges(training, 2)
    assert inner == [4.5]
    df = engine.createDataFrame([(float(v),) for v in (1, 2, 4.5, 5, 9, 9)] + [(None,)], "x double")
    assert bin_counts(df, "x", inner).tolist() == [3.0, 3.0]
    assert psi(np.array([5.0, 5.0]), np.array([5.0, 5.0])) == 0.0
    assert psi(np.array([8.0, 2.0]), np.array([2.0, 8.0])) == pytest.approx(2 * 0.6 * math.log(4))
