"""The features job end to end on Delta (Sail): point-in-time correctness and late events.

A hand-written landing zone keeps every expected value countable by hand.
"""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.jobs import features, ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, PSEUDONYM_KEY_ENV
from tests.pii import find_pii, scanned_tables

D1, D2, D3, D4 = (date(2026, 11, d) for d in (1, 2, 3, 4))
FEATURE_TABLES = (Table.ACCOUNT_DAILY, Table.ACCOUNT_ROLLING, Table.ACCOUNT_CLUSTERS)


def _request(request_id: str, account: str, ts: str, ip: str = "23.1.2.3") -> dict:
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
        "cost_usd": 0.01,
        "client_ip": ip,
        "asn": 7000,
        "asn_kind": "residential",
        "country": "US",
        "user_agent": "curl/8.5.0",
        "params": {"temperature": 0.5, "max_tokens": 512},
        "system_prompt_sha256": None,
        "prompt_text": f"explain topic {request_id}",
        "finish_reason": "stop",
    }


def _account(account: str, created: str, kyc: str = "basic") -> dict:
    return {
        "account_id": account,
        "org_id": None,
        "created_at": created,
        "signup_country": "US",
        "billing_country": "US",
        "kyc_tier": kyc,
        "plan": "payg",
        "payment_fingerprint": f"pay_{account}",
        "email_domain": "example.com",
        "zero_data_retention": False,
    }


def _drop(lakehouse: Lakehouse, folder: date, requests: list[dict], accounts: list[dict]) -> None:
    def write(path, rows):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))

    write(lakehouse.landing_dir("request_logs") / f"date={folder}" / "part-00000.jsonl.gz", requests)
    write(lakehouse.landing_dir("accounts") / f"date={folder}" / "accounts.jsonl.gz", accounts)


def _rows(spark: SparkSession, lakehouse: Lakehouse, table: Table, day: date) -> list[tuple]:
    df = tables.read(spark, lakehouse, table).where(F.col("feature_date") == F.lit(day))
    return sorted(tuple(str(v) for v in r) for r in df.select(sorted(df.columns)).collect())


def _ingest_and_build(spark: SparkSession, lakehouse: Lakehouse, day: date) -> dict:
    ingest.run(spark, lakehouse, day)
    return features.run(spark, lakehouse, day)


@pytest.fixture
def built(sail: SparkSession, lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "test-partner-key")
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "test-pseudonym-key")
    accounts = [_account("A", "2026-10-01T08:00:00Z"), _account("B", "2026-10-20T08:00:00Z")]
    _drop(
        lakehouse,
        D1,
        [
            _request("r1", "A", "2026-11-01T10:00:00Z"),
            _request("r2", "B", "2026-11-01T11:00:00Z"),
            _request("r3", "A", "2026-11-01T12:00:00Z"),
        ],
        accounts,
    )
    _drop(
        lakehouse,
        D2,
        [_request("r4", "A", "2026-11-02T09:00:00Z"), _request("r5", "B", "2026-11-02T10:00:00Z")],
        accounts,
    )
    _ingest_and_build(sail, lakehouse, D1)
    _ingest_and_build(sail, lakehouse, D2)
    return lakehouse


def test_data_after_d_leaves_d_unchanged(sail: SparkSession, built: Lakehouse) -> None:
    before = {t: _rows(sail, built, t, D1) for t in FEATURE_TABLES}
    daily = {
        r.account_id: r.requests
        for r in tables.read(sail, built, Table.ACCOUNT_DAILY).where(F.col("feature_date") == F.lit(D1)).collect()
    }
    assert daily == {"A": 2, "B": 1}
    # Future: a new request, a changed account snapshot and a partner indicator, all on D3.
    _drop(
        built,
        D3,
        [_request("r6", "A", "2026-11-03T09:00:00Z", ip="45.6.7.8")],
        [_account("A", "2026-10-01T08:00:00Z"), _account("B", "2026-10-20T08:00:00Z", kyc="verified")],
    )
    indicators = built.landing_dir("partner_indicators")
    indicators.mkdir(parents=True)
    (indicators / "indicators_2026-11-03.csv").write_text(
        "indicator_type,value,partner,first_seen,confidence\nip_prefix,23.1.2.0/24,lab_b,2026-11-03,0.9\n"
    )
    summary = _ingest_and_build(sail, built, D3)
    assert list(summary["daily_dates"]) == ["2026-11-03"]
    assert {t: _rows(sail, built, t, D1) for t in FEATURE_TABLES} == before
    features.backfill(sail, built, D1, D1)
    assert {t: _rows(sail, built, t, D1) for t in FEATURE_TABLES} == before
    rolling_d3 = {
        r.account_id: r
        for r in tables.read(sail, built, Table.ACCOUNT_ROLLING).where(F.col("feature_date") == F.lit(D3)).collect()
    }
    assert rolling_d3["A"].requests_7d == 4 and rolling_d3["B"].kyc_tier == "verified"


def test_late_event_changes_exactly_its_day_and_windows(sail: SparkSession, built: Lakehouse) -> None:
    _drop(
        built,
        D3,
        [_request("r6", "A", "2026-11-03T09:00:00Z")],
        [_account("A", "2026-10-01T08:00:00Z"), _account("B", "2026-10-20T08:00:00Z")],
    )
    _ingest_and_build(sail, built, D3)
    before = {(t, d): _rows(sail, built, t, d) for t in FEATURE_TABLES for d in (D1, D2, D3)}
    _drop(
        built,
        D4,
        [_request("r7", "B", "2026-11-02T15:00:00Z"), _request("r8", "A", "2026-11-04T08:00:00Z")],
        [_account("A", "2026-10-01T08:00:00Z"), _account("B", "2026-10-20T08:00:00Z")],
    )
    summary = _ingest_and_build(sail, built, D4)
    assert list(summary["daily_dates"]) == ["2026-11-02", "2026-11-04"]
    assert [w["date"] for w in summary["window_dates"]] == ["2026-11-02", "2026-11-03", "2026-11-04"]
    after = {(t, d): _rows(sail, built, t, d) for t in FEATURE_TABLES for d in (D1, D2, D3)}
    changed = {key for key in before if before[key] != after[key]}
    # D2's daily row, and the windows (rolling and cluster sums) of D2 and D3 that cover it.
    assert changed == {
        (Table.ACCOUNT_DAILY, D2),
        (Table.ACCOUNT_ROLLING, D2),
        (Table.ACCOUNT_ROLLING, D3),
        (Table.ACCOUNT_CLUSTERS, D2),
        (Table.ACCOUNT_CLUSTERS, D3),
    }
    daily_d2 = {
        r.account_id: r.requests
        for r in tables.read(sail, built, Table.ACCOUNT_DAILY).where(F.col("feature_date") == F.lit(D2)).collect()
    }
    assert daily_d2 == {"A": 1, "B": 2}
    rolling_d3 = {
        r.account_id: r.requests_7d
        for r in tables.read(sail, built, Table.ACCOUNT_ROLLING).where(F.col("feature_date") == F.lit(D3)).collect()
    }
    assert rolling_d3 == {"A": 4, "B": 3}
    signals_d2 = tables.read(sail, built, Table.REQUEST_SIGNALS).where(F.col("event_date") == F.lit(D2))
    assert sorted(r.request_id for r in signals_d2.collect()) == ["r4", "r5", "r7"]


def test_features_need_ingested_requests(sail: SparkSession, lakehouse: Lakehouse) -> None:
    with pytest.raises(Exception, match="no ingested requests for 2026-11-05; run `distillguard ingest"):
        features.run(sail, lakehouse, date(2026, 11, 5))


def test_feature_tables_hold_no_personal_data(built: Lakehouse) -> None:
    scanned = scanned_tables(built)
    assert {
        "refined/request_signals",
        "features/account_daily",
        "features/account_rolling",
        "features/account_clusters",
        "features/account_keys_daily",
    } <= set(scanned)
    assert find_pii(built) == []


def test_key_dates_written_without_user_agent_rows_get_them_from_their_templates(
    sail: SparkSession, built: Lakehouse
) -> None:
    def user_agents() -> list[tuple]:
        keys = tables.read(sail, built, Table.ACCOUNT_KEYS).where(F.col("key_type") == "user_agent")
        return sorted((r.feature_date, r.account_id, r.key, r.requests) for r in keys.collect())

    agent = "curl/8.5.0"
    assert user_agents() == [(D1, "A", agent, 2), (D1, "B", agent, 1), (D2, "A", agent, 1), (D2, "B", agent, 1)]
    clusters = _rows(sail, built, Table.ACCOUNT_CLUSTERS, D2)
    # The key rows as the features job wrote them before it wrote user-agent rows.
    older = tables.read(sail, built, Table.ACCOUNT_KEYS).where(F.col("key_type") != "user_agent")
    rows = sail.createDataFrame(older.collect(), older.schema)
    tables.overwrite(rows, built, Table.ACCOUNT_KEYS, ("feature_date",))
    assert user_agents() == []
    features.window_batch(sail, built, [D2])
    assert user_agents() == [(D1, "A", agent, 2), (D1, "B", agent, 1), (D2, "A", agent, 1), (D2, "B", agent, 1)]
    assert _rows(sail, built, Table.ACCOUNT_CLUSTERS, D2) == clusters
