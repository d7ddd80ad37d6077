"""Daily per-account features on both engines, against values worked out by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import SparkSession

from distillguard.features.account_daily import account_daily
from distillguard.features.fingerprint import template_fingerprint
from distillguard.features.request_signals import request_signals
from tests.rows import DAY, raw_frame, request

COT = "Solve the following problem. Show your complete reasoning step by step: {}"
CHAT = "what is game theory in plain words"
ACCOUNTS = "account_id string, created_at timestamp, billing_country string, kyc_tier string, " \
           "plan string, zero_data_retention boolean, payment_fingerprint_hmac string"
INDICATORS = "indicator_type string, value string, first_seen date"


def _daily(spark: SparkSession) -> dict:
    raw = raw_frame(spark, [
        request("r1", "A", "2026-11-03T10:00:00", prompt_text=COT.format("12 * 7 - 5"), cost_usd=0.10,
                asn_kind="proxy_vpn", temperature=0.0, logprobs=True, finish_reason="length",
                completion_tokens=1024, max_tokens=1024, model="atlas-4-reasoning"),
        request("r2", "A", "2026-11-03T10:00:10", prompt_text=COT.format("3 * 4 - 1"), cost_usd=0.10,
                asn_kind="hosting", country="DE", client_ip="23.1.9.9", temperature=0.0, n=2),
        request("r3", "A", "2026-11-03T10:00:20", prompt_text=None, cost_usd=0.05, status=500,
                client_ip="23.1.2.4", completion_tokens=0),
        request("r4", "B", "2026-11-03T01:00:00", prompt_text=CHAT, cost_usd=0.02, api_key_id="k2",
                user_agent="curl/8.5.0"),
        request("r5", "B", "2026-11-03T13:30:00", prompt_text="Implement a trie in rust", cost_usd=0.03),
    ])
    accounts = spark.createDataFrame([
        ("A", datetime(2026, 10, 24, 8), "US", "none", "payg", False, "h1"),
        ("B", datetime(2025, 11, 3, 8), "DE", "verified", "scale", False, "h2"),
    ], ACCOUNTS)
    indicators = spark.createDataFrame([
        ("payment_fingerprint_hmac", "h1", date(2026, 11, 1)),
        ("ip_prefix", "23.1.9.0/24", date(2026, 11, 2)),
        ("prompt_template_hash", template_fingerprint(CHAT), date(2026, 11, 3)),
    ], INDICATORS)
    signals = request_signals(raw, b"key")
    return {r.account_id: r.asDict() for r in account_daily(signals, accounts, indicators, DAY).collect()}


def test_counts_and_spend(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    assert a["feature_date"] == DAY
    assert {k: a[k] for k in ("requests", "ok_requests", "prompt_requests", "cot_requests", "math_requests",
                              "coding_requests", "max_tokens_hits", "logprobs_requests", "multi_choice_requests",
                              "temp_zero_requests", "reasoning_model_requests", "hosting_requests",
                              "proxy_requests", "foreign_country_requests", "night_requests",
                              "partner_prefix_requests", "partner_template_requests")} == {
        "requests": 3, "ok_requests": 2, "prompt_requests": 2, "cot_requests": 2, "math_requests": 2,
        "coding_requests": 0, "max_tokens_hits": 1, "logprobs_requests": 1, "multi_choice_requests": 1,
        "temp_zero_requests": 2, "reasoning_model_requests": 1, "hosting_requests": 1, "proxy_requests": 1,
        "foreign_country_requests": 1, "night_requests": 0, "partner_prefix_requests": 1,
        "partner_template_requests": 0}
    assert a["spend_usd"] == pytest.approx(0.25)
    assert (b["requests"], b["coding_requests"], b["night_requests"], b["partner_template_requests"],
            b["foreign_country_requests"]) == (2, 1, 1, 1, 2)
    assert b["spend_usd"] == pytest.approx(0.05)


def test_diversity_rhythm_and_shares(engine: SparkSession) -> None:
    got = _daily(engine)
    a, b = got["A"], got["B"]
    assert (a["distinct_templates"], a["distinct_ip_prefixes"], a["distinct_ip_hashes"], a["distinct_countries"],
            a["distinct_user_agents"], a["distinct_api_keys"]) == (1, 2, 3, 2, 1, 1)
    assert (b["distinct_templates"], b["distinct_api_keys"], b["distinct_user_agents"]) == (2, 2, 2)
    assert (a["hour_entropy"], a["active_hours"], a["interarrival_cv"]) == (0.0, 1, 0.0)
    assert (b["hour_entropy"], b["active_hours"], b["interarrival_cv"]) == (1.0, 2, None)
    assert (a["top_template_share"], a["cot_share"], a["error_share"]) == (1.0, 1.0, pytest.approx(1 / 3))
    assert b["partner_template_share"] == 0.5 and b["cot_share"] == 0.0
    assert a["completion_prompt_ratio"] == pytest.approx((1024 + 200 + 0) / 300)


def test_account_context(engine: SparkSession) -> None:
    got = _daily(engine)
    assert (got["A"]["account_age_days"], got["A"]["kyc_tier"], got["A"]["partner_payment_hit"]) == (10, "none", True)
    assert (got["B"]["account_age_days"], got["B"]["partner_payment_hit"]) == (365, False)
