"""Ingest throughput: median requests/s of N runs of ``ingest`` on fresh tables.

    python benchmarks/ingest_throughput.py                      # bench scale, 1 day, 3 runs
    python benchmarks/ingest_throughput.py --scale demo --runs 1

The landing zone is generated once (kept under --dir and reused); every run ingests its
first folder date into an empty lakehouse, so each run does the full work: parse, stage,
gates, MERGE, quarantine, run record. Requests/s counts landing lines read per second of
the whole job (engine already started, as in a scheduled job).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from distillguard.config import Lakehouse
from distillguard.engine import engine_name, get_spark
from distillguard.jobs import ingest
from distillguard.synthetic.generate import generate

START = date(2026, 11, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the landing zone and runs live")
    args = parser.parse_args()
    source = Lakehouse.resolve(Path(args.dir) / f"distillguard-ingestbench-{args.scale}")
    if not (source.truth / "faults.json").exists():
        shutil.rmtree(source.home, ignore_errors=True)
        summary = generate(source, args.scale, START, 1, seed=7, progress=False)
        print(f"generated {summary.requests_generated:,} requests in {summary.seconds:.1f}s", flush=True)
    spark = get_spark()
    rates = []
    for run in range(args.runs):
        home = Path(args.dir) / f"distillguard-ingestbench-run-{run}"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(source.home / "secrets", home / "secrets")
        shutil.copy(source.home / "DEMO_LAKEHOUSE", home / "DEMO_LAKEHOUSE")
        lakehouse = Lakehouse(home=home, landing=source.landing)
        started = time.perf_counter()
        row = ingest.run(spark, lakehouse, START)
        seconds = time.perf_counter() - started
        rates.append(row["lines_read"] / seconds)
        print(
            f"run {run + 1}: {row['lines_read']:,} lines ({row['accepted']:,} accepted, "
            f"{row['duplicates_dropped']:,} duplicates, {row['quarantined']:,} quarantined) in {seconds:.1f}s "
            f"= {rates[-1]:,.0f} requests/s",
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"{args.scale} on {engine_name(spark)}: median {statistics.median(rates):,.0f} requests/s "
        f"over {args.runs} run(s)"
    )


if __name__ == "__main__":
    main()
