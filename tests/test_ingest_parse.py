"""Parse and validation transformations of ingest/, on Sail and on Apache Spark alike.

Every fault class the contract names gets a hand-written line here and the exact reason
(and detail) it must be quarantined with, or the exact typed values it must produce.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from datetime import date, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard.ingest.accounts import dedupe_snapshot, parse_account_lines, refined_accounts
from distillguard.ingest.keyed_hash import hmac_sha256_hex
from distillguard.ingest.reference import parse_incident_lines, parse_indicator_lines
from distillguard.ingest.requests import classify_days, parse_request_lines
from distillguard.jobs.ingest import read_lines

FOLDER = date(2026, 11, 2)
BASE = {
    "request_id": "r1",
    "ts": "2026-11-02T10:00:00.250Z",
    "account_id": "acct_1",
    "api_key_id": "key_1",
    "model": "atlas-4",
    "endpoint": "messages",
    "status": 200,
    "prompt_tokens": 12,
    "completion_tokens": 30,
    "cost_usd": 0.0012,
}


def line(**changes: object) -> str:
    record = {**BASE, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not DROP}, separators=(",", ":"), ensure_ascii=False)


DROP = object()
CASES = [
    # (name, line, reason, detail)
    (
        "valid",
        line(
            request_id="ok1",
            org_id="org_1",
            client_ip="51.19.5.40",
            prompt_text='hi "there" é',
            params={"temperature": 0.7, "n": 2, "logprobs": True, "top_logprobs": 5, "tools": 3},
            reasoning_refs_sent=["rs_a", "rs_b"],
        ),
        None,
        None,
    ),
    ("unknown_keys", '{"gateway_region":"eu-west-1","trace":{"span":7},' + line(request_id="ok2")[1:], None, None),
    ("clock_skew_next_day", line(request_id="ok3", ts="2026-11-03T00:03:10+00:00"), None, None),
    ("late_3_days", line(request_id="ok4", ts="2026-10-30T23:59:59Z"), None, None),
    ("malformed_truncated", line(request_id="m1")[:-25], "malformed_json", "not one JSON object"),
    ("malformed_no_brace", line(request_id="m2")[:-1], "malformed_json", "not one JSON object"),
    ("malformed_double_brace", "{" + line(request_id="m3"), "malformed_json", "not one JSON object"),
    ("malformed_colon", line(request_id="m4").replace('":', '"', 1), "malformed_json", "not one JSON object"),
    ("malformed_trailing_text", line(request_id="m5") + " trailing", "malformed_json", "not one JSON object"),
    ("malformed_array", "[1,2]", "malformed_json", "not one JSON object"),
    ("wrong_type_status_string", line(request_id="w1", status="200"), "wrong_type", "status"),
    ("wrong_type_negative_tokens", line(request_id="w2", prompt_tokens=-12), "wrong_type", "prompt_tokens < 0"),
    ("wrong_type_cost_text", line(request_id="w3", cost_usd="0.0012 USD"), "wrong_type", "cost_usd"),
    ("wrong_type_ts_text", line(request_id="w4", ts="yesterday 14:05"), "wrong_type", "ts not RFC 3339"),
    ("wrong_type_ts_no_offset", line(request_id="w5", ts="2026-11-02T10:00:00"), "wrong_type", "ts not RFC 3339"),
    ("wrong_type_params_n", line(request_id="w6", params={"n": "2"}), "wrong_type", "params.n"),
    ("wrong_type_params_scalar", line(request_id="w7", params=5), "wrong_type", "params"),
    ("wrong_type_refs", line(request_id="w8", reasoning_refs_sent="rs_a"), "wrong_type", "reasoning_refs_sent"),
    ("wrong_type_endpoint", line(request_id="w9", endpoint="chat"), "wrong_type", "endpoint not in contract"),
    ("wrong_type_bool_status", line(request_id="w10", status=True), "wrong_type", "status"),
    ("missing_account_id", line(request_id="x1", account_id=DROP), "missing_required", "account_id"),
    ("missing_request_id", line(request_id=DROP), "missing_required", "request_id"),
    ("missing_cost_null", line(request_id="x3", cost_usd=None), "missing_required", "cost_usd"),
    ("invalid_utf8", line(request_id="u1", model="\ufffd\ufffdatlas-4"), "invalid_utf8", "bytes that are not UTF-8"),
    (
        "future_timestamp",
        line(request_id="f1", ts="2027-12-07T12:00:00Z"),
        "future_timestamp",
        "ts 2+ days after the folder date",
    ),
    (
        "future_next_next_day",
        line(request_id="f2", ts="2026-11-04T00:00:00Z"),
        "future_timestamp",
        "ts 2+ days after the folder date",
    ),
    ("huge_prompt", line(request_id="h1", prompt_text="x" * 4001), "prompt_too_long", "prompt_text chars 4001 > 4000"),
    ("prompt_at_limit", line(request_id="ok5", prompt_text="y" * 4000), None, None),
]


def _parse(spark: SparkSession, rows: list[tuple[str, str]]) -> dict[str, dict]:
    lines = spark.createDataFrame([(text, name) for name, text in rows], "value string, source_file string")
    return {r.source_file: r.asDict() for r in parse_request_lines(lines, FOLDER).collect()}


def test_every_fault_class_gets_its_reason(engine: SparkSession) -> None:
    parsed = _parse(engine, [(name, text) for name, text, _, _ in CASES])
    assert {name: (row["reason"], row["detail"]) for name, row in parsed.items()} == {
        name: (reason, detail) for name, _, reason, detail in CASES
    }
    for name, text, reason, _ in CASES:
        assert parsed[name]["raw_line"] == (text if reason else None), name


def test_valid_lines_are_typed_and_flattened(engine: SparkSession) -> None:
    parsed = _parse(engine, [(name, text) for name, text, reason, _ in CASES if reason is None])
    ok = parsed["valid"]
    assert (ok["request_id"], ok["ts"], ok["event_date"], ok["landing_date"]) == (
        "ok1",
        datetime(2026, 11, 2, 10, 0, 0, 250000),
        date(2026, 11, 2),
        FOLDER,
    )
    assert (ok["status"], ok["prompt_tokens"], ok["completion_tokens"], ok["cost_usd"]) == (200, 12, 30, 0.0012)
    assert (ok["temperature"], ok["n"], ok["logprobs"], ok["top_logprobs"], ok["tools"], ok["stream"]) == (
        0.7,
        2,
        True,
        5,
        3,
        None,
    )
    assert ok["reasoning_refs_sent"] == ["rs_a", "rs_b"]
    assert ok["prompt_text"] == 'hi "there" é' and ok["client_ip"] == "51.19.5.40"
    assert parsed["clock_skew_next_day"]["event_date"] == date(2026, 11, 3)
    assert parsed["clock_skew_next_day"]["ts"] == datetime(2026, 11, 3, 0, 3, 10)
    assert parsed["late_3_days"]["event_date"] == date(2026, 10, 30)
    assert parsed["unknown_keys"]["request_id"] == "ok2"


def test_dedupe_and_classify_against_stored_rows(engine: SparkSession) -> None:
    schema = "request_id string, event_date date, source_file string, ts timestamp, account_id string"
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    t = datetime(2026, 11, 2, 1)
    batch = engine.createDataFrame(
        [
            ("a", d2, "part-1", t, "x"),
            ("a", d2, "part-1", t, "x"),
            ("a", d2, "redelivered", t, "x"),
            ("b", d2, "part-1", t, "x"),
            ("c", d1, "part-2", t, "x"),
            ("d", d1, "part-2", t, "x"),
        ],
        schema,
    ).withColumn("landing_date", F.lit(d2))
    stored = engine.createDataFrame(
        [("c", d1, d1), ("d", d1, d2), ("b", d1, d1)], "request_id string, event_date date, landing_date date"
    )
    classified = classify_days(batch, stored)
    assert classified.count() == 4
    outcome = {r.request_id: r.outcome for r in classified.collect()}
    # c stored by another folder date: duplicate; d by an earlier attempt of this one;
    # b has the same id on another event date, which is another request.
    assert outcome == {"a": "new", "b": "new", "c": "duplicate", "d": "accepted_before"}


@pytest.mark.parametrize("key", [b"k", b"0123456789abcdef" * 4, b"a-very-long-partner-key" * 5])
def test_hmac_column_matches_python_hmac(engine: SparkSession, key: bytes) -> None:
    texts = ["pf_0001", "é ü 支付", ""]
    df = engine.createDataFrame([(t,) for t in texts] + [(None,)], "t string")
    got = [r.h for r in df.select(hmac_sha256_hex(F.col("t"), key).alias("h")).collect()]
    assert got == [hmac.new(key, t.encode(), hashlib.sha256).hexdigest() for t in texts] + [None]


def test_accounts_snapshot_parse_dedupe_and_hmac(engine: SparkSession) -> None:
    good = {
        "account_id": "acct_1",
        "org_id": None,
        "created_at": "2025-05-21T22:19:23.000Z",
        "signup_country": "US",
        "billing_country": None,
        "kyc_tier": "basic",
        "plan": "free",
        "payment_fingerprint": "pf1",
        "email_domain": "x.example",
        "zero_data_retention": False,
    }
    rows = [
        ("ok", json.dumps(good)),
        ("dup", json.dumps(good)),
        ("bad_tier", json.dumps({**good, "account_id": "a2", "kyc_tier": "gold"})),
        ("bad_bool", json.dumps({**good, "account_id": "a3", "zero_data_retention": "no"})),
        ("missing", json.dumps({k: v for k, v in good.items() if k != "plan"})),
        ("malformed", json.dumps(good)[:-2]),
    ]
    lines = engine.createDataFrame([(text, name) for name, text in rows], "value string, source_file string")
    parsed = parse_account_lines(lines, FOLDER)
    reasons = {r.source_file: (r.reason, r.detail) for r in parsed.collect()}
    assert reasons == {
        "ok": (None, None),
        "dup": (None, None),
        "bad_tier": ("wrong_type", "kyc_tier not in contract"),
        "bad_bool": ("wrong_type", "zero_data_retention"),
        "missing": ("missing_required", "plan"),
        "malformed": ("malformed_json", "not one JSON object"),
    }
    refined = refined_accounts(dedupe_snapshot(parsed.filter("reason is null")), b"key").collect()
    assert len(refined) == 1
    assert refined[0].payment_fingerprint_hmac == hmac.new(b"key", b"pf1", hashlib.sha256).hexdigest()
    assert refined[0].snapshot_date == FOLDER and refined[0].created_at == datetime(2025, 5, 21, 22, 19, 23)


def test_incident_and_indicator_csv_lines(engine: SparkSession) -> None:
    header = "incident_id,account_id,label,window_start,window_end,decided_on,source"
    incidents = [
        header,
        "INC-1,acct_1,distillation,2026-11-01,2026-11-02,2026-11-03,red_team",
        "INC-2,acct_2,fraud,2026-11-01,2026-11-02,2026-11-03,red_team",
        "INC-3,acct_3,benign,2026-11-05,2026-11-02,2026-11-06,red_team",
        "INC-4,acct_4,benign,2026-11-01,2026-11-02",
        "INC-5,,benign,2026-11-01,2026-11-02,2026-11-03,red_team",
        "INC-6,acct_6,benign,01/11/2026,2026-11-02,2026-11-03,red_team",
    ]
    lines = engine.createDataFrame([(text, "incidents.csv") for text in incidents], "value string, source_file string")
    got = [(r.record_key, r.reason, r.detail) for r in parse_incident_lines(lines).orderBy("incident_id").collect()]
    assert got == [
        (None, None, None),
        ("INC-2", "wrong_type", "label not in contract"),
        ("INC-3", "wrong_type", "window_start after window_end"),
        ("INC-4", "malformed_csv", "wrong number of fields"),
        ("INC-5", "missing_required", "account_id"),
        ("INC-6", "wrong_type", "window_start not an ISO date"),
    ]
    hex64 = "0" * 63 + "a"
    indicators = [
        "indicator_type,value,partner,first_seen,confidence",
        f"payment_fingerprint_hmac,{hex64},lab_b,2026-11-03,0.73",
        "ip_prefix,51.21.25.0/24,lab_c,2026-11-01,0.3",
        "ip_prefix,51.21.25.7,lab_c,2026-11-01,0.3",
        f"prompt_template_hash,{hex64},lab_b,2026-11-03,1.5",
        f"country,{hex64},lab_b,2026-11-03,0.5",
    ]
    lines = engine.createDataFrame([(text, "ind.csv") for text in indicators], "value string, source_file string")
    got = sorted(
        ((r.indicator_type, r.reason, r.detail, r.confidence) for r in parse_indicator_lines(lines).collect()),
        key=lambda row: (row[0], row[1] or ""),
    )
    assert got == [
        ("country", "wrong_type", "indicator_type not in contract", 0.5),
        ("ip_prefix", None, None, 0.3),
        ("ip_prefix", "wrong_type", "value not in the indicator_type's format", 0.3),
        ("payment_fingerprint_hmac", None, None, 0.73),
        ("prompt_template_hash", "wrong_type", "confidence not in [0, 1]", 1.5),
    ]


def test_line_reader_keeps_every_line_and_marks_bad_bytes(engine: SparkSession, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = landing / "request_logs" / "date=2026-11-02" / "part-00000.jsonl.gz"
    path.parent.mkdir(parents=True)
    lines = [
        line(request_id="a", prompt_text='tab\t "q" é, ünï').encode(),
        line(request_id="b").replace('"model":"', '"model":"\xff\xfe').encode("latin-1"),
        b'{"request_id":"c",\x01"x":1}',
        b"not json at all",
    ]
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n\n"))
    got = read_lines(engine, [path], landing).collect()
    assert [r.source_file for r in got] == ["request_logs/date=2026-11-02/part-00000.jsonl.gz"] * 4
    values = [r.value for r in got]  # in no particular order: a few files are spread over the cores
    assert lines[0].decode() in values and "not json at all" in values
    assert sorted(value.count("\ufffd") for value in values) == [0, 0, 0, 2]
    parsed = parse_request_lines(
        engine.createDataFrame([(r.value, r.source_file) for r in got], "value string, source_file string"), FOLDER
    )
    assert sorted((r.request_id or r.record_key or "", r.reason or "") for r in parsed.collect()) == [
        ("", "malformed_json"),
        ("", "malformed_json"),
        ("a", ""),
        ("b", "invalid_utf8"),
    ]
