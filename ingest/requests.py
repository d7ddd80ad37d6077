"""Request-log lines to typed raw rows, each either valid or carrying a quarantine reason.

Input is one row per landing line (``value``, ``source_file``). ``typed_request_lines``
parses every line once, with the contract's types, and marks a line *suspect* unless that
parse alone proves it valid. Only suspect lines (the few bad ones, plus the rare valid
line the typed parse cannot vouch for) go through ``parse_request_lines``, which names the
reason: each line is parsed twice with ``from_json``, once with the contract's types and
once with every key as a string. A key present in the string parse but null in the typed
one had a value of the wrong type; a required key null in the string parse is missing.
``params`` and ``reasoning_refs_sent`` are parsed in a second step from their JSON text.

Huge ``prompt_text`` (more than the contract's 4,000 characters) is quarantined, not
truncated: the gateway promises to cut the text itself, so a longer value means that step
failed and the line cannot be trusted as logged; truncating here would hide the upstream
fault and silently rewrite a field. The line stays replayable in quarantine with its text.

Future timestamps: a ts on or after the start of (folder date + 2 days) is quarantined;
clock skew of minutes into the next day is valid and lands in that day's partition.
"""

from __future__ import annotations

from datetime import date
from functools import reduce
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillguard.ingest import contract as c
from distillguard.ingest.common import (
    first_by,
    first_in_line,
    first_named,
    not_a_json_object,
    undecodable,
)

RAW_COLUMNS = (
    "request_id",
    "ts",
    "event_date",
    "account_id",
    "api_key_id",
    "model",
    "endpoint",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "org_id",
    "reasoning_tokens",
    "latency_ms",
    "client_ip",
    "asn",
    "asn_kind",
    "country",
    "user_agent",
    "temperature",
    "top_p",
    "max_tokens",
    "n",
    "logprobs",
    "top_logprobs",
    "stream",
    "tools",
    "system_prompt_sha256",
    "prompt_text",
    "finish_reason",
    "reasoning_ref_issued",
    "reasoning_refs_sent",
    "source_file",
    "landing_date",
)


def _type_errors(
    line: Column,
    typed: Column,
    shadow: Column,
    params_text: Column,
    params_typed: Column,
    params_shadow: Column,
    refs: Column,
    ts: Column,
) -> Column:
    """Detail of the first contract-type violation of a well-formed line, else null."""
    non_string = [name for name, kind in c.REQUEST_FIELDS if kind.simpleString() != "string"]
    parse_failed = first_in_line(line, [(name, shadow[name].isNotNull() & typed[name].isNull()) for name in non_string])
    params_failed = first_named(
        [("params", ~params_text.startswith("{"))]
        + [
            (f"params.{name}", params_shadow[name].isNotNull() & params_typed[name].isNull())
            for name, _ in c.PARAMS_FIELDS
        ]
    )
    request_id = shadow["request_id"]
    return F.coalesce(
        parse_failed,
        first_named(
            [
                ("ts not RFC 3339", ~shadow["ts"].rlike(c.RFC3339) | ts.isNull()),
                ("request_id length", (F.length(request_id) < 1) | (F.length(request_id) > c.MAX_REQUEST_ID_CHARS)),
                ("endpoint not in contract", ~shadow["endpoint"].isin(*c.ENDPOINTS)),
            ]
        ),
        first_named([(f"{name} < 0", typed[name] < 0) for name in c.NON_NEGATIVE_REQUEST_FIELDS]),
        F.when(params_text.isNotNull(), params_failed),
        F.when(shadow["reasoning_refs_sent"].isNotNull() & refs.isNull(), F.lit("reasoning_refs_sent")),
    )


def folder_date(source: str) -> Column:
    """The landing folder date of a line, from its ``source_file`` (``<source>/date=D/...``):
    what a run over several folder dates passes as ``landing_date``."""
    prefix = f"{source}/date="
    return F.to_date(F.substring(F.col("source_file"), len(prefix) + 1, 10))


def _date(landing_date: date | Column) -> Column:
    return landing_date if isinstance(landing_date, Column) else F.lit(landing_date)


def beyond_future_limit(event_date: Column, landing_date: date | Column) -> Column:
    """A ts on or after the start of (folder date + ``FUTURE_DAYS``)."""
    return event_date >= F.date_add(_date(landing_date), c.FUTURE_DAYS)


def parse_request_lines(lines: DataFrame, landing_date: date | Column) -> DataFrame:
    """Every line of a landing folder, typed, with ``reason`` and ``detail`` set when invalid.

    ``landing_date``: the folder date, or a column of it (``folder_date``) for lines of
    several folders.

    ``raw_line`` keeps the text of invalid lines only (valid ones are fully in the columns).
    """
    line = F.col("value")
    parsed = lines.select(
        line.alias("value"),
        "source_file",
        F.from_json(line, c.struct(c.REQUEST_FIELDS)).alias("t"),
        F.from_json(line, c.struct(c.REQUEST_FIELDS, as_strings=True)).alias("s"),
    )
    t, s = F.col("t"), F.col("s")
    params_text = t["params"]
    parsed = parsed.select(
        "*",
        F.from_json(params_text, c.struct(c.PARAMS_FIELDS)).alias("p"),
        F.from_json(params_text, c.struct(c.PARAMS_FIELDS, as_strings=True)).alias("ps"),
        F.from_json(t["reasoning_refs_sent"], c.REFS_TYPE).alias("refs"),
        s["ts"].try_cast("timestamp").alias("ts_parsed"),
    )
    ts, event_date = F.col("ts_parsed"), F.to_date(F.col("ts_parsed"))
    # Each check once, as a column: reason and detail refer to them, not to copies of
    # their expressions (the plan would hold each several times over).
    parsed = parsed.select(
        "*",
        undecodable(line).alias("_undecodable"),
        not_a_json_object(line).alias("_malformed"),
        first_named([(name, s[name].isNull()) for name, _ in c.REQUIRED_REQUEST_FIELDS]).alias("_missing"),
        _type_errors(line, t, s, params_text, F.col("p"), F.col("ps"), F.col("refs"), ts).alias("_type_error"),
        beyond_future_limit(event_date, landing_date).alias("_too_far"),
        F.length(t["prompt_text"]).alias("_prompt_chars"),
    )
    missing, type_error, too_far, prompt_chars = (
        F.col("_missing"),
        F.col("_type_error"),
        F.col("_too_far"),
        F.col("_prompt_chars"),
    )
    reason = (
        F.when(F.col("_undecodable"), F.lit(c.INVALID_UTF8))
        .when(F.col("_malformed"), F.lit(c.MALFORMED_JSON))
        .when(missing.isNotNull(), F.lit(c.MISSING_REQUIRED))
        .when(type_error.isNotNull(), F.lit(c.WRONG_TYPE))
        .when(too_far, F.lit(c.FUTURE_TIMESTAMP))
        .when(prompt_chars > c.MAX_PROMPT_CHARS, F.lit(c.PROMPT_TOO_LONG))
    )
    detail = (
        F.when(F.col("_undecodable"), F.lit("bytes that are not UTF-8"))
        .when(F.col("_malformed"), F.lit("not one JSON object"))
        .when(missing.isNotNull(), missing)
        .when(type_error.isNotNull(), type_error)
        .when(too_far, F.lit(f"ts {c.FUTURE_DAYS}+ days after the folder date"))
        .when(
            prompt_chars > c.MAX_PROMPT_CHARS,
            F.concat(F.lit("prompt_text chars "), prompt_chars.cast("string"), F.lit(f" > {c.MAX_PROMPT_CHARS}")),
        )
    )
    parsed = parsed.select("*", reason.alias("reason"), detail.alias("detail"))
    columns = [
        t[name].alias(name) for name, _ in c.REQUEST_FIELDS if name not in ("ts", "params", "reasoning_refs_sent")
    ]
    columns += [F.col("p")[name].alias(name) for name, _ in c.PARAMS_FIELDS]
    failed = F.col("reason").isNotNull()
    return parsed.select(
        *columns,
        ts.alias("ts"),
        event_date.alias("event_date"),
        F.col("refs").alias("reasoning_refs_sent"),
        "source_file",
        _date(landing_date).alias("landing_date"),
        "reason",
        "detail",
        F.when(failed, line).alias("raw_line"),
        F.when(failed, s["request_id"]).alias("record_key"),
    )


TYPED_COLUMNS = tuple(name for name in RAW_COLUMNS if name not in ("source_file", "landing_date"))
QUARANTINE_COLUMNS = ("reason", "detail", "raw_line", "record_key")


def _absent_or_null(text: Column, name: str) -> Column:
    """True when key ``name`` is not in the JSON ``text`` or holds a literal null.

    Inside a JSON string a quote is escaped, so ``"name":`` in the text is a key. A key
    spelled with escapes or with other spacing before ``null`` is not recognised: its line
    is only sent to the exact parse, never accepted wrongly.
    """
    return ~text.contains(f'"{name}"') | text.contains(f'"{name}":null') | text.contains(f'"{name}": null')


def typed_request_lines(lines: DataFrame, landing_date: date | Column) -> DataFrame:
    """Every line parsed once with the contract's types: the raw columns, ``source_file``,
    ``suspect`` (false only when this parse proves the line valid) and ``value`` (the
    line's text, kept for suspect lines only).

    A wrong-typed value leaves its field null in the typed parse, so a valid line is one
    whose required fields are all set, whose optional non-string fields are set or absent,
    and that passes every value check of ``parse_request_lines``; anything else is suspect.
    """
    line = F.col("value")
    t = F.from_json(line, c.struct(c.REQUEST_FIELDS))
    parsed = lines.select(line.alias("value"), "source_file", t.alias("t"))
    t = F.col("t")
    params_text = t["params"]
    parsed = parsed.select(
        "*",
        F.from_json(params_text, c.struct(c.PARAMS_FIELDS)).alias("p"),
        F.from_json(t["reasoning_refs_sent"], c.REFS_TYPE).alias("refs"),
        t["ts"].try_cast("timestamp").alias("ts_parsed"),
    )
    p, ts = F.col("p"), F.col("ts_parsed")
    event_date = F.to_date(ts)
    request_id = t["request_id"]
    optional = [name for name, kind in c.OPTIONAL_REQUEST_FIELDS if kind.simpleString() != "string"]
    checks = [
        ~undecodable(line),
        # The exact parse's regex, cheaper: a line with surrounding whitespace or a
        # character regex engines disagree on (``.`` in Java skips these) is suspect.
        line.startswith("{") & line.endswith("}"),
        *[~line.contains(char) for char in ("\r", "\u0085", "\u2028", "\u2029")],
        *[t[name].isNotNull() for name, _ in c.REQUIRED_REQUEST_FIELDS],
        *[t[name].isNotNull() | _absent_or_null(line, name) for name in optional],
        params_text.isNull() | params_text.startswith("{"),
        *[
            params_text.isNull() | p[name].isNotNull() | _absent_or_null(params_text, name)
            for name, _ in c.PARAMS_FIELDS
        ],
        t["reasoning_refs_sent"].isNull() | F.col("refs").isNotNull(),
        t["ts"].rlike(c.RFC3339) & ts.isNotNull(),
        F.length(request_id).between(1, c.MAX_REQUEST_ID_CHARS),
        t["endpoint"].isin(*c.ENDPOINTS),
        *[t[name].isNull() | (t[name] >= 0) for name in c.NON_NEGATIVE_REQUEST_FIELDS],
        ~beyond_future_limit(event_date, landing_date),
        F.coalesce(F.length(t["prompt_text"]) <= c.MAX_PROMPT_CHARS, F.lit(True)),
    ]
    # Computed once as a column: both outputs below refer to it.
    parsed = parsed.select("*", (~F.coalesce(reduce(Column.__and__, checks), F.lit(False))).alias("suspect"))
    columns = [
        t[name].alias(name) for name, _ in c.REQUEST_FIELDS if name not in ("ts", "params", "reasoning_refs_sent")
    ]
    columns += [p[name].alias(name) for name, _ in c.PARAMS_FIELDS]
    return parsed.select(
        *columns,
        ts.alias("ts"),
        event_date.alias("event_date"),
        F.col("refs").alias("reasoning_refs_sent"),
        "source_file",
        "suspect",
        F.when(F.col("suspect"), line).alias("value"),
    )


def suspect_rows(typed: DataFrame, landing_date: date | Column) -> DataFrame:
    """The exact parse of ``typed_request_lines``' suspect lines (few). Its plan is large
    (hundreds of expressions), so the job stages it once rather than re-plan it per read."""
    return parse_request_lines(typed.filter(F.col("suspect")).select("value", "source_file"), landing_date)


def request_rows(typed: DataFrame, landing_date: date | Column, suspect: DataFrame | None = None) -> DataFrame:
    """``parse_request_lines``' output from ``typed_request_lines``' (usually staged): the
    lines proven valid as they are, the suspect ones through the exact parse (``suspect``:
    ``suspect_rows`` of ``typed``, when already computed)."""
    clean = typed.filter(~F.col("suspect")).select(
        *TYPED_COLUMNS,
        "source_file",
        _date(landing_date).alias("landing_date"),
        *[F.lit(None).cast("string").alias(name) for name in QUARANTINE_COLUMNS],
    )
    exact = suspect_rows(typed, landing_date) if suspect is None else suspect
    return clean.unionByName(exact.select(*clean.columns))


DEDUPE_ORDER = ("source_file", "ts", "account_id")


def special_ids(valid: DataFrame, prior: DataFrame) -> DataFrame:
    """The request_ids of ``valid`` that need the dedupe or the stored rows: repeated in the
    batch or already stored (few; keys only are read)."""
    keys = valid.select("event_date", "request_id")
    repeated = keys.groupBy("request_id").count().filter(F.col("count") > 1).select("request_id")
    stored = keys.join(prior.select("event_date", "request_id"), ["event_date", "request_id"], "left_semi")
    return repeated.unionByName(stored.select("request_id")).distinct()


def classify_days(valid: DataFrame, prior: DataFrame, special: DataFrame | None = None) -> DataFrame:
    """One row per request id and folder date (``landing_date`` a column), with the outcome
    each would get if the dates were ingested one by one, in date order, moving only keys.

    A request id seen once and in no stored row (nearly all of them) is ``new`` as it is:
    only the keys are shuffled to find the others (``special_ids``; ``special``: those ids
    when the caller already holds them as a small local frame). Within a date the first
    copy of a request id in ``DEDUPE_ORDER`` is kept (at-least-once delivery repeats whole
    lines, so copies are identical; the order only makes the pick deterministic); the
    others are that date's in-batch duplicates and are left out. A copy stored before
    this run is ``accepted_before`` for the date that stored it and ``duplicate`` for any
    other; otherwise the earliest date's copy is ``new`` and a later date's ``duplicate``
    (that date would have found it stored). Only the special ids' rows are windowed.
    """
    special = special_ids(valid, prior) if special is None else special
    plain = valid.join(special, "request_id", "left_anti").withColumn("outcome", F.lit("new"))
    copies = first_by(
        valid.join(special, "request_id", "left_semi"), ["landing_date", "request_id"], list(DEDUPE_ORDER)
    )
    stored = prior.join(special, "request_id", "left_semi").select(
        "event_date", "request_id", F.col("landing_date").alias("_stored_from")
    )
    stored_from, landing = F.col("_stored_from"), F.col("landing_date")
    earliest = F.min("landing_date").over(Window.partitionBy("event_date", "request_id"))
    outcome = (
        F.when(stored_from == landing, F.lit("accepted_before"))
        .when(stored_from.isNotNull(), F.lit("duplicate"))
        .when(landing == F.col("_earliest"), F.lit("new"))
        .otherwise(F.lit("duplicate"))
    )
    rest = (
        copies.join(stored, ["event_date", "request_id"], "left")
        .withColumn("_earliest", earliest)
        .withColumn("outcome", outcome)
    )
    columns = ["event_date", "request_id", *(n for n in valid.columns if n not in ("event_date", "request_id"))]
    return plain.select(*columns, "outcome").unionByName(rest.select(*columns, "outcome"))


def raw_rows(parsed: DataFrame, run_id: str | Column) -> DataFrame:
    """Valid rows in the raw table's column order (``run_id``: a column for several dates)."""
    return parsed.select(*RAW_COLUMNS, F.lit(run_id).alias("ingest_run_id"))


IPV4 = r"^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$"
IPV6 = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"


COMMON_STATUS = (200, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504, 529)
ASN_KINDS = ("residential", "mobile", "hosting", "proxy_vpn", "unknown")
FINISH_REASONS = ("stop", "length", "tool_use", "content_filter", "error")
# The contract allows events up to 3 days late and minutes of skew into the next day.
DAYS_LATE = (-1, 3)


def _count(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0))


# How partial aggregates (one per event date and outcome) combine, per aggregate.
COMBINE = {
    "from_this_run": "sum",
    **{f"{name}_nulls": "sum" for name in ("request_id", "ts", "account_id", "api_key_id")},
    "endpoint_not_in_contract": "sum",
    "prompt_tokens_min": "min",
    "completion_tokens_min": "min",
    "prompt_chars_max": "max",
    "cost_usd_max": "max",
    "status_min": "min",
    "status_max": "max",
    "status_unusual": "sum",
    "status_known": "sum",
    "reasoning_over_completion": "sum",
    "latency_ms_min": "min",
    "latency_ms_max": "max",
    "temperature_min": "min",
    "temperature_max": "max",
    "n_min": "min",
    "n_max": "max",
    "asn_kind_not_in_contract": "sum",
    "finish_reason_not_in_contract": "sum",
    "country_not_iso": "sum",
    "client_ip_invalid": "sum",
    "client_ip_known": "sum",
    "prompt_text_known": "sum",
    "days_late_out_of_range": "sum",
}
# Fractions behind the suite's "mostly" bounds: (numerator, denominator).
FRACTIONS = {
    "status_unusual_fraction": ("status_unusual", "status_known"),
    "client_ip_invalid_fraction": ("client_ip_invalid", "client_ip_known"),
    "client_ip_fraction": ("client_ip_known", "from_this_run"),
    "prompt_text_fraction": ("prompt_text_known", "from_this_run"),
    "days_late_out_of_range_fraction": ("days_late_out_of_range", "from_this_run"),
}
_PARTS = {name for pair in FRACTIONS.values() for name in pair} - {"from_this_run"}
_DOUBLES = ("cost_usd_max", "temperature_min", "temperature_max", *FRACTIONS)
SUMMARY_SCHEMA = ", ".join(
    f"{name} {'double' if name in _DOUBLES else 'long'}"
    for name in [*(n for n in COMBINE if n not in _PARTS), *FRACTIONS]
)


def _aggregates() -> dict[str, Column]:
    ip, late = F.col("client_ip"), F.datediff(F.col("landing_date"), F.col("event_date"))
    return {
        "from_this_run": F.count(F.lit(1)),
        **{f"{name}_nulls": _count(F.col(name).isNull()) for name in ("request_id", "ts", "account_id", "api_key_id")},
        "endpoint_not_in_contract": _count(~F.col("endpoint").isin(*c.ENDPOINTS)),
        "prompt_tokens_min": F.min("prompt_tokens"),
        "completion_tokens_min": F.min("completion_tokens"),
        "prompt_chars_max": F.max(F.length("prompt_text")).cast("long"),
        "cost_usd_max": F.max("cost_usd"),
        "status_min": F.min("status").cast("long"),
        "status_max": F.max("status").cast("long"),
        "status_unusual": _count(~F.col("status").isin(*COMMON_STATUS)),
        "status_known": F.count("status"),
        "reasoning_over_completion": _count(F.col("reasoning_tokens") > F.col("completion_tokens")),
        "latency_ms_min": F.min("latency_ms"),
        "latency_ms_max": F.max("latency_ms"),
        "temperature_min": F.min("temperature"),
        "temperature_max": F.max("temperature"),
        "n_min": F.min("n"),
        "n_max": F.max("n"),
        "asn_kind_not_in_contract": _count(~F.col("asn_kind").isin(*ASN_KINDS)),
        "finish_reason_not_in_contract": _count(~F.col("finish_reason").isin(*FINISH_REASONS)),
        "country_not_iso": _count(~F.col("country").rlike("^[A-Z]{2}$")),
        "client_ip_invalid": _count(~ip.rlike(IPV4) & ~ip.rlike(IPV6)),
        "client_ip_known": F.count(ip),
        "prompt_text_known": F.count("prompt_text"),
        "days_late_out_of_range": _count(~late.between(*DAYS_LATE)),
    }


def gate_aggregates(rows: DataFrame, by: list[str]) -> DataFrame:
    """The raw_requests gate's aggregates of ``rows`` per group of ``by``: the gate costs
    one aggregation (fused with the dedupe counts) instead of a scan per expectation."""
    return rows.groupBy(*by).agg(*[expr.alias(name) for name, expr in _aggregates().items()])


def summary_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """``gate_summary``'s row as the one-row pandas frame the gate checks (``SUMMARY_SCHEMA``'s
    types; a null stays a null)."""
    kinds = dict(part.split(" ") for part in SUMMARY_SCHEMA.split(", "))
    return pd.DataFrame([summary]).astype(
        {name: "float64" if kind == "double" else "Int64" for name, kind in kinds.items()}
    )


def gate_summary(partials: list[dict[str, Any]]) -> dict[str, Any]:
    """The one row the raw_requests suite checks (``SUMMARY_SCHEMA``), from partial
    ``gate_aggregates`` rows: counts, extremes and fractions (null when there is nothing
    to divide or compare, which GX skips as it skips null values)."""
    combine = {"sum": sum, "min": min, "max": max}
    total = {}
    for name, how in COMBINE.items():
        values = [row[name] for row in partials if row[name] is not None]
        total[name] = combine[how](values) if values else (0 if how == "sum" else None)
    fractions = {name: (total[a] / total[b] if total[b] else None) for name, (a, b) in FRACTIONS.items()}
    names = [part.split(" ")[0] for part in SUMMARY_SCHEMA.split(", ")]
    return {name: fractions[name] if name in fractions else total[name] for name in names}
