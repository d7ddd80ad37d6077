"""Scoring transformations on both engines: cluster lift, tiers, reasons, drift."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from distillguard.scoring.drift import bin_counts, edges, psi
from distillguard.scoring.policy import lift_to_clusters, risk_tiers

SCORED = "account_id string, cluster_id string, cluster_size long, score double, kyc_tier string, cluster_spend_28d double"


def _tiers(spark: SparkSession) -> dict:
    scored = spark.createDataFrame([
        ("a1", "c1", 3, 0.99, "basic", 100.0),     # suspend on its own score
        ("a2", "c1", 3, 0.10, "verified", 100.0),  # inherits 0.8 * 0.99 = 0.792 -> review
        ("a3", "c1", 3, 0.05, "none", 100.0),
        ("b1", "c2", 2, 0.30, "none", 4_700.0),    # 4700 * 30/28 = 5035.7 >= 5000, unverified -> kyc
        ("b2", "c2", 2, 0.20, "verified", 4_700.0),  # verified: no KYC rule, 0.24 < threshold
        ("s1", "solo", 1, 0.60, "none", 10.0),     # under threshold, nothing
        ("h1", "hub", 5000, 0.10, "none", 10.0),   # cluster too big to lift
        ("h2", "hub", 5000, 0.99, "none", 10.0),
    ], SCORED)
    rows = risk_tiers(lift_to_clusters(scored), threshold=0.7).collect()
    return {r.account_id: r for r in rows}


def test_lift_and_tiers(engine: SparkSession) -> None:
    got = _tiers(engine)
    assert got["a2"].final_score == pytest.approx(0.792) and got["a3"].final_score == pytest.approx(0.792)
    assert got["h1"].final_score == pytest.approx(0.10)
    assert {a: got[a].risk_tier for a in got} == {
        "a1": "suspend_recommended", "a2": "review", "a3": "review", "b1": "kyc_required", "b2": None,
        "s1": None, "h1": None, "h2": "suspend_recommended"}
    assert got["b1"].policy_reasons == [
        "cluster spend $5036/month at or over the $5000 KYC review threshold without verification"]
    assert got["a2"].policy_reasons == ["inherits 0.79 from its cluster's highest score",
                                        "model score 0.79 at or over threshold 0.70"]
    assert got["s1"].policy_reasons == []


def test_psi_and_bins(engine: SparkSession) -> None:
    training = pd.Series([1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    inner = edges(training, 2)
    assert inner == [4.5]
    df = engine.createDataFrame([(float(v),) for v in (1, 2, 4.5, 5, 9, 9)] + [(None,)], "x double")
    assert bin_counts(df, "x", inner).tolist() == [3.0, 3.0]
    assert psi(np.array([5.0, 5.0]), np.array([5.0, 5.0])) == 0.0
    assert psi(np.array([8.0, 2.0]), np.array([2.0, 8.0])) == pytest.approx(2 * 0.6 * math.log(4))
