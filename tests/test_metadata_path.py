"""Zero data retention: no prompt text, so no content signal; request metadata alone must
tell a harvesting script from an enterprise integration. Hand-built rows, both engines."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta

import pytest
from pyspark.sql import SparkSession

from distillguard.features.account_daily import account_daily
from distillguard.features.models_reference import model_daily, models_as_of
from distillguard.features.request_signals import request_signals
from tests.rows import DAY, raw_frame, request

ACCOUNTS = (
    "account_id string, created_at timestamp, billing_country string, kyc_tier string, "
    "plan string, zero_data_retention boolean, payment_fingerprint_hmac string, email_domain string"
)
MODEL_DAILY = "feature_date date, model string, first_ts timestamp, requests long, reasoning_requests long"
ENTERPRISE_TIMES = ["09:00", "09:07", "10:30", "13:00", "14:45", "16:10"]

# Metadata-only red flags (an illustration of the ZDR path; the account model learns its own).
RED_FLAGS = {
    "long outputs cut at max_tokens": lambda f: f["max_tokens_hit_share"] >= 0.5,
    "token distributions requested": lambda f: max(f["logprobs_share"], f["top_logprobs_share"]) >= 0.5,
    "several samples per prompt": lambda f: f["multi_choice_share"] >= 0.5,
    "greedy decoding": lambda f: f["temp_zero_share"] >= 0.5,
    "no streaming": lambda f: f["stream_share"] <= 0.1,
    "output dwarfs input": lambda f: f["completion_prompt_ratio"] >= 3,
    "on a model first seen days ago": lambda f: f["new_model_share"] >= 0.5,
    "clockwork cadence": lambda f: f["interarrival_cv"] is not None and f["interarrival_cv"] <= 0.2,
}


def _rows(spark: SparkSession) -> dict:
    harvester = [
        request(
            f"h{h}",
            "H",
            f"2026-11-03T{h:02d}:00:00",
            prompt_text=None,
            model="m-new",
            temperature=0.0,
            logprobs=True,
            top_logprobs=5,
            n=4,
            prompt_tokens=200,
            completion_tokens=1024,
            max_tokens=1024,
            reasoning_tokens=700,
            finish_reason="length",
            stream=False,
            latency_ms=20000,
            asn_kind="hosting",
        )
        for h in range(24)
    ]
    enterprise = [
        request(
            f"e{i}",
            "E",
            f"2026-11-03T{t}:00",
            prompt_text=None,
            model="m-old",
            temperature=0.7,
            prompt_tokens=900,
            completion_tokens=300,
            stream=True,
            latency_ms=2500,
        )
        for i, t in enumerate(ENTERPRISE_TIMES)
    ]
    signals = request_signals(raw_frame(spark, harvester + enterprise), b"key")
    history = spark.createDataFrame(
        [
            (date(2026, 10, 20), "m-old", datetime(2026, 10, 20), 900, 0),
            (date(2026, 11, 2), "m-new", datetime(2026, 11, 2, 20), 50, 50),
        ],
        MODEL_DAILY,
    )
    models = models_as_of(history.unionByName(model_daily(signals, DAY)), DAY)
    accounts = spark.createDataFrame(
        [
            ("H", datetime(2026, 10, 30), "US", "basic", "payg", True, None, "mail.example"),
            ("E", datetime(2025, 1, 10), "US", "enterprise", "enterprise", True, None, "corp.example"),
        ],
        ACCOUNTS,
    )
    indicators = spark.createDataFrame([], "indicator_type string, value string, first_seen date, confidence double")
    return {r.account_id: r.asDict() for r in account_daily(signals, accounts, indicators, models, DAY).collect()}


def test_zdr_metadata_features_by_hand(engine: SparkSession) -> None:
    got = _rows(engine)
    h, e = got["H"], got["E"]
    assert (h["prompt_requests"], h["intent_scored_requests"], h["intent_share"]) == (0, 0, None)
    assert (e["prompt_requests"], e["intent_share"], e["top_template_share"]) == (0, None, None)
    assert {
        k: h[k]
        for k in (
            "max_tokens_hit_share",
            "logprobs_share",
            "top_logprobs_share",
            "multi_choice_share",
            "temp_zero_share",
            "stream_share",
            "reasoning_model_share",
            "new_model_share",
            "hosting_share",
            "night_share",
        )
    } == {
        "max_tokens_hit_share": 1.0,
        "logprobs_share": 1.0,
        "top_logprobs_share": 1.0,
        "multi_choice_share": 1.0,
        "temp_zero_share": 1.0,
        "stream_share": 0.0,
        "reasoning_model_share": 1.0,
        "new_model_share": 1.0,
        "hosting_share": 1.0,
        "night_share": 0.25,
    }
    assert (h["completion_prompt_ratio"], h["reasoning_completion_ratio"]) == (
        pytest.approx(1024 / 200),
        pytest.approx(700 / 1024),
    )
    assert (h["new_model_adoption_hours"], h["mean_latency_ms"], h["interarrival_cv"]) == (4.0, 20000.0, 0.0)
    assert h["hour_entropy"] == pytest.approx(math.log2(24))
    assert (e["stream_share"], e["temp_zero_share"], e["max_tokens_hit_share"], e["new_model_share"]) == (
        1.0,
        0.0,
        0.0,
        0.0,
    )
    assert (e["completion_prompt_ratio"], e["reasoning_completion_ratio"], e["mean_latency_ms"]) == (
        pytest.approx(1 / 3),
        0.0,
        2500.0,
    )
    assert e["new_model_adoption_hours"] is None and e["reasoning_model_share"] == 0.0
    gaps = [
        (datetime.strptime(b, "%H:%M") - datetime.strptime(a, "%H:%M")) / timedelta(minutes=1)
        for a, b in zip(ENTERPRISE_TIMES, ENTERPRISE_TIMES[1:])
    ]
    assert e["interarrival_cv"] == pytest.approx(statistics.pstdev(gaps) / statistics.mean(gaps))
    assert e["hour_entropy"] == pytest.approx(-(2 / 6) * math.log2(2 / 6) - 4 * (1 / 6) * math.log2(1 / 6))


def test_zdr_campaign_scored_from_metadata_alone(engine: SparkSession) -> None:
    got = _rows(engine)
    flags = {account: [name for name, rule in RED_FLAGS.items() if rule(row)] for account, row in got.items()}
    assert flags["H"] == list(RED_FLAGS) and flags["E"] == []
