"""Checks every landing source shares: decoding, JSON shape, the first failing field."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# Both engines decode bytes that are not UTF-8 as U+FFFD, so after reading, that character
# is the only trace of them; a line holding a genuine U+FFFD is quarantined too (rare, and
# kept with its text, so it can be replayed once the gateway is fixed).
REPLACEMENT_CHAR = "\ufffd"
JSON_OBJECT = r"^\s*\{.*\}\s*$"
JSON_MAP = "map<string,string>"


def undecodable(line: Column) -> Column:
    return line.contains(REPLACEMENT_CHAR)


def not_a_json_object(line: Column) -> Column:
    """True unless the whole line is one JSON object.

    Parsed as a string map, a line is null unless it is valid JSON with an object at the
    top (nested values become their JSON text), on both engines and in Sail's distributed
    mode, which lacks ``json_object_keys`` (docs/engine-compat.md); the regex also rejects
    trailing text after the object, which Apache Spark's parser would otherwise ignore.
    """
    return F.from_json(line, JSON_MAP).isNull() | ~line.rlike(JSON_OBJECT)


def first_named(checks: list[tuple[str, Column]]) -> Column:
    """Name of the first check (in list order) that is true, else null."""
    return F.coalesce(*[F.when(failed, F.lit(name)) for name, failed in checks])


def first_in_line(line: Column, checks: list[tuple[str, Column]]) -> Column:
    """Name of the failing check whose key comes first in the line.

    A JSON parser stops at the first value of the wrong type and leaves every later field
    null, so only the earliest mismatch is the culprit; the key's offset tells which.
    """
    keyed = [
        F.when(failed, F.concat(F.lpad(F.locate(f'"{name}"', line).cast("string"), 10, "0"), F.lit(name)))
        for name, failed in checks
    ]
    return F.substring(F.least(*keyed), 11, 200) if len(keyed) > 1 else F.substring(keyed[0], 11, 200)


def blank_to_null(value: Column) -> Column:
    trimmed = F.trim(value)
    return F.when(trimmed == "", F.lit(None).cast("string")).otherwise(trimmed)


def line_sha256(line: Column) -> Column:
    """Identifies a quarantined line outside the raw layer without holding its text."""
    return F.sha2(F.encode(line, "UTF-8"), 256)


def quarantine_rows(parsed: DataFrame, source: str, run_id: str) -> DataFrame:
    """Invalid lines for the raw quarantine table: text kept, so PII stays in the raw layer.

    ``parsed`` is any source's parse output: ``landing_date``, ``source_file``, ``reason``,
    ``detail``, ``record_key`` (the line's id when it could be read) and ``raw_line``.
    """
    return parsed.filter(F.col("reason").isNotNull()).select(
        F.lit(source).alias("source"),
        "landing_date",
        "source_file",
        "reason",
        "detail",
        "record_key",
        line_sha256(F.col("raw_line")).alias("line_sha256"),
        "raw_line",
        F.lit(run_id).alias("ingest_run_id"),
    )


def quarantine_summary(quarantined: DataFrame) -> DataFrame:
    """The PII-free quarantine record for the quality layer: the raw text is left out."""
    return quarantined.drop("raw_line")


def first_by(rows: DataFrame, key: list[str], order: list[Column | str]) -> DataFrame:
    """One row per ``key``, the first by ``order``: a window, which sorts whole rows (for
    small inputs; ``first_per_key`` for large ones)."""
    first = Window.partitionBy(*key).orderBy(*order)
    return rows.withColumn("_copy", F.row_number().over(first)).filter("_copy = 1").drop("_copy")


def first_per_key(rows: DataFrame, key: list[str], order: list[Column | str]) -> DataFrame:
    """``first_by`` for ``key``s never null in ``rows``, moving only keys.

    Only the keys are shuffled to find those that repeat (few: re-deliveries, re-exports);
    the window runs over their rows alone, and every other row passes through a join with
    that small key set. Same rows as a window over all of them.
    """
    repeated = rows.groupBy(*key).count().filter(F.col("count") > 1).drop("count")
    copies = first_by(rows.join(repeated, key, "left_semi"), key, order)
    return rows.join(repeated, key, "left_anti").unionByName(copies).select(*rows.columns)
