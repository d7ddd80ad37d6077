"""The one-parse path of request lines (``typed_request_lines`` + ``request_rows``) gives
exactly what the exact two-parse classification gives, and sends only bad lines to it."""

from __future__ import annotations

from pyspark.sql import SparkSession

from distillguard.ingest.requests import parse_request_lines, request_rows, typed_request_lines
from tests.test_ingest_parse import CASES, FOLDER, line

EXTRA = [
    ("optional_wrong_type", line(request_id="w11", latency_ms="fast"), "wrong_type", "latency_ms"),
    ("optional_wrong_type_last", line(request_id="w12", asn="AS1"), "wrong_type", "asn"),
    ("params_optional_wrong_type", line(request_id="w13", params={"stream": "yes"}), "wrong_type", "params.stream"),
    ("optional_nulls", line(request_id="ok6", latency_ms=None, asn=None, params={"n": None}), None, None),
    ("key_names_in_prompt", line(request_id="ok7", prompt_text='"asn": "x", "latency_ms"'), None, None),
]


def test_one_parse_equals_the_exact_parse(engine: SparkSession) -> None:
    cases = CASES + EXTRA
    lines = engine.createDataFrame([(text, name) for name, text, _, _ in cases], "value string, source_file string")
    typed = typed_request_lines(lines, FOLDER)
    suspect = {r.source_file: r.suspect for r in typed.select("source_file", "suspect").collect()}
    assert suspect == {name: reason is not None for name, _, reason, _ in cases}
    fast = {r.source_file: r.asDict() for r in request_rows(typed, FOLDER).collect()}
    exact = {r.source_file: r.asDict() for r in parse_request_lines(lines, FOLDER).collect()}
    assert fast == exact
    assert {name: (row["reason"], row["detail"]) for name, row in fast.items()} == {
        name: (reason, detail) for name, _, reason, detail in cases
    }
