"""Rolling windows from daily rows, on both engines; sums worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession

from distillguard.features.account_daily import COUNTED, DISTINCT, MAXIMUM, MINIMUM, SUMMED
from distillguard.features.rolling import rolling
from tests.rows import DAY

COUNTS = ["requests", "top_template_requests", *COUNTED, *SUMMED, *DISTINCT]
EXTREMES = [*MINIMUM, *MAXIMUM]
SCHEMA = (
    "feature_date date, account_id string, "
    + ", ".join(f"{c} long" for c in COUNTS)
    + ", hour_entropy double, interarrival_cv double, "
    + ", ".join(f"{c} double" for c in EXTREMES)
)


def _daily(spark: SparkSession, rows: list[dict]) -> DataFrame:
    def full(row: dict) -> tuple:
        base = {c: 0 for c in COUNTS} | {c: None for c in ["hour_entropy", "interarrival_cv", *EXTREMES]} | row
        base["prompt_requests"] = base["requests"]
        return tuple(base[f.split(" ")[0]] for f in SCHEMA.split(", "))

    return spark.createDataFrame([full(r) for r in rows], SCHEMA)


def _rows(spark: SparkSession) -> dict:
    day = lambda n: DAY - timedelta(days=n)  # noqa: E731
    daily = _daily(
        spark,
        [
            dict(feature_date=day(30), account_id="A", requests=10, spend_usd=9999),
            dict(
                feature_date=day(10),
                account_id="A",
                requests=20,
                spend_usd=3000,
                intent_requests=5,
                intent_scored_requests=20,
                hour_entropy=1.0,
                distinct_ip_prefixes=2,
                new_model_adoption_hours=30.0,
                partner_request_confidence=0.95,
            ),
            dict(
                feature_date=day(3),
                account_id="A",
                requests=30,
                spend_usd=1000,
                intent_requests=10,
                intent_scored_requests=30,
                hour_entropy=2.0,
                distinct_ip_prefixes=5,
                new_model_adoption_hours=6.5,
            ),
            dict(
                feature_date=day(0),
                account_id="A",
                requests=40,
                spend_usd=1000,
                intent_requests=20,
                intent_scored_requests=40,
                hour_entropy=3.0,
                distinct_ip_prefixes=3,
                interarrival_cv=0.5,
                partner_request_confidence=0.3,
            ),
            dict(feature_date=day(-1), account_id="A", requests=1000, spend_usd=1, new_model_adoption_hours=0.1),
            dict(feature_date=day(20), account_id="B", requests=7, spend_usd=70, partner_request_confidence=0.2),
        ],
    )
    accounts = spark.createDataFrame(
        [
            ("A", datetime(2026, 10, 22, 9), "none", "payg", False, "h1", "swarm.example"),
            ("B", datetime(2026, 7, 6, 9), "verified", "scale", False, "h2", None),
        ],
        "account_id string, created_at timestamp, kyc_tier string, plan string, zero_data_retention boolean, "
        "payment_fingerprint_hmac string, email_domain string",
    )
    indicators = spark.createDataFrame(
        [("payment_fingerprint_hmac", "h1", 0.5)], "indicator_type string, value string, confidence double"
    )
    return {r.account_id: r.asDict() for r in rolling(daily, accounts, indicators, DAY).collect()}


def test_window_sums_exclude_outside_and_future_days(engine: SparkSession) -> None:
    a = _rows(engine)["A"]
    assert a["feature_date"] == DAY
    assert (a["requests_7d"], a["requests_28d"], a["active_days_7d"], a["active_days_28d"]) == (70, 90, 2, 3)
    assert (a["spend_usd_7d"], a["spend_usd_28d"]) == (2000, 5000)
    assert a["intent_share_28d"] == pytest.approx(35 / 90) and a["intent_share_7d"] == pytest.approx(30 / 70)
    assert a["hour_entropy_28d"] == pytest.approx(200 / 90) and a["hour_entropy_7d"] == pytest.approx(180 / 70)
    assert (a["max_daily_distinct_ip_prefixes_7d"], a["max_daily_distinct_ip_prefixes_28d"]) == (5, 5)
    assert a["interarrival_cv_28d"] == 0.5
    # Extremes of the window's days: the earliest adoption, the strongest partner indicator
    # (request hits or the payment hit on the window's last day).
    assert (a["new_model_adoption_hours_28d"], a["new_model_adoption_hours_7d"]) == (6.5, 6.5)
    assert (a["partner_confidence_28d"], a["partner_confidence_7d"]) == (0.95, 0.5)


def test_coverage_marks_partial_windows(engine: SparkSession) -> None:
    got = _rows(engine)
    # The lakehouse has data on days -20, -10, -3 and 0 of the 28-day window, -3 and 0 of the 7-day one
    # (day -30 is before the window, day +1 after it); the same for every account.
    assert {(r["coverage_days_7d"], r["coverage_days_28d"]) for r in got.values()} == {(2, 4)}
    assert got["B"]["partner_confidence_28d"] == 0.2 and got["B"]["partner_confidence_7d"] is None


def test_context_and_kyc_threshold(engine: SparkSession) -> None:
    got = _rows(engine)
    a, b = got["A"], got["B"]
    assert (a["account_age_days"], a["partner_payment_hit"], a["new_account"]) == (12, True, True)
    assert a["projected_monthly_spend"] == pytest.approx(5000 * 30 / 28)
    assert a["unverified_over_kyc_threshold"] is True
    assert (b["account_age_days"], b["requests_7d"], b["active_days_7d"], b["intent_share_7d"]) == (120, 0, 0, None)
    assert (b["requests_28d"], b["unverified_over_kyc_threshold"], b["new_account"]) == (7, False, False)
