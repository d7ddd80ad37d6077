"""Ingest throughput next to DuckDB: median lines/s of N runs of ``ingest``, and seconds per step.

    python benchmarks/ingest_throughput.py                          # bench scale, 1 day, 3 runs
    python benchmarks/ingest_throughput.py --scale demo --runs 3 --dir /tmp/ingest-bench
    python benchmarks/ingest_throughput.py --landing DEMO_HOME/landing --date 2026-11-05 --warm 4
    python benchmarks/ingest_throughput.py --landing DEMO_HOME/landing --start 2026-11-01 --end 2026-11-28

The landing zone is generated once (kept under --dir and reused), or taken as it is from
``--landing`` (e.g. a demo lakehouse's, with ``--date`` one of its folder dates). Every run
ingests that folder date into a lakehouse of its own, so each run does the full work:
read, parse, quarantine, dedupe, gates, MERGE, run record. With ``--warm N`` that lakehouse
is a copy of one that already holds the N days before (ingested once, not timed), as in
``make demo``'s loop, where every day but the first finds stored partitions; without it,
the lakehouse is empty. Lines/s counts landing lines read per second of the whole job
(engine already started, as in a scheduled job); the seconds of each step come from the
job's own ``step_seconds``. CPU seconds (this process: the driver and the embedded Sail
engine) are printed too: on a machine shared with other work they vary less than
wall-clock seconds.

Range mode (``--start``/``--end``, with ``--landing``): the folder dates of the range are
ingested into two empty lakehouses, one date at a time in date order (``ingest.run``, as
``make demo`` did) and in one run (``ingest.run_range``), timed side by side, then every
table the ingest writes is compared between the two (row multisets, leaving out only what
names a run: run ids, timestamps, messages, table versions).

Side by side, in the same run and on the same files: DuckDB reads the day's request files
(``read_ndjson``), drops in-batch duplicate request_ids and writes Parquet, the least any
ingest must do. The ratio distillguard / DuckDB is printed per run and as a median.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.engine import engine_name, get_spark
from distillguard.jobs import ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from distillguard.synthetic.generate import generate

START = date(2026, 11, 1)
# The contract's request keys with their types (params and refs kept as JSON): DuckDB
# parses each line once against them, as the ingest does, with no schema sampling.
DUCKDB_COLUMNS = {
    **{name: "VARCHAR" for name in ("request_id", "ts", "account_id", "api_key_id", "model", "endpoint")},
    "status": "INTEGER",
    "prompt_tokens": "BIGINT",
    "completion_tokens": "BIGINT",
    "cost_usd": "DOUBLE",
    "org_id": "VARCHAR",
    "reasoning_tokens": "BIGINT",
    "latency_ms": "BIGINT",
    "client_ip": "VARCHAR",
    "asn": "BIGINT",
    **{name: "VARCHAR" for name in ("asn_kind", "country", "user_agent")},
    "params": "JSON",
    **{name: "VARCHAR" for name in ("system_prompt_sha256", "prompt_text", "finish_reason", "reasoning_ref_issued")},
    "reasoning_refs_sent": "VARCHAR[]",
}
DUCKDB_SQL = """
COPY (
    SELECT * FROM read_ndjson({files}, columns = {columns}, ignore_errors = true, maximum_object_size = 1 << 26)
    WHERE request_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts) = 1
) TO '{target}' (FORMAT parquet)
"""


def duckdb_seconds(files: list[Path], target: Path, threads: int) -> float:
    """DuckDB's read + dedupe + Parquet write of the same request files."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    connection = duckdb.connect(config={"threads": threads})
    started = time.perf_counter()
    connection.execute(
        DUCKDB_SQL.format(
            files=json.dumps([str(p) for p in files]), columns=DUCKDB_COLUMNS, target=target / "part.parquet"
        )
    )
    seconds = time.perf_counter() - started
    connection.close()
    shutil.rmtree(target, ignore_errors=True)
    return seconds


def _landing(args: argparse.Namespace) -> tuple[Path, date]:
    """The landing zone and folder date to ingest, generated once unless given."""
    if args.landing:
        landing = Path(args.landing).resolve()
        key_file = landing.parent / "secrets" / PARTNER_HMAC_KEY_ENV.lower()
        day = date.fromisoformat(args.date) if args.date else START
    else:
        source = Lakehouse.resolve(Path(args.dir) / f"distillguard-ingestbench-{args.scale}")
        if not (source.truth / "faults.json").exists():
            shutil.rmtree(source.home, ignore_errors=True)
            summary = generate(source, args.scale, START, 1, seed=7, progress=False)
            print(f"generated {summary.requests_generated:,} requests in {summary.seconds:.1f}s", flush=True)
        landing, key_file, day = source.landing, source.home / "secrets" / PARTNER_HMAC_KEY_ENV.lower(), START
    # Each run's lakehouse is fresh, not the generated one: hand it the generator's key.
    if key_file.exists():
        os.environ[PARTNER_HMAC_KEY_ENV] = key_file.read_text().strip()
    os.environ.setdefault(PARTNER_HMAC_KEY_ENV, "benchmark-key")  # generated under an exported key
    return landing, day


# The tables an ingest writes, with the columns that name a run (left out of the comparison).
COMPARED = {
    Table.RAW_REQUESTS: ("ingest_run_id",),
    Table.RAW_QUARANTINE: ("ingest_run_id",),
    Table.QUARANTINE: ("ingest_run_id",),
    Table.QUARANTINED_FILES: ("run_id",),
    Table.RAW_ACCOUNTS: (),
    Table.ACCOUNTS: (),
    Table.INCIDENTS: (),
    Table.PARTNER_INDICATORS: (),
    Table.INGEST_RUNS: ("run_id", "started_at", "finished_at", "message", "raw_requests_version"),
}


def _digests(spark: SparkSession, lakehouse: Lakehouse, table: Table) -> DataFrame:
    frame = tables.read(spark, lakehouse, table)
    columns = sorted(c for c in frame.columns if c not in COMPARED[table])
    return frame.select(F.sha2(F.to_json(F.struct(*columns)), 256).alias("row"))


def compare_tables(spark: SparkSession, one: Lakehouse, other: Lakehouse) -> dict[str, str]:
    """Per table: ``equal (N rows)`` or what differs, comparing row multisets."""
    verdicts = {}
    for table in COMPARED:
        present = (tables.exists(one, table), tables.exists(other, table))
        if present != (True, True):
            verdicts[table.value] = "absent in both" if present == (False, False) else f"present: {present}"
            continue
        a, b = _digests(spark, one, table), _digests(spark, other, table)
        missing, extra = a.exceptAll(b).count(), b.exceptAll(a).count()
        rows = a.count()
        verdicts[table.value] = (
            f"equal ({rows:,} rows)"
            if not missing and not extra
            else f"DIFFER: {missing} rows only in one-by-one, {extra} only in the range run"
        )
    return verdicts


def range_mode(spark: SparkSession, args: argparse.Namespace, landing: Path) -> None:
    """One-by-one vs one range run of the same folder dates, each into an empty lakehouse."""
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    homes = {name: Path(args.dir) / f"distillguard-ingestbench-{name}" for name in ("one-by-one", "range")}
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
    one, whole = (Lakehouse(home=homes[name], landing=landing) for name in ("one-by-one", "range"))
    lines = 0
    started, cpu = time.perf_counter(), _cpu_seconds()
    for day in days:
        lines += ingest.run(spark, one, day)["lines_read"]
    loop, loop_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    loop_peak = _peak_gb()
    started, cpu = time.perf_counter(), _cpu_seconds()
    result = ingest.run_range(spark, whole, start, end)
    batch, batch_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    batch_peak = _peak_gb()
    files = [p for day in days for p in sorted((landing / "request_logs" / f"date={day}").glob("*.jsonl.gz"))]
    duck = duckdb_seconds(files, Path(args.dir) / "distillguard-ingestbench-duckdb", args.threads)
    print(f"{len(days)} folder dates, {lines:,} lines, on {engine_name(spark)}:")
    print(f"  one by one   {loop:7.1f}s ({loop_cpu:.1f} CPU s) = {loop / len(days):.2f}s a date")
    print(f"  one run      {batch:7.1f}s ({batch_cpu:.1f} CPU s) = {batch / len(days):.2f}s a date")
    print(f"  ratio one-by-one / one run: {loop / batch:.2f}x; DuckDB read + dedupe + write of all: {duck:.1f}s")
    # Peak RSS of this process (driver and embedded engine) so far: a rise after the range
    # run is that run's peak.
    print(f"  peak RSS after one by one {loop_peak:.2f} GB, after the range run {batch_peak:.2f} GB")
    print("  one run, seconds per step:")
    for name, value in result["step_seconds"].items():
        print(f"    {name:42s} {value:6.2f}")
    print("tables, one by one vs one run:")
    verdicts = compare_tables(spark, one, whole)
    for name, verdict in verdicts.items():
        print(f"  {name:28s} {verdict}")
    print("all equal" if all(v.startswith(("equal", "absent")) for v in verdicts.values()) else "TABLES DIFFER")
    if not args.keep:
        for home in homes.values():
            shutil.rmtree(home, ignore_errors=True)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the machine's cores)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the landing zone and runs live")
    parser.add_argument("--landing", help="an existing landing zone (instead of generating --scale)")
    parser.add_argument("--date", help="with --landing: the folder date to ingest")
    parser.add_argument(
        "--warm", type=int, default=0, help="days before --date already ingested in each run's lakehouse"
    )
    parser.add_argument("--start", help="with --landing: range mode, first folder date")
    parser.add_argument("--end", help="with --landing: range mode, last folder date (inclusive)")
    parser.add_argument("--keep", action="store_true", help="range mode: keep both lakehouses")
    args = parser.parse_args()
    landing, day = _landing(args)
    if args.start or args.end:
        if not (args.landing and args.start and args.end):
            parser.error("range mode needs --landing, --start and --end")
        spark = get_spark()
        spark.range(1).collect()
        range_mode(spark, args, landing)
        return
    files = sorted((landing / "request_logs" / f"date={day}").glob("*.jsonl.gz"))
    spark = get_spark()
    spark.range(1).collect()
    base = None
    if args.warm:
        base = Path(args.dir) / f"distillguard-ingestbench-warm-{day}-{args.warm}"
        shutil.rmtree(base, ignore_errors=True)
        for before in range(args.warm, 0, -1):
            ingest.run(spark, Lakehouse(home=base, landing=landing), day - timedelta(days=before))
    rates, ratios, steps = [], [], []
    for run in range(args.runs):
        home = Path(args.dir) / f"distillguard-ingestbench-run-{run}"
        shutil.rmtree(home, ignore_errors=True)
        if base is not None:
            shutil.copytree(base, home)
        lakehouse = Lakehouse(home=home, landing=landing)
        started, cpu = time.perf_counter(), _cpu_seconds()
        row = ingest.run(spark, lakehouse, day)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        duck = duckdb_seconds(files, Path(args.dir) / "distillguard-ingestbench-duckdb", args.threads)
        rates.append(row["lines_read"] / seconds)
        ratios.append(seconds / duck)
        steps.append({**row.get("step_seconds", {}), "whole job": seconds, "whole job, CPU seconds": cpu})
        print(
            f"run {run + 1}: {row['lines_read']:,} lines ({row['accepted']:,} accepted, "
            f"{row['duplicates_dropped']:,} duplicates, {row['quarantined']:,} quarantined) in {seconds:.1f}s "
            f"({cpu:.1f} CPU s) "
            f"= {rates[-1]:,.0f} lines/s; DuckDB {duck:.1f}s = {row['lines_read'] / duck:,.0f} lines/s; "
            f"ratio {ratios[-1]:.2f}x",
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)
    print(f"seconds per step, median of {args.runs} (then each run):")
    for name in steps[-1]:
        values = [s.get(name, 0.0) for s in steps]
        print(f"  {name:42s} {statistics.median(values):6.2f}   " + " ".join(f"{v:6.2f}" for v in values))
    what = f"{day} of {landing}" if args.landing else args.scale
    print(
        f"{what}{f' after {args.warm} day(s)' if args.warm else ''} on {engine_name(spark)}: median "
        f"{statistics.median(rates):,.0f} lines/s, {statistics.median(ratios):.2f}x DuckDB over {args.runs} run(s)"
    )


if __name__ == "__main__":
    main()
