"""``distillguard ingest --date D``: one landing folder date into raw, refined and quality.

Order, chosen so a run killed at any point (SIGKILL included) leaves either the old or the
new state of every table and a re-run converges:

0. check every landing file's first bytes, and stream the small ones (accounts snapshot,
   incident and indicator CSVs) through zlib: a file that cannot be read whole (a
   truncated or non-gzip ``.jsonl.gz``, a NUL byte, a CSV without the contract header) is
   quarantined whole (``ingest/files.py``) and the rest of the day goes on; request logs,
   the bulk of the bytes, are decompressed by the engine only, and inspected whole only if
   the engine fails to read them; a corrupt accounts snapshot keeps the last good
   snapshot, a corrupt incident or indicator file adds nothing (what earlier runs stored
   stays);
1. parse every line of ``request_logs/date=D`` once, with the contract's types, into a
   staging area in the raw layer (parquet, overwritten by the next attempt, removed at the
   end); only lines that parse cannot prove valid are parsed again, to name the reason
   (``ingest/requests.py``); the same for the accounts snapshot of D and the incident /
   partner-indicator files;
2. count and classify against the raw table's keys (payload never re-read, and only keys
   shuffled: the few request ids repeated in the batch or already stored are set apart
   first): within-batch copies and copies stored by another folder date are duplicates;
   rows an earlier attempt of D already stored count as accepted again, so a re-run
   reports the same figures; the raw_requests gate's aggregates come out of the same
   aggregation;
3. run the quality gates (GX) on those aggregates and on the small sources; a critical
   failure stops here, before any table is written;
4. one Delta commit per table: ``MERGE INTO`` raw requests on (event_date, request_id)
   inserting only unseen requests (a re-run inserts nothing; the MERGE is what keeps
   requests unique), ``replaceWhere`` for the snapshot date of accounts and for this run's
   quarantine rows and quarantined files; incidents and partner indicators are appended,
   each row version once, with ``ingested_on`` = D (history is kept: a file removed from
   the landing zone erases nothing, and readers as of a day see only what was ingested by
   then);
5. the ingest-runs row last: a date counts as ingested only once its run row exists.

Reconciliation per run: lines_read = accepted + duplicates_dropped + quarantined.
Blank lines are not lines (the reader skips them); every other line is counted.
The returned row also holds ``step_seconds`` (seconds per step, not recorded in the
table), which ``benchmarks/ingest_throughput.py`` prints.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import Lakehouse, Table
from distillguard.engine import engine_name
from distillguard.errors import DistillguardError
from distillguard.ingest import contract as c
from distillguard.ingest import files as landing_files
from distillguard.ingest.accounts import ACCOUNT_COLUMNS, dedupe_snapshot, parse_account_lines, refined_accounts
from distillguard.ingest.common import quarantine_rows, quarantine_summary
from distillguard.ingest.reference import dedupe, parse_incident_lines, parse_indicator_lines
from distillguard.ingest.requests import (
    SUMMARY_SCHEMA,
    classify_batch,
    gate_aggregates,
    gate_summary,
    raw_rows,
    request_rows,
    special_ids,
    suspect_rows,
    typed_request_lines,
)
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, get_key

log = logging.getLogger(__name__)

# Read lines verbatim through the CSV reader: Sail's text reader fails a whole file on one
# byte that is not UTF-8, its CSV reader (like Spark's) decodes it as U+FFFD. Quoting is off
# and the separator is NUL, which JSON and CSV text never hold, so a line is one field. A
# line with a raw NUL byte would make Sail fail the read (known limitation: ``\r`` and
# U+0001 were tried and are worse: CRLF files and stray control bytes are more likely).
LINE_READER = {"sep": "\u0000", "quote": "", "escape": "", "header": "false", "mode": "PERMISSIVE"}
# Request ids needing the dedupe or the stored rows (repeated, already stored) are taken to
# the driver up to this many, so each query over the classified batch does not find them
# again; more (a re-run of a large day) stay in the plan.
SPECIAL_IDS_HELD = 100_000
VOLUME_HISTORY_DAYS = 7
VOLUME_MIN_HISTORY = 3
UNBOUNDED = 10**15
STAGED = (
    c.REQUEST_LOGS,
    "suspect",
    c.ACCOUNTS,
    c.INCIDENTS,
    c.PARTNER_INDICATORS,
    "refined_accounts",
    f"{c.INCIDENTS}_new",
    f"{c.PARTNER_INDICATORS}_new",
)
RUNS_SCHEMA = (
    "run_id string, landing_date date, started_at timestamp, finished_at timestamp, status string, "
    "engine string, files long, lines_read long, accepted long, duplicates_dropped long, "
    "duplicates_in_batch long, duplicates_of_stored long, accepted_before long, quarantined long, "
    "quarantined_by_reason string, changed_event_dates array<date>, "
    "accounts_lines_read long, accounts_accepted long, accounts_duplicates long, accounts_quarantined long, "
    "incidents_lines_read long, incidents_accepted long, incidents_duplicates long, incidents_quarantined long, "
    "indicators_lines_read long, indicators_accepted long, indicators_duplicates long, "
    "indicators_quarantined long, gate_warnings long, raw_requests_version long, message string, "
    "files_quarantined long, quarantined_files string"
)
# Columns that identify one version of an incident / indicator row (source_file excluded:
# the same row re-exported in another file is the same version).
REFERENCE_COLUMNS = {c.INCIDENTS: c.INCIDENT_COLUMNS, c.PARTNER_INDICATORS: c.INDICATOR_COLUMNS}
REFERENCE_TABLES = {c.INCIDENTS: Table.INCIDENTS, c.PARTNER_INDICATORS: Table.PARTNER_INDICATORS}


def read_lines(spark: SparkSession, files: list[Path], landing: Path) -> DataFrame:
    """One row per non-blank line: ``value`` and ``source_file`` (path under the landing zone).

    Files are read one by one and unioned, since Sail has neither ``input_file_name()`` nor
    the ``_metadata`` column; gzip is decompressed by the reader.
    """
    frames = [
        spark.read.format("csv")
        .options(**LINE_READER)
        .schema("value string")
        .load(str(path))
        .withColumn("source_file", F.lit(str(path.relative_to(landing))))
        for path in files
    ]
    return reduce(DataFrame.unionByName, frames)


@contextmanager
def _timed(steps: dict[str, float], name: str) -> Iterator[None]:
    """Add the body's wall-clock seconds to ``steps[name]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        steps[name] = round(steps.get(name, 0.0) + time.perf_counter() - started, 3)


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file()) if folder.is_dir() else []


def _staging(lakehouse: Lakehouse, source: str, landing_date: date) -> Path:
    return Path(lakehouse.table_path(Table.RAW_STAGING)) / source / f"landing_date={landing_date}"


def _stage(spark: SparkSession, lakehouse: Lakehouse, parsed: DataFrame, source: str, landing_date: date) -> DataFrame:
    """Write a parse once and read it back: every later step reuses it instead of re-reading gzip."""
    path = _staging(lakehouse, source, landing_date)
    # Snappy, not the engine's default (zstd for Sail): scratch read back once or twice.
    parsed.write.mode("overwrite").option("compression", "snappy").parquet(str(path))
    if not any(path.glob("*.parquet")):  # no rows: Sail writes no file, so no schema to read back
        return spark.createDataFrame([], parsed.schema)
    return spark.read.parquet(str(path))


def _volume_bounds(spark: SparkSession, lakehouse: Lakehouse, landing_date: date) -> dict[str, int]:
    """Bounds on this run's accepted rows from the median of the trailing week's runs."""
    history: list[int] = []
    if tables.exists(lakehouse, Table.INGEST_RUNS):
        rows = (
            tables.read(spark, lakehouse, Table.INGEST_RUNS)
            .filter(
                (F.col("status") == "succeeded")
                & F.col("landing_date").between(
                    landing_date - timedelta(days=VOLUME_HISTORY_DAYS), landing_date - timedelta(days=1)
                )
            )
            .groupBy("landing_date")
            .agg(F.max_by("accepted", "finished_at").alias("accepted"))
            .collect()
        )
        history = [r.accepted for r in rows]
    if len(history) < VOLUME_MIN_HISTORY:
        return {
            "volume_min_critical": 0,
            "volume_max_critical": UNBOUNDED,
            "volume_min_warning": 0,
            "volume_max_warning": UNBOUNDED,
        }
    median = statistics.median(history)
    return {
        "volume_min_critical": int(median * 0.1),
        "volume_max_critical": int(median * 10),
        "volume_min_warning": int(median * 0.5),
        "volume_max_warning": int(median * 2),
    }


def _account_bounds(spark: SparkSession, lakehouse: Lakehouse, snapshot_date: date) -> dict[str, int]:
    """Accounts are never deleted: fewer than the previous snapshot means a truncated file."""
    previous = 0
    if tables.exists(lakehouse, Table.ACCOUNTS):
        accounts = tables.read(spark, lakehouse, Table.ACCOUNTS).filter(F.col("snapshot_date") < F.lit(snapshot_date))
        last = accounts.agg(F.max("snapshot_date")).first()[0]
        if last is not None:
            previous = accounts.filter(F.col("snapshot_date") == F.lit(last)).count()
    if not previous:
        return {
            "accounts_min_critical": 1,
            "accounts_max_critical": UNBOUNDED,
            "accounts_min_warning": 1,
            "accounts_max_warning": UNBOUNDED,
        }
    return {
        "accounts_min_critical": int(previous * 0.9),
        "accounts_max_critical": previous * 2,
        "accounts_min_warning": previous,
        "accounts_max_warning": int(previous * 1.2),
    }


def _merge_requests(spark: SparkSession, lakehouse: Lakehouse, batch: DataFrame, event_dates: list[date]) -> None:
    """Insert requests not stored yet, in one commit; re-running inserts nothing."""
    tables.merge(
        spark,
        lakehouse,
        Table.RAW_REQUESTS,
        batch,
        "t.event_date = s.event_date AND t.request_id = s.request_id AND "
        + tables.dates_in("t.event_date", event_dates),
        "WHEN NOT MATCHED THEN INSERT *",
        ("event_date",),
    )


def _counts_by(df: DataFrame, column: str) -> dict[Any, int]:
    return {row[column]: row["count"] for row in df.groupBy(column).count().collect()}


def _stage_requests(
    spark: SparkSession,
    lakehouse: Lakehouse,
    folder: Path,
    landing_date: date,
    corrupt: list[landing_files.CorruptFile],
) -> tuple[list[Path], DataFrame]:
    """Read and parse the day's request files once into staging.

    Files are not decompressed ahead of the engine: only their first bytes are checked.
    The engine fails the read on a damaged stream (truncated or corrupt gzip, a NUL byte),
    and only then is every file inspected whole, the unreadable ones set aside and the
    rest read again.
    """
    files, bad = landing_files.inspect(_files(folder, "*.jsonl*"), lakehouse.landing, c.REQUEST_LOGS, whole=False)
    corrupt.extend(bad)
    try:
        return files, _parse_requests(spark, lakehouse, folder, files, landing_date, corrupt)
    except PySparkException:
        files, damaged = landing_files.inspect(files, lakehouse.landing, c.REQUEST_LOGS)
        if not damaged:
            raise
    corrupt.extend(damaged)
    return files, _parse_requests(spark, lakehouse, folder, files, landing_date, corrupt)


def _parse_requests(
    spark: SparkSession,
    lakehouse: Lakehouse,
    folder: Path,
    files: list[Path],
    landing_date: date,
    corrupt: list[landing_files.CorruptFile],
) -> DataFrame:
    if not files:
        unreadable = [item.describe() for item in corrupt if item.source == c.REQUEST_LOGS]
        if unreadable:
            raise DistillguardError(f"every request log file in {folder} is unreadable: " + "; ".join(unreadable))
        raise DistillguardError(f"no request log files in {folder}")
    lines = read_lines(spark, files, lakehouse.landing)
    return _stage(spark, lakehouse, typed_request_lines(lines, landing_date), c.REQUEST_LOGS, landing_date)


def _ingest_requests(
    spark: SparkSession,
    lakehouse: Lakehouse,
    landing_date: date,
    run_id: str,
    corrupt: list[landing_files.CorruptFile],
    steps: dict[str, float],
) -> dict[str, Any]:
    """Parse once, count, dedupe against stored keys and aggregate the gate's figures.

    Over the staged parse (and the staged exact parse of its few suspect lines): counts per
    reason and event date, then the dedupe, classified against the stored table's keys
    only (its payload is never read), and one aggregation of it for the outcome counts and
    the gate's figures. The classified batch is not staged: the MERGE recomputes it from
    the staged parse, which costs less than writing it (only keys are shuffled).
    """
    folder = lakehouse.landing_dir(c.REQUEST_LOGS) / f"date={landing_date}"
    with _timed(steps, "requests: read + parse"):
        files, typed = _stage_requests(spark, lakehouse, folder, landing_date, corrupt)
        suspect = _stage(spark, lakehouse, suspect_rows(typed, landing_date), "suspect", landing_date)
    parsed = request_rows(typed, landing_date, suspect)
    with _timed(steps, "requests: counts"):
        counted = parsed.groupBy("reason", "event_date").count().collect()
    by_reason: dict[str, int] = {}
    for r in counted:
        if r.reason is not None:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + r["count"]
    valid = sum(r["count"] for r in counted if r.reason is None)
    event_dates = sorted({r.event_date for r in counted if r.reason is None})
    batch = raw_rows(parsed.filter(F.col("reason").isNull()), run_id)
    stored = (
        tables.read(spark, lakehouse, Table.RAW_REQUESTS)
        .filter(F.col("event_date").isin(*event_dates))
        .select("event_date", "request_id", "landing_date")
        if tables.exists(lakehouse, Table.RAW_REQUESTS) and event_dates
        else spark.createDataFrame([], "event_date date, request_id string, landing_date date")
    )
    with _timed(steps, "requests: dedupe + gate aggregates"):
        ids = [(r.request_id,) for r in special_ids(batch, stored).limit(SPECIAL_IDS_HELD + 1).collect()]
        held = spark.createDataFrame(ids, "request_id string") if len(ids) <= SPECIAL_IDS_HELD else None
        classified = classify_batch(batch, stored, landing_date, held)
        outcomes = [r.asDict() for r in gate_aggregates(classified, ["event_date", "outcome"]).collect()]
    total = {
        kind: sum(r["from_this_run"] for r in outcomes if r["outcome"] == kind)
        for kind in ("new", "accepted_before", "duplicate")
    }
    batch_size = sum(total.values())
    return {
        "files": files,
        "parsed": parsed,
        "batch": classified.filter(F.col("outcome") == "new").drop("outcome"),
        "event_dates": event_dates,
        "gate_summary": gate_summary([r for r in outcomes if r["outcome"] != "duplicate"]),
        "lines_read": valid + sum(by_reason.values()),
        "accepted": total["new"] + total["accepted_before"],
        "accepted_before": total["accepted_before"],
        "duplicates_in_batch": valid - batch_size,
        "duplicates_of_stored": total["duplicate"],
        "quarantined": sum(by_reason.values()),
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "changed_event_dates": sorted({r["event_date"] for r in outcomes if r["outcome"] != "duplicate"}),
    }


def _ingest_accounts(
    spark: SparkSession,
    lakehouse: Lakehouse,
    landing_date: date,
    corrupt: list[landing_files.CorruptFile],
    partner_key: bytes,
) -> dict[str, Any] | None:
    files, bad = landing_files.inspect(
        _files(lakehouse.landing_dir(c.ACCOUNTS) / f"date={landing_date}", "*.jsonl*"), lakehouse.landing, c.ACCOUNTS
    )
    corrupt.extend(bad)
    if bad:
        # Part of a snapshot would look like deleted accounts: keep the last good one whole.
        log.warning(
            "accounts snapshot of %s unreadable, last good snapshot kept: %s",
            landing_date,
            "; ".join(item.describe() for item in bad),
        )
        return None
    if not files:
        log.warning("no accounts snapshot for %s: accounts left as they are", landing_date)
        return None
    parsed = _stage(
        spark,
        lakehouse,
        parse_account_lines(read_lines(spark, files, lakehouse.landing), landing_date),
        c.ACCOUNTS,
        landing_date,
    )
    by_reason = _counts_by(parsed, "reason")
    valid = by_reason.pop(None, 0)
    snapshot = dedupe_snapshot(parsed.filter(F.col("reason").isNull()))
    refined = _stage(spark, lakehouse, refined_accounts(snapshot, partner_key), "refined_accounts", landing_date)
    accepted = refined.count()
    return {
        "parsed": parsed,
        # The snapshot's own columns, from the staged rows (the dedupe is not run again).
        "raw": refined.select(*ACCOUNT_COLUMNS),
        "refined": refined,
        "gate_view": refined.withColumn("age_days", F.datediff(F.col("snapshot_date"), F.to_date("created_at"))),
        "lines_read": valid + sum(by_reason.values()),
        "accepted": accepted,
        "duplicates": valid - accepted,
        "quarantined": sum(by_reason.values()),
    }


def _row_version(columns: tuple[str, ...]) -> Any:
    """SHA-256 of a row's contract values (null kept distinct from any text)."""
    return F.sha2(
        F.concat_ws("\u001f", *[F.coalesce(F.col(name).cast("string"), F.lit("\u0000")) for name in columns]), 256
    )


def _ingest_reference(
    spark: SparkSession, lakehouse: Lakehouse, landing_date: date, source: str, corrupt: list[landing_files.CorruptFile]
) -> dict[str, Any] | None:
    """Incidents or partner indicators: every readable file, re-read whole (append-only and
    small); ``new`` holds the row versions no earlier run stored, stamped ``ingested_on``."""
    files, bad = landing_files.inspect(
        _files(lakehouse.landing_dir(source), "*.csv"),
        lakehouse.landing,
        source,
        header=",".join(REFERENCE_COLUMNS[source]),
    )
    corrupt.extend(bad)
    for item in bad:
        log.warning("%s file unreadable, nothing from it ingested: %s", source, item.describe())
    if not files:
        return None
    lines = read_lines(spark, files, lakehouse.landing)
    if source == c.INCIDENTS:
        parsed, key = parse_incident_lines(lines), ["incident_id", "account_id"]
    else:
        parsed, key = parse_indicator_lines(lines), ["indicator_type", "value", "partner"]
    parsed = _stage(spark, lakehouse, parsed, source, landing_date)
    by_reason = _counts_by(parsed, "reason")
    valid = by_reason.pop(None, 0)
    rows = dedupe(parsed.filter(F.col("reason").isNull()), key).drop(
        "landing_date", "reason", "detail", "raw_line", "record_key"
    )
    accepted = rows.count()
    versioned = rows.withColumn("row_sha256", _row_version(REFERENCE_COLUMNS[source]))
    table = REFERENCE_TABLES[source]
    if tables.exists(lakehouse, table):
        versioned = versioned.join(tables.read(spark, lakehouse, table).select("row_sha256"), "row_sha256", "left_anti")
    new = _stage(
        spark, lakehouse, versioned.withColumn("ingested_on", F.lit(landing_date)), f"{source}_new", landing_date
    )
    return {
        "parsed": parsed,
        "rows": rows,
        "new": new,
        "new_rows": new.count(),
        "lines_read": valid + sum(by_reason.values()),
        "accepted": accepted,
        "duplicates": valid - accepted,
        "quarantined": sum(by_reason.values()),
    }


def _quarantine(parts: list[tuple[str, DataFrame]], run_id: str) -> DataFrame:
    frames = [quarantine_rows(parsed, source, run_id) for source, parsed in parts]
    return reduce(DataFrame.unionByName, frames)


def _file_fields(corrupt: list[landing_files.CorruptFile]) -> dict[str, Any]:
    return {"files_quarantined": len(corrupt), "quarantined_files": json.dumps(landing_files.as_dicts(corrupt))}


def _record_files(
    spark: SparkSession, lakehouse: Lakehouse, landing_date: date, run_id: str, corrupt: list[landing_files.CorruptFile]
) -> None:
    """Keep corrupt files whole in the raw layer and record them (one commit per run; a
    re-run of the date replaces the record, so a re-delivered file drops out of it)."""
    if not corrupt and not tables.exists(lakehouse, Table.QUARANTINED_FILES):
        return
    kept = landing_files.keep(lakehouse, landing_date, corrupt)
    frame = spark.createDataFrame(landing_files.rows(run_id, landing_date, corrupt, kept), landing_files.SCHEMA)
    tables.replace(frame, lakehouse, Table.QUARANTINED_FILES, tables.date_equals("landing_date", landing_date))


def _record_run(spark: SparkSession, lakehouse: Lakehouse, row: dict[str, Any]) -> None:
    names = [part.strip().split(" ")[0] for part in RUNS_SCHEMA.split(", ")]
    tables.append(
        spark.createDataFrame([tuple(row.get(name) for name in names)], RUNS_SCHEMA), lakehouse, Table.INGEST_RUNS
    )


def run(spark: SparkSession, lakehouse: Lakehouse, landing_date: date) -> dict[str, Any]:
    """Ingest folder date ``landing_date``; returns the ingest-runs row that was written."""
    started = time.perf_counter()
    run_id = f"ingest-{landing_date}-{uuid.uuid4().hex[:12]}"
    row: dict[str, Any] = {
        "run_id": run_id,
        "landing_date": landing_date,
        "engine": engine_name(spark),
        "started_at": datetime.now(timezone.utc).replace(tzinfo=None),
    }
    corrupt: list[landing_files.CorruptFile] = []
    steps: dict[str, float] = {}
    partner_key = get_key(lakehouse, PARTNER_HMAC_KEY_ENV)  # before anything is written
    try:
        try:
            requests = _ingest_requests(spark, lakehouse, landing_date, run_id, corrupt, steps)
        except DistillguardError as failure:
            if corrupt:
                _record_files(spark, lakehouse, landing_date, run_id, corrupt)
                _record_run(
                    spark,
                    lakehouse,
                    {
                        **row,
                        **_file_fields(corrupt),
                        "status": "failed",
                        "message": str(failure),
                        "finished_at": datetime.now(timezone.utc).replace(tzinfo=None),
                    },
                )
            raise
        with _timed(steps, "accounts: parse + dedupe"):
            accounts = _ingest_accounts(spark, lakehouse, landing_date, corrupt, partner_key)
        with _timed(steps, "incidents + indicators: parse + dedupe"):
            incidents = _ingest_reference(spark, lakehouse, landing_date, c.INCIDENTS, corrupt)
            indicators = _ingest_reference(spark, lakehouse, landing_date, c.PARTNER_INDICATORS, corrupt)
        row.update(_file_fields(corrupt))
        row.update(
            {
                "files": len(requests["files"]),
                **{
                    k: requests[k]
                    for k in (
                        "lines_read",
                        "accepted",
                        "duplicates_in_batch",
                        "duplicates_of_stored",
                        "accepted_before",
                        "quarantined",
                        "changed_event_dates",
                    )
                },
                "duplicates_dropped": requests["duplicates_in_batch"] + requests["duplicates_of_stored"],
                "quarantined_by_reason": json.dumps(requests["quarantined_by_reason"]),
            }
        )
        for prefix, part in (("accounts", accounts), ("incidents", incidents), ("indicators", indicators)):
            for name in ("lines_read", "accepted", "duplicates", "quarantined"):
                row[f"{prefix}_{name}"] = part[name] if part else None

        with _timed(steps, "gates: checks"):
            gates = quality.Gates(spark, lakehouse, run_id)
            summary = spark.createDataFrame([tuple(requests["gate_summary"].values())], SUMMARY_SCHEMA)
            gates.check("raw_requests", summary, _volume_bounds(spark, lakehouse, landing_date))
            if accounts:
                gates.check("accounts", accounts["gate_view"], _account_bounds(spark, lakehouse, landing_date))
            # Append-only sources are re-read whole every day: they are gated on the days they
            # bring row versions no earlier run stored, since only then is anything written.
            if incidents and incidents["new_rows"]:
                gates.check("incidents", incidents["rows"])
            if indicators and indicators["new_rows"]:
                gates.check("partner_indicators", indicators["rows"])
        row["gate_warnings"] = sum(len(o.warnings) for o in gates.outcomes)
        try:
            with _timed(steps, "gates: Data Docs + results"):
                gates.close()
        except quality.GateFailed as failure:
            _record_run(
                spark,
                lakehouse,
                {
                    **row,
                    "status": "failed_gate",
                    "message": str(failure),
                    "finished_at": datetime.now(timezone.utc).replace(tzinfo=None),
                },
            )
            raise

        with _timed(steps, "raw_requests: MERGE"):
            _merge_requests(spark, lakehouse, requests["batch"], requests["event_dates"])
        with _timed(steps, "accounts, incidents, indicators: writes"):
            if accounts:
                where = f"snapshot_date = DATE'{landing_date}'"
                tables.replace(accounts["raw"], lakehouse, Table.RAW_ACCOUNTS, where, ("snapshot_date",))
                tables.replace(accounts["refined"], lakehouse, Table.ACCOUNTS, where, ("snapshot_date",))
            for source, part in ((c.INCIDENTS, incidents), (c.PARTNER_INDICATORS, indicators)):
                if part and (not tables.exists(lakehouse, REFERENCE_TABLES[source]) or part["new_rows"]):
                    tables.append(part["new"], lakehouse, REFERENCE_TABLES[source])
        with _timed(steps, "quarantine: writes"):
            _record_files(spark, lakehouse, landing_date, run_id, corrupt)
            parts = [(c.REQUEST_LOGS, requests["parsed"])] + [
                (source, part["parsed"])
                for source, part in (
                    (c.ACCOUNTS, accounts),
                    (c.INCIDENTS, incidents),
                    (c.PARTNER_INDICATORS, indicators),
                )
                if part
            ]
            quarantined = _quarantine(parts, run_id)
            where = (
                f"(source IN ('{c.REQUEST_LOGS}', '{c.ACCOUNTS}') AND landing_date = DATE'{landing_date}') "
                f"OR source IN ('{c.INCIDENTS}', '{c.PARTNER_INDICATORS}')"
            )
            tables.replace(quarantined, lakehouse, Table.RAW_QUARANTINE, where)
            tables.replace(
                quarantine_summary(tables.read(spark, lakehouse, Table.RAW_QUARANTINE).filter(where)),
                lakehouse,
                Table.QUARANTINE,
                where,
            )
        files_note = f"; {len(corrupt)} unreadable file(s) quarantined whole" if corrupt else ""
        row.update(
            {
                "status": "succeeded",
                "raw_requests_version": tables.version(spark, lakehouse, Table.RAW_REQUESTS),
                "message": f"{time.perf_counter() - started:.1f}s{files_note}",
                "finished_at": datetime.now(timezone.utc).replace(tzinfo=None),
            }
        )
        with _timed(steps, "run row"):
            _record_run(spark, lakehouse, row)
        return {**row, "step_seconds": steps}
    finally:
        for source in STAGED:
            shutil.rmtree(_staging(lakehouse, source, landing_date), ignore_errors=True)


def changed_event_dates(spark: SparkSession, lakehouse: Lakehouse, landing_date: date) -> list[date]:
    """Event dates whose raw rows the latest successful ingest of ``landing_date`` holds:
    exactly the partitions later steps must recompute for that folder date."""
    if not tables.exists(lakehouse, Table.INGEST_RUNS):
        return []
    latest = (
        tables.read(spark, lakehouse, Table.INGEST_RUNS)
        .filter((F.col("landing_date") == F.lit(landing_date)) & (F.col("status") == "succeeded"))
        .orderBy(F.col("finished_at").desc())
        .select("changed_event_dates")
        .first()
    )
    return sorted(latest[0]) if latest else []
