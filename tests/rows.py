"""Hand-written raw request rows for feature tests (the raw table's schema)."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession

RAW_SCHEMA = (
    "request_id string, ts timestamp, event_date date, account_id string, api_key_id string, "
    "model string, endpoint string, status int, prompt_tokens long, completion_tokens long, "
    "cost_usd double, org_id string, reasoning_tokens long, latency_ms long, client_ip string, "
    "asn long, asn_kind string, country string, user_agent string, temperature double, top_p double, "
    "max_tokens long, n long, logprobs boolean, top_logprobs long, stream boolean, tools long, "
    "system_prompt_sha256 string, prompt_text string, finish_reason string, "
    "reasoning_ref_issued string, reasoning_refs_sent array<string>"
)
FIELDS = [f.strip().split(" ")[0] for f in RAW_SCHEMA.split(", ")]
DEFAULTS = dict(
    api_key_id="k1",
    model="atlas-4",
    endpoint="messages",
    status=200,
    prompt_tokens=100,
    completion_tokens=200,
    cost_usd=0.01,
    org_id=None,
    reasoning_tokens=None,
    latency_ms=900,
    client_ip="23.1.2.3",
    asn=7000,
    asn_kind="residential",
    country="US",
    user_agent="openai-python/1.55.3",
    temperature=0.7,
    top_p=None,
    max_tokens=1024,
    n=1,
    logprobs=False,
    top_logprobs=None,
    stream=False,
    tools=0,
    system_prompt_sha256=None,
    prompt_text="hello there",
    finish_reason="stop",
    reasoning_ref_issued=None,
    reasoning_refs_sent=None,
)


def request(request_id: str, account_id: str, ts: str, **values: object) -> dict:
    stamp = datetime.fromisoformat(ts)
    row = {
        **DEFAULTS,
        **values,
        "request_id": request_id,
        "account_id": account_id,
        "ts": stamp,
        "event_date": stamp.date(),
    }
    return row


def raw_frame(spark: SparkSession, rows: list[dict]) -> DataFrame:
    return spark.createDataFrame([tuple(r[f] for f in FIELDS) for r in rows], RAW_SCHEMA)


DAY = date(2026, 11, 3)
