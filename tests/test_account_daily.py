"""Daily per-account features on both engines, against values worked out by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard.features.account_daily import DISTINCT, account_daily, distinct_counts
from distillguard.features.fingerprint import template_fingerprint
from distillguard.features.models_reference import model_daily, models_as_of
from distillguard.features.request_signals import request_signals
from tests.rows import DAY, raw_frame, request

COT = "Solve the following problem. Show your complete reasoning step by step: {}"
CHAT = "what is game theory in plain words"
ACCOUNTS = (
    "account_id string, created_at timestamp, billing_country string, kyc_tier string, "
    "plan string, zero_data_retention boolean, payment_fingerprint_hmac string, email_domain string"
)
INDICATORS = "indicator_type string, value string, first_seen date, confidence double"
MODEL_DAILY = "feature_date date, model string, first_ts timestamp, requests long, reasoning_requests long"
# Intent as the scorer would have marked it (the scorer itself is tested in test_request_signals).
INTENT_HITS = {"r1": True, "r2": False, "r4": False}


def models_reference(spark: SparkSession, signals: DataFrame) -> DataFrame:
    """Data since 2026-10-24; orion-2 first appears the evening before DAY and returns
    reasoning tokens; atlas-4-reasoning never does (a name proves nothing)."""
    history = spark.createDataFrame(
        [
            (date(2026, 10, 24), "atlas-4", datetime(2026, 10, 24, 0, 5), 500, 0),
            (date(2026, 10, 24), "atlas-4-reasoning", datetime(2026, 10, 24, 1), 50, 0),
            (date(2026, 11, 2), "orion-2", datetime(2026, 11, 2, 22), 40, 40),
        ],
        MODEL_DAILY,
    )
    return models_as_of(history.unionByName(model_daily(signals, DAY)), DAY)


def _daily(spark: SparkSession) -> dict:
    raw = raw_frame(
        spark,
        [
            request(
                "r1",
                "A",
                "2026-11-03T10:00:00",
                prompt_text=COT.format("12 * 7 - 5"),
                cost_usd=0.10,
                asn_kind="proxy_vpn",
                temperature=0.0,
                logprobs=True,
                top_logprobs=5,
                finish_reason="length",
                completion_tokens=1024,
                max_tokens=1024,
                model="orion-2",
                reasoning_tokens=800,
                latency_ms=3000,
            ),
            request(
                "r2",
                "A",
                "2026-11-03T10:00:10",
                prompt_text=COT.format("3 * 4 - 1"),
                cost_usd=0.10,
                asn_kind="hosting",
                country="DE",
                client_ip="23.1.9.9",
                temperature=0.0,
                n=2,
                top_p=0.5,
                model="orion-2",
                reasoning_tokens=100,
                latency_ms=1000,
            ),
            request(
                "r3",
                "A",
                "2026-11-03T10:00:20",
                prompt_text=None,
                cost_usd=0.05,
                status=500,
                client_ip="23.1.2.4",
                completion_tokens=0,
                finish_reason="content_filter",
                latency_ms=None,
                model="atlas-4-reasoning",
            ),
            request(
                "r4",
                "B",
                "2026-11-03T01:00:00",
                prompt_text=CHAT,
                cost_usd=0.02,
                api_key_id="k2",
                user_agent="curl/8.5.0",
                stream=True,
                asn=8000,
            ),
            request(
                "r5", "B", "2026-11-03T13:30:00", prompt_text="Implement a trie in rust", cost_usd=0.03, stream=True
            ),
        ],
    )
    accounts = spark.createDataFrame(
        [
            ("A", datetime(2026, 10, 24, 8), "US", "none", "payg", False, "h1", "swarm.example"),
            ("B", datetime(2025, 11, 3, 8), "DE", "verified", "scale", False, "h2", "mail.example"),
            ("C", datetime(2026, 10, 30, 8), "US", "none", "free", False, None, "swarm.example"),
            ("D", datetime(2026, 11, 1, 8), "US", "none", "free", False, None, "mail.example"),
        ],
        ACCOUNTS,
    )
    indicators = spark.createDataFrame(
        [
            ("payment_fingerprint_hmac", "h1", date(2026, 11, 1), 0.9),
            ("ip_prefix", "23.1.9.0/24", date(2026, 11, 2), 0.6),
            ("ip_prefix", "23.1.9.0/24", date(2026, 11, 2), 0.7),
            ("prompt_template_hash", template_fingerprint(CHAT), date(2026, 11, 3), 0.4),
        ],
        INDICATORS,
    )
    hit = F.lit(None).cast("boolean")
    for request_id, value in INTENT_HITS.items():
        hit = F.when(F.col("request_id") == request_id, F.lit(value)).otherwise(hit)
    signals = request_signals(raw, b"key").withColumn("intent_hit", hit)
    models = models_reference(spark, signals)
    return {r.account_id: r.asDict() for r in account_daily(signals, accounts, indicators, models, DAY).collect()}


def test_counts_and_spend(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    assert a["feature_date"] == DAY
    assert {
        k: a[k]
        for k in (
            "requests",
            "ok_requests",
            "prompt_requests",
            "max_tokens_hits",
            "logprobs_requests",
            "multi_choice_requests",
            "temp_zero_requests",
            "hosting_requests",
            "proxy_requests",
            "foreign_country_requests",
            "night_requests",
            "partner_prefix_requests",
            "partner_template_requests",
        )
    } == {
        "requests": 3,
        "ok_requests": 2,
        "prompt_requests": 2,
        "max_tokens_hits": 1,
        "logprobs_requests": 1,
        "multi_choice_requests": 1,
        "temp_zero_requests": 2,
        "hosting_requests": 1,
        "proxy_requests": 1,
        "foreign_country_requests": 1,
        "night_requests": 0,
        "partner_prefix_requests": 1,
        "partner_template_requests": 0,
    }
    assert a["spend_usd"] == pytest.approx(0.25)
    assert (b["requests"], b["night_requests"], b["partner_template_requests"], b["foreign_country_requests"]) == (
        2,
        1,
        1,
        2,
    )
    assert b["spend_usd"] == pytest.approx(0.05)


def test_intent_share_counts_only_scored_prompts(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    assert (a["intent_scored_requests"], a["intent_requests"], a["intent_share"]) == (2, 1, 0.5)
    assert (b["intent_scored_requests"], b["intent_requests"], b["intent_share"]) == (1, 0, 0.0)


def test_metadata_signals(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    assert {
        k: a[k]
        for k in (
            "top_logprobs_requests",
            "stream_requests",
            "top_p_narrowed_requests",
            "content_filter_requests",
            "latency_requests",
        )
    } == {
        "top_logprobs_requests": 1,
        "stream_requests": 0,
        "top_p_narrowed_requests": 1,
        "content_filter_requests": 1,
        "latency_requests": 2,
    }
    assert (b["stream_share"], b["top_logprobs_share"], b["content_filter_share"]) == (1.0, 0.0, 0.0)
    assert a["reasoning_completion_ratio"] == pytest.approx(900 / 1224)
    assert (a["mean_latency_ms"], b["mean_latency_ms"]) == (2000.0, 900.0)
    assert (a["distinct_asns"], b["distinct_asns"], a["distinct_models"], b["distinct_models"]) == (1, 2, 2, 1)


def test_model_pivot_from_the_logs_not_the_names(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    # orion-2 is reasoning-capable and new; atlas-4-reasoning is neither.
    assert (a["reasoning_model_requests"], a["new_model_requests"], a["new_model_share"]) == (
        2,
        2,
        pytest.approx(2 / 3),
    )
    assert a["new_model_adoption_hours"] == pytest.approx(12.0)
    assert (b["reasoning_model_requests"], b["new_model_requests"], b["new_model_adoption_hours"]) == (0, 0, None)


def test_diversity_rhythm_and_shares(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    assert (
        a["distinct_templates"],
        a["distinct_ip_prefixes"],
        a["distinct_ip_hashes"],
        a["distinct_countries"],
        a["distinct_user_agents"],
        a["distinct_api_keys"],
    ) == (1, 2, 3, 2, 1, 1)
    assert (b["distinct_templates"], b["distinct_api_keys"], b["distinct_user_agents"]) == (2, 2, 2)
    assert (a["hour_entropy"], a["active_hours"], a["interarrival_cv"]) == (0.0, 1, 0.0)
    assert (b["hour_entropy"], b["active_hours"], b["interarrival_cv"]) == (1.0, 2, None)
    assert (a["top_template_share"], a["error_share"]) == (1.0, pytest.approx(1 / 3))
    assert b["partner_template_share"] == 0.5
    assert a["completion_prompt_ratio"] == pytest.approx((1024 + 200 + 0) / 300)


def test_account_context_and_partner_confidence(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    assert (a["account_age_days"], a["kyc_tier"], a["partner_payment_hit"]) == (10, "none", True)
    assert (b["account_age_days"], b["partner_payment_hit"]) == (365, False)
    assert (a["partner_payment_confidence"], a["partner_request_confidence"]) == (0.9, 0.7)
    assert (b["partner_payment_confidence"], b["partner_request_confidence"]) == (None, 0.4)
    # A's domain holds A and C, both new; B's holds B (a year old) and D (new).
    assert (a["email_domain_accounts"], a["email_domain_new_share"]) == (2, 1.0)
    assert (b["email_domain_accounts"], b["email_domain_new_share"]) == (2, 0.5)


def test_distinct_counts_one_row_per_account_nulls_not_counted(engine: SparkSession) -> None:
    columns = list(DISTINCT.values())
    rows = [
        ("x", *[f"{c}-1" for c in columns]),
        ("x", *[f"{c}-1" if c != "ip_hash" else "ip_hash-2" for c in columns]),
        ("x", *[None] * len(columns)),
        ("y", *[None] * len(columns)),  # a request without any of them: counted 0, not dropped
    ]
    signals = engine.createDataFrame(rows, ", ".join(["account_id string", *[f"{c} string" for c in columns]]))
    got = {r.account_id: r.asDict() for r in distinct_counts(signals).collect()}
    assert got["x"] == {"account_id": "x", **{name: 2 if name == "distinct_ip_hashes" else 1 for name in DISTINCT}}
    assert got["y"] == {"account_id": "y", **dict.fromkeys(DISTINCT, 0)}
