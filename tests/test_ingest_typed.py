"""The one-parse path of request lines (``typed_request_lines`` + ``request_rows``) gives
exactly what the exact two-parse classification gives, and sends only bad lines to it."""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard.ingest.requests import (
    SUMMARY_SCHEMA,
    gate_aggregates,
    gate_summary,
    parse_request_lines,
    request_rows,
    typed_request_lines,
)
from tests.test_ingest_parse import CASES, FOLDER, line

EXTRA = [
    ("optional_wrong_type", line(request_id="w11", latency_ms="fast"), "wrong_type", "latency_ms"),
    ("optional_wrong_type_last", line(request_id="w12", asn="AS1"), "wrong_type", "asn"),
    ("params_optional_wrong_type", line(request_id="w13", params={"stream": "yes"}), "wrong_type", "params.stream"),
    ("optional_nulls", line(request_id="ok6", latency_ms=None, asn=None, params={"n": None}), None, None),
    ("key_names_in_prompt", line(request_id="ok7", prompt_text='"asn": "x", "latency_ms"'), None, None),
    ("leading_space", " " + line(request_id="ok8"), None, None),
]
# Lines the one parse cannot vouch for although they may be valid: the exact parse decides
# (a raw U+2028 is valid JSON; Java's regex, unlike Rust's, does not match it with ".").
SUSPECT_ONLY = {
    "leading_space": " " + line(request_id="ok8"),
    "line_separator": line(request_id="ok9", prompt_text="a\u2028b"),
    "spaced_null": line(request_id="ok10").replace("}", ', "latency_ms": \tnull}'),
}


def test_one_parse_equals_the_exact_parse(engine: SparkSession) -> None:
    cases = CASES + EXTRA
    rows = [(text, name) for name, text, _, _ in cases] + [(text, name) for name, text in SUSPECT_ONLY.items()]
    lines = engine.createDataFrame(rows, "value string, source_file string")
    typed = typed_request_lines(lines, FOLDER)
    suspect = {r.source_file: r.suspect for r in typed.select("source_file", "suspect").collect()}
    assert suspect == {
        **{name: reason is not None or name in SUSPECT_ONLY for name, _, reason, _ in cases},
        **{name: True for name in SUSPECT_ONLY},
    }
    fast = {r.source_file: r.asDict() for r in request_rows(typed, FOLDER).collect()}
    exact = {r.source_file: r.asDict() for r in parse_request_lines(lines, FOLDER).collect()}
    assert fast == exact
    assert {name: (fast[name]["reason"], fast[name]["detail"]) for name, _, _, _ in cases} == {
        name: (reason, detail) for name, _, reason, detail in cases
    }
    assert (fast["spaced_null"]["reason"], fast["spaced_null"]["latency_ms"]) == (None, None)


def test_gate_aggregates_combine_into_one_summary_row(engine: SparkSession) -> None:
    """Partial aggregates per (event_date, outcome) add up to the figures of all rows."""
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    rows = (
        engine.createDataFrame(
            [
                (
                    "a",
                    d2,
                    "new",
                    "acct",
                    "k",
                    "messages",
                    200,
                    10,
                    5,
                    3,
                    0.5,
                    120,
                    0.0,
                    1,
                    "hosting",
                    "stop",
                    "BR",
                    "1.2.3.4",
                    "hi",
                ),
                (
                    "b",
                    d2,
                    "new",
                    "acct",
                    None,
                    "chat",
                    599,
                    0,
                    2,
                    4,
                    150.0,
                    10,
                    2.5,
                    2,
                    "isp",
                    "stop",
                    "br",
                    "bad",
                    None,
                ),
                (
                    "c",
                    d1,
                    "accepted_before",
                    "acct",
                    "k",
                    "batch",
                    429,
                    7,
                    9,
                    None,
                    0.1,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "::1",
                    "x" * 7,
                ),
                (
                    "d",
                    date(2026, 10, 20),
                    "new",
                    "acct",
                    "k",
                    "batch",
                    200,
                    1,
                    1,
                    None,
                    0.1,
                    5,
                    1.0,
                    1,
                    "mobile",
                    "error",
                    "US",
                    None,
                    "yo",
                ),
            ],
            "request_id string, event_date date, outcome string, account_id string, api_key_id string, endpoint string, "
            "status int, prompt_tokens long, completion_tokens long, reasoning_tokens long, cost_usd double, "
            "latency_ms long, temperature double, n long, asn_kind string, finish_reason string, country string, "
            "client_ip string, prompt_text string",
        )
        .withColumn("ts", F.current_timestamp())
        .withColumn("landing_date", F.lit(d2))
    )
    partials = [r.asDict() for r in gate_aggregates(rows, ["event_date", "outcome"]).collect()]
    assert len(partials) == 3
    summary = gate_summary(partials)
    assert list(summary) == [part.split(" ")[0] for part in SUMMARY_SCHEMA.split(", ")]
    assert summary == {
        "from_this_run": 4,
        "request_id_nulls": 0,
        "ts_nulls": 0,
        "account_id_nulls": 0,
        "api_key_id_nulls": 1,
        "endpoint_not_in_contract": 1,
        "prompt_tokens_min": 0,
        "completion_tokens_min": 1,
        "prompt_chars_max": 7,
        "cost_usd_max": 150.0,
        "status_min": 200,
        "status_max": 599,
        "reasoning_over_completion": 1,
        "latency_ms_min": 5,
        "latency_ms_max": 120,
        "temperature_min": 0.0,
        "temperature_max": 2.5,
        "n_min": 1,
        "n_max": 2,
        "asn_kind_not_in_contract": 1,
        "finish_reason_not_in_contract": 0,
        "country_not_iso": 1,
        "status_unusual_fraction": 0.25,
        "client_ip_invalid_fraction": 1 / 3,
        "client_ip_fraction": 0.75,
        "prompt_text_fraction": 0.75,
        "days_late_out_of_range_fraction": 0.25,
    }
    assert gate_summary([])["from_this_run"] == 0 and gate_summary([])["client_ip_fraction"] is None
