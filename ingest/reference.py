"""Incident and partner-indicator CSV lines to typed rows, each valid or with a reason.

Lines are split on commas: no contract column (ids, labels, dates, numbers, hashes, CIDR
prefixes, partner names) holds one, and a line with another field count is quarantined.
``from_csv`` is not used because Sail raises on a field-count mismatch instead of
returning a row, which would stop the whole run for one bad line.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillguard.ingest import contract as c
from distillguard.ingest.common import blank_to_null, first_named, first_per_key, undecodable

HEX64 = r"^[0-9a-f]{64}$"
IPV4_24 = r"^([0-9]{1,3}\.){3}0/24$"
IPV6_48 = r"^[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::/48$"
NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


def _split(lines: DataFrame, columns: tuple[str, ...]) -> tuple[DataFrame, Column, Column]:
    """Drop header lines; return rows with ``f`` (the fields), the malformed and missing checks."""
    header = ",".join(columns)
    body = lines.filter(F.trim(F.col("value")) != F.lit(header)).select(
        "value", "source_file", F.split(F.col("value"), ",").alias("f")
    )
    fields = F.col("f")
    malformed = F.size(fields) != len(columns)
    missing = first_named([(name, blank_to_null(F.get(fields, i)).isNull()) for i, name in enumerate(columns)])
    return body, malformed, missing


def _date(text: Column) -> Column:
    return F.when(text.rlike(c.ISO_DATE), text.try_cast("date"))


def _finish(
    body: DataFrame, typed: dict[str, Column], malformed: Column, missing: Column, type_error: Column, key: Column
) -> DataFrame:
    line = F.col("value")
    reason = (
        F.when(undecodable(line), F.lit(c.INVALID_UTF8))
        .when(malformed, F.lit(c.MALFORMED_CSV))
        .when(missing.isNotNull(), F.lit(c.MISSING_REQUIRED))
        .when(type_error.isNotNull(), F.lit(c.WRONG_TYPE))
    )
    detail = (
        F.when(undecodable(line), F.lit("bytes that are not UTF-8"))
        .when(malformed, F.lit("wrong number of fields"))
        .when(missing.isNotNull(), missing)
        .when(type_error.isNotNull(), type_error)
    )
    return body.select(
        *[column.alias(name) for name, column in typed.items()],
        "source_file",
        F.lit(None).cast("date").alias("landing_date"),
        reason.alias("reason"),
        detail.alias("detail"),
        F.when(reason.isNotNull(), line).alias("raw_line"),
        F.when(reason.isNotNull(), key).alias("record_key"),
    )


def parse_incident_lines(lines: DataFrame) -> DataFrame:
    body, malformed, missing = _split(lines, c.INCIDENT_COLUMNS)
    text = {name: blank_to_null(F.get(F.col("f"), i)) for i, name in enumerate(c.INCIDENT_COLUMNS)}
    typed = {**text, **{name: _date(text[name]) for name in ("window_start", "window_end", "decided_on")}}
    type_error = first_named(
        [
            ("label not in contract", ~text["label"].isin(*c.INCIDENT_LABELS)),
            ("source not in contract", ~text["source"].isin(*c.INCIDENT_SOURCES)),
            *[
                (f"{name} not an ISO date", typed[name].isNull())
                for name in ("window_start", "window_end", "decided_on")
            ],
            ("window_start after window_end", typed["window_start"] > typed["window_end"]),
        ]
    )
    return _finish(body, typed, malformed, missing, type_error, text["incident_id"])


def parse_indicator_lines(lines: DataFrame) -> DataFrame:
    body, malformed, missing = _split(lines, c.INDICATOR_COLUMNS)
    text = {name: blank_to_null(F.get(F.col("f"), i)) for i, name in enumerate(c.INDICATOR_COLUMNS)}
    confidence = F.when(text["confidence"].rlike(NUMBER), text["confidence"].try_cast("double"))
    typed = {**text, "first_seen": _date(text["first_seen"]), "confidence": confidence}
    kind, value = text["indicator_type"], text["value"]
    value_ok = F.when(kind == "ip_prefix", value.rlike(IPV4_24) | value.rlike(IPV6_48)).otherwise(value.rlike(HEX64))
    type_error = first_named(
        [
            ("indicator_type not in contract", ~kind.isin(*c.INDICATOR_TYPES)),
            ("value not in the indicator_type's format", ~value_ok),
            ("first_seen not an ISO date", typed["first_seen"].isNull()),
            ("confidence not in [0, 1]", confidence.isNull() | (confidence < 0) | (confidence > 1)),
        ]
    )
    return _finish(body, typed, malformed, missing, type_error, F.concat_ws(":", kind, value))


def dedupe(valid: DataFrame, key: list[str]) -> DataFrame:
    """Append-only files may repeat a row (a re-export): keep one per key, from the file
    named last, so a revision (a label changed in a later file) wins over the row it revises;
    ties within one file break on every column, so the pick never depends on partitioning."""
    return first_per_key(valid, key, [F.col("source_file").desc(), *sorted(valid.columns)])
