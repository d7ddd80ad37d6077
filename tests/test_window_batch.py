"""The window part of the features job in batches of dates: rolling of every date of a
batch in one aggregation, link-family tables written once per batch. It must write what
one run per date writes.

``test_rolling_dates_*`` run the rolling transformation on both engines against per-date
``rolling`` and hand-computed values; the job test runs on Delta (Sail): a hand landing
zone of 5 days, batches of 3 dates (so batches cross), and a late event.
"""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, timedelta
from functools import reduce

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import FeatureSettings, Lakehouse, Table
from distillguard.features.rolling import context_of, rolling, rolling_dates
from distillguard.jobs import features, ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, PSEUDONYM_KEY_ENV
from tests.test_rolling import _daily

END = date(2026, 11, 28)
BATCH = [END - timedelta(days=n) for n in (4, 3, 2, 1, 0)]  # 11-24 .. 11-28
ACCOUNTS_SCHEMA = (
    "account_id string, created_at timestamp, kyc_tier string, plan string, zero_data_retention boolean, "
    "payment_fingerprint_hmac string, email_domain string"
)


def _history(spark: SparkSession) -> DataFrame:
    """Account A: days 11-01 (10 requests, 3 IP prefixes), 11-20 (20, 2), 11-21 (1, 7),
    11-25 (40, 1), 11-28 (5, 4); B: 10-31 (100) and 11-26 (2). Spend is requests x 2."""
    rows = [
        ("A", date(2026, 11, 1), 10, 3),
        ("A", date(2026, 11, 20), 20, 2),
        ("A", date(2026, 11, 21), 1, 7),
        ("A", date(2026, 11, 25), 40, 1),
        ("A", date(2026, 11, 28), 5, 4),
        ("B", date(2026, 10, 31), 100, 1),
        ("B", date(2026, 11, 26), 2, 1),
    ]
    return _daily(
        spark,
        [
            dict(feature_date=d, account_id=a, requests=n, spend_usd=n * 2, distinct_ip_prefixes=p)
            for a, d, n, p in rows
        ],
    )


def _context(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    accounts = spark.createDataFrame(
        [
            ("A", datetime(2026, 10, 27, 9), "none", "payg", False, "h1", "a.example"),
            ("B", datetime(2026, 1, 1, 9), "verified", "scale", False, "h2", "b.example"),
        ],
        ACCOUNTS_SCHEMA,
    )
    indicators = spark.createDataFrame([], "indicator_type string, value string, confidence double")
    return accounts, indicators


def _sorted(df: DataFrame) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def test_rolling_dates_equal_one_rolling_per_date(engine: SparkSession) -> None:
    daily = _history(engine)
    accounts, indicators = _context(engine)
    context = reduce(DataFrame.unionByName, [context_of(accounts, indicators, d) for d in BATCH])
    batched = rolling_dates(daily, context, BATCH)
    per_date = reduce(DataFrame.unionByName, [rolling(daily, accounts, indicators, d) for d in BATCH])
    assert batched.columns == per_date.columns
    assert batched.schema == per_date.schema
    assert _sorted(batched) == _sorted(per_date)


def test_rolling_dates_hand_computed_across_the_batch(engine: SparkSession) -> None:
    daily = _history(engine)
    accounts, indicators = _context(engine)
    context = reduce(DataFrame.unionByName, [context_of(accounts, indicators, d) for d in BATCH])
    got = {(r.feature_date, r.account_id): r for r in rolling_dates(daily, context, BATCH).collect()}
    a = {d: got[(d, "A")] for d in BATCH}
    # 7 days ending on D: (D-7, D]. 11-24: 11-20, 11-21 -> 21; 11-25: + 40 -> 61; 11-27:
    # 11-20 drops out -> 41; 11-28: 11-21 drops out, + 5 -> 45.
    assert [a[d].requests_7d for d in BATCH] == [21, 61, 61, 41, 45]
    # 28 days: 11-01 is in the windows ending up to 11-28 (11-28 - 28 = 10-31 < 11-01).
    assert [a[d].requests_28d for d in BATCH] == [31, 71, 71, 71, 76]
    assert [a[d].active_days_7d for d in BATCH] == [2, 3, 3, 2, 2]
    assert [a[d].active_days_28d for d in BATCH] == [3, 4, 4, 4, 5]
    assert [a[d].max_daily_distinct_ip_prefixes_7d for d in BATCH] == [7, 7, 7, 7, 4]
    assert [a[d].spend_usd_7d for d in BATCH] == [42, 122, 122, 82, 90]
    # Context is that of each window's own last day: created 10-27 -> 28 days old on 11-24.
    assert [a[d].account_age_days for d in BATCH] == [28, 29, 30, 31, 32]
    assert [a[d].new_account for d in BATCH] == [True, True, False, False, False]
    # Coverage counts dates with data of any account: 10-31, 11-01, 11-20, 11-21, 11-25,
    # 11-26, 11-28; 11-24's 28 days (10-28..11-24) hold the first four, 11-28's lose 10-31.
    assert [a[d].coverage_days_28d for d in BATCH] == [4, 5, 6, 6, 6]
    assert [a[d].coverage_days_7d for d in BATCH] == [2, 3, 4, 3, 3]
    # B: 10-31 is inside only the 28 days ending on 11-24 .. 11-27; not active in 11-24's 7 days.
    assert [got[(d, "B")].requests_28d for d in BATCH] == [100, 100, 102, 102, 2]
    assert [got[(d, "B")].requests_7d for d in BATCH] == [0, 0, 2, 2, 2]


def test_rolling_dates_skip_dates_outside_the_set(engine: SparkSession) -> None:
    daily = _history(engine)
    accounts, indicators = _context(engine)
    days = [BATCH[0], BATCH[4]]
    context = reduce(DataFrame.unionByName, [context_of(accounts, indicators, d) for d in days])
    got = rolling_dates(daily, context, days).select("feature_date", "account_id", "requests_7d")
    assert _sorted(got) == [
        (BATCH[0], "A", 21),
        (BATCH[0], "B", 0),
        (BATCH[4], "A", 45),
        (BATCH[4], "B", 2),
    ]


D = [date(2026, 11, d) for d in (1, 2, 3, 4, 5)]
WINDOW_TABLES = (
    Table.ACCOUNT_ROLLING,
    Table.SKETCH_DAILY,
    Table.REPLAY_DAILY,
    Table.LOCKSTEP_DAILY,
    Table.ACCOUNT_CLUSTERS,
)
SETTINGS = FeatureSettings(daily_batch_dates=3)


def _request(request_id: str, account: str, ts: str, prompt: str, **extra: object) -> dict:
    return {
        "request_id": request_id,
        "ts": ts,
        "account_id": account,
        "api_key_id": f"key_{account}",
        "model": "atlas-4",
        "endpoint": "messages",
        "status": 200,
        "prompt_tokens": 50,
        "completion_tokens": 100,
        "cost_usd": 0.25,
        "client_ip": "23.1.2.3",
        "asn": 7000,
        "asn_kind": "residential",
        "country": "US",
        "user_agent": "curl/8.5.0",
        "params": {"temperature": 0.5, "max_tokens": 512},
        "system_prompt_sha256": None,
        "prompt_text": prompt,
        "finish_reason": "stop",
        **extra,
    }


def _account(account: str) -> dict:
    return {
        "account_id": account,
        "org_id": None,
        "created_at": "2026-10-01T08:00:00Z",
        "signup_country": "US",
        "billing_country": "US",
        "kyc_tier": "basic",
        "plan": "payg",
        "payment_fingerprint": f"pay_{account}",
        "email_domain": "example.com",
        "zero_data_retention": False,
    }


def _drop(lakehouse: Lakehouse, folder: date, requests: list[dict]) -> None:
    def write(path, rows):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))

    write(lakehouse.landing_dir("request_logs") / f"date={folder}" / "part-00000.jsonl.gz", requests)
    write(lakehouse.landing_dir("accounts") / f"date={folder}" / "accounts.jsonl.gz", [_account("A"), _account("B")])


def _day_requests(day: date) -> list[dict]:
    """A and B send the same prompts in the same hours (sketch buckets, lockstep pairs); B
    sends back the reasoning block issued to A earlier that day (replay)."""
    n = day.day
    rows = [
        _request(
            f"{account}-{n}-{i}",
            account,
            f"{day.isoformat()}T{9 + i:02d}:0{k}:00Z",
            f"Solve the puzzle number {i} and show every step of the reasoning",
            **({"reasoning_ref_issued": f"ref-{n}-{i}"} if account == "A" else {}),
        )
        for k, account in enumerate(("A", "B"))
        for i in range(3)
    ]
    rows.append(
        _request(f"B-{n}-replay", "B", f"{day.isoformat()}T20:00:00Z", "continue", reasoning_refs_sent=[f"ref-{n}-0"])
    )
    return rows


def _windows(spark: SparkSession, lakehouse: Lakehouse, days: list[date]) -> dict[Table, list[tuple]]:
    out = {}
    for table in WINDOW_TABLES:
        df = tables.read(spark, lakehouse, table).where(F.col("feature_date").isin(*days))
        out[table] = sorted(tuple(str(v) for v in r) for r in df.select(sorted(df.columns)).collect())
    return out


def _per_date(spark: SparkSession, lakehouse: Lakehouse, days: list[date]) -> None:
    for day in days:
        features._window_step(spark, lakehouse, day, SETTINGS)


@pytest.fixture
def landed(sail: SparkSession, lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "test-partner-key")
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "test-pseudonym-key")
    for day in D[:4]:
        _drop(lakehouse, day, _day_requests(day))
        ingest.run(sail, lakehouse, day)
    return lakehouse


def test_batched_window_part_equals_per_date_runs(sail: SparkSession, landed: Lakehouse) -> None:
    with tables.scratch(landed):
        summary = features.backfill(sail, landed, D[0], D[3], SETTINGS)
        assert [w["date"] for w in summary["window_dates"]] == [d.isoformat() for d in D[:4]]
        batched = _windows(sail, landed, D[:4])
        _per_date(sail, landed, D[:4])
        assert _windows(sail, landed, D[:4]) == batched
    counts = {t: len(rows) for t, rows in batched.items()}
    # 2 accounts x 4 dates; sketch rows, one replay row (B from A) and lockstep rows each date.
    assert counts[Table.ACCOUNT_ROLLING] == 8
    assert counts[Table.REPLAY_DAILY] == 4
    assert counts[Table.ACCOUNT_CLUSTERS] == 8
    assert counts[Table.SKETCH_DAILY] > 0 and counts[Table.LOCKSTEP_DAILY] > 0
    replay = tables.read(sail, landed, Table.REPLAY_DAILY).where(F.col("feature_date") == F.lit(D[2])).collect()
    assert [(r.account_id, r.source_account_id, r.refs) for r in replay] == [("B", "A", 1)]

    # Day 5 brings a late request of A on day 2: its run recomputes day 2's daily row and
    # the windows of days 2..5 in batches of 3 (2-4, then 5), as per-date runs would.
    late = _request("A-late", "A", "2026-11-02T23:00:00Z", "a late question about widgets")
    _drop(landed, D[4], [*_day_requests(D[4]), late])
    ingest.run(sail, landed, D[4])
    with tables.scratch(landed):
        summary = features.run(sail, landed, D[4], SETTINGS)
        assert list(summary["daily_dates"]) == ["2026-11-02", "2026-11-05"]
        assert [w["date"] for w in summary["window_dates"]] == [d.isoformat() for d in D[1:]]
        batched = _windows(sail, landed, D)
        _per_date(sail, landed, D[1:])
        assert _windows(sail, landed, D) == batched
    rolling_a = {
        r.feature_date: (r.requests_7d, r.spend_usd_7d, r.active_days_7d)
        for r in tables.read(sail, landed, Table.ACCOUNT_ROLLING).where(F.col("account_id") == "A").collect()
    }
    # A sends 3 requests a day (0.25 each) plus the late one on day 2.
    assert rolling_a == {
        D[0]: (3, 0.75, 1),
        D[1]: (7, 1.75, 2),
        D[2]: (10, 2.5, 3),
        D[3]: (13, 3.25, 4),
        D[4]: (16, 4.0, 5),
    }
