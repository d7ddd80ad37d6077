"""Ingest throughput next to DuckDB: median lines/s of N runs of ``ingest`` on fresh tables.

    python benchmarks/ingest_throughput.py                          # bench scale, 1 day, 3 runs
    python benchmarks/ingest_throughput.py --scale demo --runs 3 --dir /tmp/ingest-bench

The landing zone is generated once (kept under --dir and reused); every run ingests its
first folder date into an empty lakehouse, so each run does the full work: read, parse,
quarantine, dedupe, gates, MERGE, run record. Lines/s counts landing lines read per second
of the whole job (engine already started, as in a scheduled job).

Side by side, in the same run and on the same files: DuckDB reads the day's request files
(``read_ndjson``), drops in-batch duplicate request_ids and writes Parquet, the least any
ingest must do. The ratio distillguard / DuckDB is printed per run and as a median.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from distillguard.config import Lakehouse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the machine's cores)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the landing zone and runs live")
    args = parser.parse_args()
    source = Lakehouse.resolve(Path(args.dir) / f"distillguard-ingestbench-{args.scale}")
    if not (source.truth / "faults.json").exists():
        shutil.rmtree(source.home, ignore_errors=True)
        summary = generate(source, args.scale, START, 1, seed=7, progress=False)
        print(f"generated {summary.requests_generated:,} requests in {summary.seconds:.1f}s", flush=True)
    # Each run's lakehouse is fresh, not the generated one: hand it the generator's key.
    key_file = source.home / "secrets" / PARTNER_HMAC_KEY_ENV.lower()
    if key_file.exists():
        os.environ[PARTNER_HMAC_KEY_ENV] = key_file.read_text().strip()
    os.environ.setdefault(PARTNER_HMAC_KEY_ENV, "benchmark-key")  # generated under an exported key
    files = sorted((source.landing / "request_logs" / f"date={START}").glob("*.jsonl.gz"))
    spark = get_spark()
    spark.range(1).collect()
    rates, ratios = [], []
    for run in range(args.runs):
        home = Path(args.dir) / f"distillguard-ingestbench-run-{run}"
        shutil.rmtree(home, ignore_errors=True)
        lakehouse = Lakehouse(home=home, landing=source.landing)
        started = time.perf_counter()
        row = ingest.run(spark, lakehouse, START)
        seconds = time.perf_counter() - started
        duck = duckdb_seconds(files, Path(args.dir) / "distillguard-ingestbench-duckdb", args.threads)
        rates.append(row["lines_read"] / seconds)
        ratios.append(seconds / duck)
        print(
            f"run {run + 1}: {row['lines_read']:,} lines ({row['accepted']:,} accepted, "
            f"{row['duplicates_dropped']:,} duplicates, {row['quarantined']:,} quarantined) in {seconds:.1f}s "
            f"= {rates[-1]:,.0f} lines/s; DuckDB {duck:.1f}s = {row['lines_read'] / duck:,.0f} lines/s; "
            f"ratio {ratios[-1]:.2f}x",
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"{args.scale} on {engine_name(spark)}: median {statistics.median(rates):,.0f} lines/s, "
        f"{statistics.median(ratios):.2f}x DuckDB over {args.runs} run(s)"
    )


if __name__ == "__main__":
    main()
