"""``distillguard ingest --date D`` (or ``--start D1 --end D2``): landing folder dates into
raw, refined and quality.

Several folder dates go through one pass (``ingest_days``; ``--date D`` is the one-date
case): one read and parse of all their request files, one dedupe, one MERGE, their
accounts snapshots in one read, the incident and indicator files once, Data Docs once.
What is per date stays per date, with the result of ingesting the dates one by one in
date order: the run row and its counts, ``changed_event_dates``, the dedupe (first date
wins; a later date's copy counts as a duplicate of a stored row, as it would have), the
gates and their bounds (earlier dates of the same run count as history), and a failure:
the dates before a failing date are written, it and later ones are not, and its error is
raised. ``--start/--end`` skips dates already ingested and holds every date's lock.

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
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime, timedelta, timezone
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import locks, quality, tables
from distillguard.config import Lakehouse, Table
from distillguard.engine import engine_name, parallelism
from distillguard.errors import DistillguardError
from distillguard.ingest import contract as c
from distillguard.ingest import files as landing_files
from distillguard.ingest.accounts import ACCOUNT_COLUMNS, dedupe_snapshot, parse_account_lines, refined_accounts
from distillguard.ingest.bounds import VOLUME_HISTORY_DAYS, account_bounds, volume_bounds
from distillguard.ingest.common import quarantine_rows, quarantine_summary
from distillguard.ingest.reference import dedupe, parse_incident_lines, parse_indicator_lines
from distillguard.ingest.requests import (
    classify_days,
    folder_date,
    gate_aggregates,
    gate_summary,
    raw_rows,
    request_rows,
    special_ids,
    summary_frame,
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
# Fewer request files than this per core: their lines are spread over the cores to parse.
SPREAD_BELOW_FILES_PER_CORE = 4
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
    the ``_metadata`` column; gzip is decompressed by the reader. A gzip file is one task
    (it cannot be split), so a few files leave cores idle (three files on two cores: the
    third parses alone); with fewer than ``SPREAD_BELOW_FILES_PER_CORE`` files per core
    the lines are dealt round-robin to every core before they are parsed.
    """
    cores = parallelism()
    frames = [
        spark.read.format("csv")
        .options(**LINE_READER)
        .schema("value string")
        .load(str(path))
        .withColumn("source_file", F.lit(str(path.relative_to(landing))))
        for path in files
    ]
    lines = reduce(DataFrame.unionByName, frames)
    return lines.repartition(cores) if len(files) < SPREAD_BELOW_FILES_PER_CORE * cores else lines


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


def _folder(lakehouse: Lakehouse, source: str, landing_date: date) -> Path:
    return lakehouse.landing_dir(source) / f"date={landing_date}"


def _by_date(values: dict[date, Any]) -> Column:
    """``values[landing_date]`` as a column (one value per folder date of the run)."""
    column = None
    for day, value in values.items():
        matches = F.col("landing_date") == F.lit(day)
        column = F.when(matches, F.lit(value)) if column is None else column.when(matches, F.lit(value))
    return column


def _readable(
    lakehouse: Lakehouse, files: dict[date, list[Path]], corrupt: dict[date, list[landing_files.CorruptFile]]
) -> tuple[dict[date, list[Path]], tuple[date, DistillguardError] | None]:
    """The dates before the first one without a readable request file, and that date's error
    (as a day-by-day run stops there, a run of several dates stops there)."""
    readable: dict[date, list[Path]] = {}
    for day, paths in files.items():
        if not paths:
            folder = _folder(lakehouse, c.REQUEST_LOGS, day)
            unreadable = [item.describe() for item in corrupt[day] if item.source == c.REQUEST_LOGS]
            if unreadable:
                return readable, (
                    day,
                    DistillguardError(f"every request log file in {folder} is unreadable: " + "; ".join(unreadable)),
                )
            return readable, (day, DistillguardError(f"no request log files in {folder}"))
        readable[day] = paths
    return readable, None


def _stage_requests(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: list[date],
    corrupt: dict[date, list[landing_files.CorruptFile]],
) -> tuple[dict[date, list[Path]], DataFrame | None, tuple[date, DistillguardError] | None]:
    """Read and parse the request files of ``days`` once, in one read, into staging.

    Files are not decompressed ahead of the engine: only their first bytes are checked.
    The engine fails the read on a damaged stream (truncated or corrupt gzip, a NUL byte),
    and only then is every file inspected whole, the unreadable ones set aside and the
    rest read again. Returns the readable files per date (the dates before the first one
    with none), their typed parse, and the first failing date with its error.
    """
    found: dict[date, list[Path]] = {}
    for day in days:
        found[day], bad = landing_files.inspect(
            _files(_folder(lakehouse, c.REQUEST_LOGS, day), "*.jsonl*"), lakehouse.landing, c.REQUEST_LOGS, whole=False
        )
        corrupt[day].extend(bad)
    readable, failure = _readable(lakehouse, found, corrupt)
    if not readable:
        return readable, None, failure
    try:
        return readable, _parse_requests(spark, lakehouse, readable, days[0]), failure
    except PySparkException:
        damaged_any = False
        for day in readable:
            readable[day], damaged = landing_files.inspect(readable[day], lakehouse.landing, c.REQUEST_LOGS)
            corrupt[day].extend(damaged)
            damaged_any = damaged_any or bool(damaged)
        if not damaged_any:
            raise
    readable, earlier = _readable(lakehouse, readable, corrupt)
    failure = earlier or failure
    return readable, (_parse_requests(spark, lakehouse, readable, days[0]) if readable else None), failure


def _parse_requests(spark: SparkSession, lakehouse: Lakehouse, files: dict[date, list[Path]], key: date) -> DataFrame:
    lines = read_lines(spark, [path for paths in files.values() for path in paths], lakehouse.landing)
    return _stage(spark, lakehouse, typed_request_lines(lines, folder_date(c.REQUEST_LOGS)), c.REQUEST_LOGS, key)


def _ingest_requests(
    spark: SparkSession,
    lakehouse: Lakehouse,
    typed: DataFrame,
    run_ids: dict[date, str],
    steps: dict[str, float],
) -> dict[str, Any]:
    """Count, dedupe against stored keys and aggregate the gate's figures, per folder date.

    Over the staged parse (and the staged exact parse of its few suspect lines): counts per
    date, reason and event date, then the dedupe, classified against the stored table's
    keys only (its payload is never read) and across the run's dates as a day-by-day run
    would (``classify_days``), and one aggregation of it for the outcome counts and the
    gate's figures of every date. The classified batch is not staged: the MERGE recomputes
    it from the staged parse, which costs less than writing it (only keys are shuffled).
    """
    key = min(run_ids)
    landing = folder_date(c.REQUEST_LOGS)
    with _timed(steps, "requests: read + parse"):
        suspect = _stage(spark, lakehouse, suspect_rows(typed, landing), "suspect", key)
    parsed = request_rows(typed, landing, suspect)
    with _timed(steps, "requests: counts"):
        counted = parsed.groupBy("landing_date", "reason", "event_date").count().collect()
    all_event_dates = sorted({r.event_date for r in counted if r.reason is None})
    batch = raw_rows(parsed.filter(F.col("reason").isNull()), _by_date(run_ids))
    stored = (
        tables.read(spark, lakehouse, Table.RAW_REQUESTS)
        .filter(F.col("event_date").isin(*all_event_dates))
        .select("event_date", "request_id", "landing_date")
        if tables.exists(lakehouse, Table.RAW_REQUESTS) and all_event_dates
        else spark.createDataFrame([], "event_date date, request_id string, landing_date date")
    )
    with _timed(steps, "requests: dedupe + gate aggregates"):
        ids = [(r.request_id,) for r in special_ids(batch, stored).limit(SPECIAL_IDS_HELD + 1).collect()]
        held = spark.createDataFrame(ids, "request_id string") if len(ids) <= SPECIAL_IDS_HELD else None
        classified = classify_days(batch, stored, held)
        outcomes = [
            r.asDict() for r in gate_aggregates(classified, ["landing_date", "event_date", "outcome"]).collect()
        ]
    days: dict[date, dict[str, Any]] = {}
    for day in run_ids:
        counts = [r for r in counted if r.landing_date == day]
        mine = [r for r in outcomes if r["landing_date"] == day]
        by_reason: dict[str, int] = {}
        for r in counts:
            if r.reason is not None:
                by_reason[r.reason] = by_reason.get(r.reason, 0) + r["count"]
        valid = sum(r["count"] for r in counts if r.reason is None)
        total = {
            kind: sum(r["from_this_run"] for r in mine if r["outcome"] == kind)
            for kind in ("new", "accepted_before", "duplicate")
        }
        days[day] = {
            "event_dates": sorted({r.event_date for r in counts if r.reason is None}),
            "gate_summary": gate_summary([r for r in mine if r["outcome"] != "duplicate"]),
            "lines_read": valid + sum(by_reason.values()),
            "accepted": total["new"] + total["accepted_before"],
            "accepted_before": total["accepted_before"],
            "duplicates_in_batch": valid - sum(total.values()),
            "duplicates_of_stored": total["duplicate"],
            "quarantined": sum(by_reason.values()),
            "quarantined_by_reason": dict(sorted(by_reason.items())),
            "changed_event_dates": sorted({r["event_date"] for r in mine if r["outcome"] != "duplicate"}),
        }
    return {
        "parsed": parsed,
        "batch": classified.filter(F.col("outcome") == "new").drop("outcome"),
        "days": days,
    }


def _ingest_accounts(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: list[date],
    corrupt: dict[date, list[landing_files.CorruptFile]],
    partner_key: bytes,
) -> tuple[dict[date, dict[str, Any]], dict[str, DataFrame] | None]:
    """The accounts snapshots of ``days`` in one read: figures per snapshot date (dates
    whose snapshot is missing or unreadable are left out: their accounts stay as they
    are) and the staged frames, every snapshot in them."""
    found: dict[date, list[Path]] = {}
    for day in days:
        files, bad = landing_files.inspect(
            _files(_folder(lakehouse, c.ACCOUNTS, day), "*.jsonl*"), lakehouse.landing, c.ACCOUNTS
        )
        corrupt[day].extend(bad)
        if bad:
            # Part of a snapshot would look like deleted accounts: keep the last good one whole.
            log.warning(
                "accounts snapshot of %s unreadable, last good snapshot kept: %s",
                day,
                "; ".join(item.describe() for item in bad),
            )
        elif not files:
            log.warning("no accounts snapshot for %s: accounts left as they are", day)
        else:
            found[day] = files
    if not found:
        return {}, None
    lines = read_lines(spark, [path for paths in found.values() for path in paths], lakehouse.landing)
    parsed = _stage(spark, lakehouse, parse_account_lines(lines, folder_date(c.ACCOUNTS)), c.ACCOUNTS, days[0])
    counted = parsed.groupBy("snapshot_date", "reason").count().collect()
    snapshot = dedupe_snapshot(parsed.filter(F.col("reason").isNull()))
    refined = _stage(spark, lakehouse, refined_accounts(snapshot, partner_key), "refined_accounts", days[0])
    accepted = {r.snapshot_date: r["count"] for r in refined.groupBy("snapshot_date").count().collect()}
    figures = {}
    for day in found:
        valid = sum(r["count"] for r in counted if r.snapshot_date == day and r.reason is None)
        quarantined = sum(r["count"] for r in counted if r.snapshot_date == day and r.reason is not None)
        figures[day] = {
            "lines_read": valid + quarantined,
            "accepted": accepted.get(day, 0),
            "duplicates": valid - accepted.get(day, 0),
            "quarantined": quarantined,
        }
    frames = {
        "parsed": parsed,
        # The snapshot's own columns, from the staged rows (the dedupe is not run again).
        "raw": refined.select(*ACCOUNT_COLUMNS),
        "refined": refined,
        "gate_view": refined.withColumn("age_days", F.datediff(F.col("snapshot_date"), F.to_date("created_at"))),
    }
    return figures, frames


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


def _file_fields(corrupt: list[landing_files.CorruptFile]) -> dict[str, Any]:
    return {"files_quarantined": len(corrupt), "quarantined_files": json.dumps(landing_files.as_dicts(corrupt))}


def _record_files(
    spark: SparkSession,
    lakehouse: Lakehouse,
    corrupt: dict[date, list[landing_files.CorruptFile]],
    run_ids: dict[date, str],
) -> None:
    """Keep corrupt files whole in the raw layer and record them (one commit per run; a
    re-run of a date replaces its record, so a re-delivered file drops out of it)."""
    if not any(corrupt.values()) and not tables.exists(lakehouse, Table.QUARANTINED_FILES):
        return
    rows = [
        row
        for day, items in corrupt.items()
        for row in landing_files.rows(run_ids[day], day, items, landing_files.keep(lakehouse, day, items))
    ]
    frame = spark.createDataFrame(rows, landing_files.SCHEMA)
    tables.replace(frame, lakehouse, Table.QUARANTINED_FILES, tables.dates_in("landing_date", list(corrupt)))


def _record_runs(spark: SparkSession, lakehouse: Lakehouse, rows: list[dict[str, Any]]) -> None:
    names = [part.strip().split(" ")[0] for part in RUNS_SCHEMA.split(", ")]
    tables.append(
        spark.createDataFrame([tuple(row.get(name) for name in names) for row in rows], RUNS_SCHEMA),
        lakehouse,
        Table.INGEST_RUNS,
    )


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _succeeded_volumes(spark: SparkSession, lakehouse: Lakehouse, first: date, last: date) -> dict[date, int]:
    """Accepted rows of each folder date that succeeded, over the volume bounds' history."""
    if not tables.exists(lakehouse, Table.INGEST_RUNS):
        return {}
    rows = (
        tables.read(spark, lakehouse, Table.INGEST_RUNS)
        .filter(
            (F.col("status") == "succeeded")
            & F.col("landing_date").between(first - timedelta(days=VOLUME_HISTORY_DAYS), last - timedelta(days=1))
        )
        .groupBy("landing_date")
        .agg(F.max_by("accepted", "finished_at").alias("accepted"))
        .collect()
    )
    return {r.landing_date: r.accepted for r in rows}


def _snapshot_sizes(spark: SparkSession, lakehouse: Lakehouse, last: date) -> dict[date, int]:
    """Accounts of each stored snapshot before ``last``."""
    if not tables.exists(lakehouse, Table.ACCOUNTS):
        return {}
    rows = (
        tables.read(spark, lakehouse, Table.ACCOUNTS)
        .filter(F.col("snapshot_date") < F.lit(last))
        .groupBy("snapshot_date")
        .count()
        .collect()
    )
    return {r.snapshot_date: r["count"] for r in rows}


def _gate(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: list[date],
    rows: dict[date, dict[str, Any]],
    requests: dict[str, Any],
    accounts: tuple[dict[date, dict[str, Any]], dict[str, DataFrame] | None],
    references: dict[str, dict[str, Any] | None],
) -> tuple[quality.Gates, list[date], tuple[date, quality.GateFailed] | None]:
    """Gate each date in order, as a day-by-day run would (bounds from the dates before it,
    those of this run included), up to the first date a critical expectation fails.
    Returns the gates, the dates that passed and the failing date with its error."""
    figures, frames = accounts
    gates = quality.Gates(spark, lakehouse, rows[days[0]]["run_id"])
    volumes = _succeeded_volumes(spark, lakehouse, days[0], days[-1])
    sizes = _snapshot_sizes(spark, lakehouse, days[-1])
    passed: list[date] = []
    for day in days:
        run_id = rows[day]["run_id"]
        summary = summary_frame(requests["days"][day]["gate_summary"])
        gates.check("raw_requests", summary, volume_bounds(volumes, day), run_id=run_id)
        if day in figures:
            view = frames["gate_view"].filter(F.col("snapshot_date") == F.lit(day))
            gates.check("accounts", view, account_bounds(sizes, day), run_id=run_id)
        if day == days[0]:
            # Append-only sources are re-read whole: gated on the date they bring row
            # versions no earlier run stored (the run's first), the only date written.
            for source, suite in ((c.INCIDENTS, "incidents"), (c.PARTNER_INDICATORS, "partner_indicators")):
                if references[source] and references[source]["new_rows"]:
                    gates.check(suite, references[source]["rows"], run_id=run_id)
        rows[day]["gate_warnings"] = sum(len(o.warnings) for o in gates.outcomes if o.run_id == run_id)
        failure = gates.failure(run_id)
        if failure is not None:
            return gates, passed, (day, failure)
        passed.append(day)
        volumes[day] = rows[day]["accepted"]
        if day in figures:
            sizes[day] = figures[day]["accepted"]
    return gates, passed, None


def _fill(
    row: dict[str, Any],
    requests: dict[str, Any],
    accounts: dict[str, Any] | None,
    references: dict[str, dict[str, Any] | None],
    corrupt: list[landing_files.CorruptFile],
    files: int,
) -> None:
    """A date's figures into its run row."""
    row.update(_file_fields(corrupt))
    row.update(
        {
            "files": files,
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
    parts = (
        ("accounts", accounts),
        ("incidents", references[c.INCIDENTS]),
        ("indicators", references[c.PARTNER_INDICATORS]),
    )
    for prefix, part in parts:
        for name in ("lines_read", "accepted", "duplicates", "quarantined"):
            row[f"{prefix}_{name}"] = part[name] if part else None


def _write(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: list[date],
    run_ids: dict[date, str],
    requests: dict[str, Any],
    accounts: tuple[dict[date, dict[str, Any]], dict[str, DataFrame] | None],
    references: dict[str, dict[str, Any] | None],
    corrupt: dict[date, list[landing_files.CorruptFile]],
    steps: dict[str, float],
) -> None:
    """Write the rows of ``days`` (which passed their gates): one commit per table."""
    landing = F.col("landing_date").isin(*days)
    with _timed(steps, "raw_requests: MERGE"):
        event_dates = sorted({d for day in days for d in requests["days"][day]["event_dates"]})
        _merge_requests(spark, lakehouse, requests["batch"].filter(landing), event_dates)
    figures, frames = accounts
    with _timed(steps, "accounts, incidents, indicators: writes"):
        snapshots = [day for day in days if day in figures]
        if snapshots:
            where = tables.dates_in("snapshot_date", snapshots)
            chosen = F.col("snapshot_date").isin(*snapshots)
            tables.replace(frames["raw"].filter(chosen), lakehouse, Table.RAW_ACCOUNTS, where, ("snapshot_date",))
            tables.replace(frames["refined"].filter(chosen), lakehouse, Table.ACCOUNTS, where, ("snapshot_date",))
        for source, part in references.items():
            if part and (not tables.exists(lakehouse, REFERENCE_TABLES[source]) or part["new_rows"]):
                tables.append(part["new"], lakehouse, REFERENCE_TABLES[source])
    with _timed(steps, "quarantine: writes"):
        _record_files(spark, lakehouse, corrupt, run_ids)
        # Incidents and indicators are re-read whole by every date: the last date's run holds them.
        parts = [
            quarantine_rows(requests["parsed"].filter(landing), c.REQUEST_LOGS, _by_date(run_ids)),
            *(
                [quarantine_rows(frames["parsed"].filter(landing), c.ACCOUNTS, _by_date(run_ids))]
                if frames is not None
                else []
            ),
            *(
                quarantine_rows(part["parsed"], source, run_ids[days[-1]])
                for source, part in references.items()
                if part
            ),
        ]
        where = (
            f"(source IN ('{c.REQUEST_LOGS}', '{c.ACCOUNTS}') AND {tables.dates_in('landing_date', days)}) "
            f"OR source IN ('{c.INCIDENTS}', '{c.PARTNER_INDICATORS}')"
        )
        tables.replace(reduce(DataFrame.unionByName, parts), lakehouse, Table.RAW_QUARANTINE, where)
        tables.replace(
            quarantine_summary(tables.read(spark, lakehouse, Table.RAW_QUARANTINE).filter(where)),
            lakehouse,
            Table.QUARANTINE,
            where,
        )


def ingest_days(spark: SparkSession, lakehouse: Lakehouse, days: list[date]) -> dict[str, Any]:
    """Ingest folder dates ``days`` (ascending) in one pass, with the result of ingesting
    them one by one in that order: one read, parse, dedupe and MERGE for all of them, the
    gates per date, one run row per date.

    A date that fails (no readable request file, a critical gate) stops the run there as
    it would stop a day-by-day loop: the dates before it are written, its failed run row
    is recorded, and its error is raised. Returns ``runs`` (the succeeded dates' run rows)
    and ``step_seconds``.
    """
    started = time.perf_counter()
    engine = engine_name(spark)
    rows = {
        day: {
            "run_id": f"ingest-{day}-{uuid.uuid4().hex[:12]}",
            "landing_date": day,
            "engine": engine,
            "started_at": _now(),
        }
        for day in days
    }
    corrupt: dict[date, list[landing_files.CorruptFile]] = {day: [] for day in days}
    steps: dict[str, float] = {}
    partner_key = get_key(lakehouse, PARTNER_HMAC_KEY_ENV)  # before anything is written
    try:
        with _timed(steps, "requests: read + parse"):
            files, typed, failure = _stage_requests(spark, lakehouse, days, corrupt)
        readable = list(files)
        passed: list[date] = []
        if readable:
            run_ids = {day: rows[day]["run_id"] for day in readable}
            requests = _ingest_requests(spark, lakehouse, typed, run_ids, steps)
            with _timed(steps, "accounts: parse + dedupe"):
                accounts = _ingest_accounts(spark, lakehouse, readable, corrupt, partner_key)
            with _timed(steps, "incidents + indicators: parse + dedupe"):
                reference_corrupt: list[landing_files.CorruptFile] = []
                references = {
                    source: _ingest_reference(spark, lakehouse, days[0], source, reference_corrupt)
                    for source in (c.INCIDENTS, c.PARTNER_INDICATORS)
                }
            for day in readable:
                corrupt[day].extend(reference_corrupt)
                _fill(
                    rows[day],
                    requests["days"][day],
                    accounts[0].get(day),
                    references,
                    corrupt[day],
                    len(files[day]),
                )
            with _timed(steps, "gates: checks"):
                gates, passed, gate_failure = _gate(spark, lakehouse, readable, rows, requests, accounts, references)
            with _timed(steps, "gates: Data Docs + results"):
                gates.publish()
            if gate_failure is not None:
                failure = gate_failure
            if passed:
                _write(
                    spark,
                    lakehouse,
                    passed,
                    run_ids,
                    requests,
                    accounts,
                    references,
                    {day: corrupt[day] for day in passed},
                    steps,
                )
        finished = _now()
        records = []
        if passed:
            version = tables.version(spark, lakehouse, Table.RAW_REQUESTS)
            for day in passed:
                files_note = f"; {len(corrupt[day])} unreadable file(s) quarantined whole" if corrupt[day] else ""
                rows[day].update(
                    {
                        "status": "succeeded",
                        "raw_requests_version": version,
                        "message": f"{time.perf_counter() - started:.1f}s{files_note}",
                        "finished_at": finished,
                    }
                )
                records.append(rows[day])
        if failure is not None:
            day, error = failure
            if isinstance(error, quality.GateFailed):
                records.append({**rows[day], "status": "failed_gate", "message": str(error), "finished_at": finished})
            elif corrupt[day]:
                # Unreadable request files: kept and recorded, as the run of that date alone does.
                _record_files(spark, lakehouse, {day: corrupt[day]}, {day: rows[day]["run_id"]})
                records.append(
                    {
                        **rows[day],
                        **_file_fields(corrupt[day]),
                        "status": "failed",
                        "message": str(error),
                        "finished_at": finished,
                    }
                )
        if records:
            with _timed(steps, "run row"):
                _record_runs(spark, lakehouse, records)
        if failure is not None:
            raise failure[1]
        return {"runs": records, "step_seconds": steps}
    finally:
        for source in STAGED:
            shutil.rmtree(_staging(lakehouse, source, days[0]), ignore_errors=True)


def run(spark: SparkSession, lakehouse: Lakehouse, landing_date: date) -> dict[str, Any]:
    """Ingest folder date ``landing_date`` (again, if it was); returns the ingest-runs row
    that was written, with ``step_seconds``."""
    result = ingest_days(spark, lakehouse, [landing_date])
    return {**result["runs"][0], "step_seconds": result["step_seconds"]}


def ingested(spark: SparkSession, lakehouse: Lakehouse, days: list[date]) -> set[date]:
    """The dates of ``days`` with a succeeded run."""
    if not tables.exists(lakehouse, Table.INGEST_RUNS):
        return set()
    found = (
        tables.read(spark, lakehouse, Table.INGEST_RUNS)
        .filter((F.col("status") == "succeeded") & F.col("landing_date").isin(*days))
        .select("landing_date")
        .distinct()
        .collect()
    )
    return {r.landing_date for r in found}


def run_range(spark: SparkSession, lakehouse: Lakehouse, start: date, end: date) -> dict[str, Any]:
    """Ingest folder dates ``start``..``end`` (inclusive) in one pass (``ingest_days``),
    skipping dates already ingested. Each date's lock is held for the whole run, so a
    run of one of them (``--date``) waits its turn as it would for a run of that date.
    Returns ``runs``, ``skipped`` and ``step_seconds``."""
    if end < start:
        raise DistillguardError(f"--end {end} is before --start {start}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    with ExitStack() as held:
        for day in days:
            held.enter_context(locks.hold(lakehouse, "ingest", day))
        done = ingested(spark, lakehouse, days)
        pending = [day for day in days if day not in done]
        result = ingest_days(spark, lakehouse, pending) if pending else {"runs": [], "step_seconds": {}}
    return {**result, "skipped": sorted(done)}


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
