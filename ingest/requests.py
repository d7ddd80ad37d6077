"""Request-log lines to typed raw rows, each either valid or carrying a quarantine reason.

Input is one row per landing line (``value``, ``source_file``). Each line is parsed twice
with ``from_json``: once with the contract's types and once with every key as a string.
A key present in the string parse but null in the typed one had a value of the wrong type;
a required key null in the string parse is missing. ``params`` and
``reasoning_refs_sent`` are parsed in a second step from their JSON text.

Huge ``prompt_text`` (more than the contract's 4,000 characters) is quarantined, not
truncated: the gateway promises to cut the text itself, so a longer value means that step
failed and the line cannot be trusted as logged; truncating here would hide the upstream
fault and silently rewrite a field. The line stays replayable in quarantine with its text.

Future timestamps: a ts on or after the start of (folder date + 2 days) is quarantined;
clock skew of minutes into the next day is valid and lands in that day's partition.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillguard.ingest import contract as c
from distillguard.ingest.common import first_in_line, first_named, not_a_json_object, undecodable

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


def parse_request_lines(lines: DataFrame, landing_date: date) -> DataFrame:
    """Every line of a landing folder, typed, with ``reason`` and ``detail`` set when invalid.

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
    missing = first_named([(name, s[name].isNull()) for name, _ in c.REQUIRED_REQUEST_FIELDS])
    type_error = _type_errors(line, t, s, params_text, F.col("p"), F.col("ps"), F.col("refs"), ts)
    too_far = event_date >= F.lit(landing_date + timedelta(days=c.FUTURE_DAYS))
    prompt_chars = F.length(t["prompt_text"])
    malformed = not_a_json_object(line)
    reason = (
        F.when(undecodable(line), F.lit(c.INVALID_UTF8))
        .when(malformed, F.lit(c.MALFORMED_JSON))
        .when(missing.isNotNull(), F.lit(c.MISSING_REQUIRED))
        .when(type_error.isNotNull(), F.lit(c.WRONG_TYPE))
        .when(too_far, F.lit(c.FUTURE_TIMESTAMP))
        .when(prompt_chars > c.MAX_PROMPT_CHARS, F.lit(c.PROMPT_TOO_LONG))
    )
    detail = (
        F.when(undecodable(line), F.lit("bytes that are not UTF-8"))
        .when(malformed, F.lit("not one JSON object"))
        .when(missing.isNotNull(), missing)
        .when(type_error.isNotNull(), type_error)
        .when(too_far, F.lit(f"ts {c.FUTURE_DAYS}+ days after the folder date"))
        .when(
            prompt_chars > c.MAX_PROMPT_CHARS,
            F.concat(F.lit("prompt_text chars "), prompt_chars.cast("string"), F.lit(f" > {c.MAX_PROMPT_CHARS}")),
        )
    )
    columns = [
        t[name].alias(name) for name, _ in c.REQUEST_FIELDS if name not in ("ts", "params", "reasoning_refs_sent")
    ]
    columns += [F.col("p")[name].alias(name) for name, _ in c.PARAMS_FIELDS]
    return parsed.select(
        *columns,
        ts.alias("ts"),
        event_date.alias("event_date"),
        F.col("refs").alias("reasoning_refs_sent"),
        "source_file",
        F.lit(landing_date).alias("landing_date"),
        reason.alias("reason"),
        detail.alias("detail"),
        F.when(reason.isNotNull(), line).alias("raw_line"),
        F.when(reason.isNotNull(), s["request_id"]).alias("record_key"),
    )


def dedupe_batch(valid: DataFrame) -> DataFrame:
    """One row per request_id within a batch (at-least-once delivery repeats whole lines,
    so copies are identical; the order only makes the pick deterministic)."""
    first = Window.partitionBy("request_id").orderBy("source_file", "ts", "account_id")
    return valid.withColumn("_copy", F.row_number().over(first)).filter("_copy = 1").drop("_copy")


def classify_against_raw(batch: DataFrame, prior: DataFrame, landing_date: date) -> DataFrame:
    """Add ``outcome``: ``new``, ``accepted_before`` (an earlier attempt of this folder date
    already stored it: a re-run counts it as accepted again) or ``duplicate``.

    ``prior`` holds (event_date, request_id, landing_date) of stored rows. Copies of one
    request carry the same ts, so matching on event_date too lets Delta skip partitions.
    """
    stored = prior.select("event_date", "request_id", F.col("landing_date").alias("_stored_from"))
    outcome = (
        F.when(F.col("_stored_from").isNull(), F.lit("new"))
        .when(F.col("_stored_from") == F.lit(landing_date), F.lit("accepted_before"))
        .otherwise(F.lit("duplicate"))
    )
    return batch.join(stored, ["event_date", "request_id"], "left").withColumn("outcome", outcome).drop("_stored_from")


def raw_rows(parsed: DataFrame, run_id: str) -> DataFrame:
    """Valid rows in the raw table's column order."""
    return parsed.select(*RAW_COLUMNS, F.lit(run_id).alias("ingest_run_id"))


IPV4 = r"^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$"
IPV6 = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"


def gate_view(rows: DataFrame, landing_date: date) -> DataFrame:
    """What the raw_requests suite sees: contract fields minus personal data, plus derived
    checks (IP kind, prompt length, lateness, and a 0/1 flag whose sum is this run's volume)."""
    ip = F.col("client_ip")
    ip_kind = (
        F.when(ip.isNull(), F.lit(None).cast("string"))
        .when(ip.rlike(IPV4), F.lit("ipv4"))
        .when(ip.rlike(IPV6), F.lit("ipv6"))
        .otherwise(F.lit("invalid"))
    )
    return rows.select(
        "event_date",
        "request_id",
        "ts",
        "account_id",
        "api_key_id",
        "model",
        "endpoint",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "cost_usd",
        "latency_ms",
        "asn_kind",
        "country",
        "finish_reason",
        "temperature",
        "n",
        ip_kind.alias("client_ip_kind"),
        F.length("prompt_text").alias("prompt_chars"),
        F.datediff(F.col("landing_date"), F.col("event_date")).alias("days_late"),
        (F.col("landing_date") == F.lit(landing_date)).cast("int").alias("from_this_run"),
    )
