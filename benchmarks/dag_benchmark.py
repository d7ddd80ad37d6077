"""The whole daily DAG at a given scale, step by step, next to the same work in DuckDB.

    python benchmarks/dag_benchmark.py --scale demo --home /tmp/dag-demo --runs 3
    python benchmarks/dag_benchmark.py --scale bench --home /work/bench/dag --runs 3 --days 2

Preparation, once per ``--home`` (reused when present, never timed): generate the scale,
ingest every day but the last, build their features (one backfill), train the intent
models and the distillation model as of the day before the last and promote it (as the
demo does), load the allow-list. The prepared lakehouse is kept as ``<home>/base``.

Each run copies ``base`` to a fresh folder (the landing zone is shared, read-only) and
times ``run daily`` for the last day through the same code the CLI runs (jobs/daily.py):
ingest, features, score, export, report. In the same run, the same work where DuckDB can
do it: the day's ``read_ndjson`` + dedupe on request_id + Parquet write (ingest), and the
core per-account aggregation over the day's raw Parquet files (features; the SQL of
benchmarks/features_benchmark.py). Ratios are per run, side by side; the JSON holds the
median of the runs for every figure, the per-run values and the machine's load average
(a shared machine makes every figure slower, not the ratios fairer).

Peak RSS: the process tree's resident set sampled every 0.2 s during each step (the
embedded Sail server runs in this process; Python UDF workers are children), and
``getrusage`` maxima of this process and its reaped children over the whole run.

The MLflow store of each copy still names ``base``'s artifact folder (absolute paths),
so the champion is read from there and each run's report artifacts land there too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
from features_benchmark import DUCKDB_CORE
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import TRAINING, Lakehouse, Table
from distillguard.enforcement import allow_list
from distillguard.engine import get_spark
from distillguard.jobs import daily, demo, features

DEDUPE = """
COPY (SELECT * FROM read_ndjson('{files}', compression='gzip', union_by_name=true, ignore_errors=true)
      QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts) = 1)
TO '{out}' (FORMAT parquet, COMPRESSION zstd)
"""


def _tree_rss() -> int:
    """Resident bytes of this process and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return sum(rss.get(pid, 0) for pid in tree)


class PeakRss:
    """The largest process-tree RSS seen while the block runs."""

    def __enter__(self) -> PeakRss:
        self.peak, self._stop = _tree_rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, _tree_rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss())


def _timed(step: Callable[[], Any]) -> tuple[float, int, Any]:
    with PeakRss() as rss:
        started = time.perf_counter()
        value = step()
        seconds = time.perf_counter() - started
    return seconds, rss.peak, value


def _days(lakehouse: Lakehouse) -> list[date]:
    summary = json.loads((lakehouse.truth / "faults.json").read_text())
    start = date.fromisoformat(summary["start"])
    return [start + timedelta(days=i) for i in range(summary["days"])]


def prepare(home: Path, scale: str, days: int | None) -> tuple[Lakehouse, date]:
    """The lakehouse with every day but the last built and a champion (kept in ``home/base``)."""
    base = Lakehouse.resolve(home / "base", landing=home / "landing")
    if (home / "base.ready").is_file():
        return base, _days(base)[-1]
    from distillguard.models import intent
    from distillguard.synthetic.generate import generate

    spark = get_spark()
    if not (base.truth / "faults.json").is_file():
        generate(base, scale, demo.START, days, seed=7, overwrite=True, progress=True)
    every = _days(base)
    if len(every) < 2:
        raise SystemExit("the DAG benchmark needs at least 2 days (history + the timed day): pass --days 2 or more")
    before = every[:-1]
    for day in before:
        daily.run(spark, base, day, steps=("ingest",))
    intent.train_every(spark, base, before)
    features.backfill(spark, base, before[0], before[-1])
    demo._train(spark, base, before[-1], print, TRAINING)
    if base.allow_list_csv.is_file():
        allow_list.load_csv(spark, base, base.allow_list_csv)
    (home / "base.ready").write_text(every[-1].isoformat())
    return base, every[-1]


def duckdb_ingest(landing: Path, day: date, out: Path) -> int:
    """read_ndjson + dedupe on request_id + Parquet write of the day's request files."""
    files = str(landing / "request_logs" / f"date={day}" / "*.jsonl.gz")
    con = duckdb.connect()
    con.execute(DEDUPE.format(files=files, out=out))
    return con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]


def duckdb_features(lakehouse: Lakehouse, day: date) -> int:
    files = str(Path(lakehouse.table_path(Table.RAW_REQUESTS)) / f"event_date={day}" / "*.parquet")
    return len(duckdb.connect().execute(DUCKDB_CORE.format(files=files)).fetchall())


def one_run(home: Path, base: Lakehouse, day: date, index: int) -> dict[str, Any]:
    """One timed ``run daily`` of ``day`` on a fresh copy of ``base``, then DuckDB's share."""
    folder = home / f"run-{index}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base.home, folder, symlinks=True)
    lakehouse = Lakehouse.resolve(folder, landing=base.landing)
    spark = get_spark()
    steps: dict[str, dict[str, float]] = {}
    results: dict[str, Any] = {}
    for step in daily.STEP_NAMES:
        seconds, peak, outcome = _timed(lambda: daily.run(spark, lakehouse, day, steps=(step,), echo=lambda _: None))
        steps[step] = {"seconds": round(seconds, 2), "peak_rss_gib": round(peak / 2**30, 3)}
        results[step] = outcome[0].get("result", {})
    requests = tables.read(spark, lakehouse, Table.RAW_REQUESTS).where(F.col("event_date") == F.lit(day)).count()
    lines = results["ingest"].get("lines_read", requests)
    duck_out = folder / "duckdb_requests.parquet"
    duck_ingest = _timed(lambda: duckdb_ingest(base.landing, day, duck_out))
    duck_features = _timed(lambda: duckdb_features(lakehouse, day))
    total = sum(s["seconds"] for s in steps.values())
    run = {
        "requests": requests,
        "lines_read": lines,
        "steps": steps,
        "dag_seconds": round(total, 2),
        "requests_per_s": round(requests / total, 1),
        "ingest_lines_per_s": round(lines / steps["ingest"]["seconds"], 1),
        "features_requests_per_s": round(requests / steps["features"]["seconds"], 1),
        "duckdb": {
            "ingest_seconds": round(duck_ingest[0], 2),
            "ingest_rows": duck_ingest[2],
            "features_seconds": round(duck_features[0], 2),
            "features_accounts": duck_features[2],
        },
        "ratio_ingest_vs_duckdb": round(steps["ingest"]["seconds"] / duck_ingest[0], 2),
        "ratio_features_vs_duckdb": round(steps["features"]["seconds"] / duck_features[0], 2),
        "peak_rss_gib": round(max(s["peak_rss_gib"] for s in steps.values()), 3),
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }
    shutil.rmtree(folder, ignore_errors=True)
    return run


def _median(runs: list[dict[str, Any]], path: tuple[str, ...]) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(value)
    return round(statistics.median(values), 3)


def summary(scale: str, day: date, runs: list[dict[str, Any]]) -> dict[str, Any]:
    medians = {
        name: _median(runs, (name,))
        for name in (
            "dag_seconds",
            "requests_per_s",
            "ingest_lines_per_s",
            "features_requests_per_s",
            "ratio_ingest_vs_duckdb",
            "ratio_features_vs_duckdb",
            "peak_rss_gib",
        )
    }
    medians["steps_seconds"] = {step: _median(runs, ("steps", step, "seconds")) for step in daily.STEP_NAMES}
    medians["duckdb"] = {k: _median(runs, ("duckdb", k)) for k in ("ingest_seconds", "features_seconds")}
    usage = {
        who: resource.getrusage(kind).ru_maxrss / 2**20
        for who, kind in (("self", resource.RUSAGE_SELF), ("children", resource.RUSAGE_CHILDREN))
    }
    return {
        "scale": scale,
        "day": day.isoformat(),
        "requests": runs[0]["requests"],
        "runs": len(runs),
        "median": medians,
        "per_run": runs,
        "getrusage_max_rss_gib": {k: round(v, 3) for k, v in usage.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sail_mode": os.environ.get("SAIL_MODE", "local"),
            "engine": "SPARK_REMOTE" if os.environ.get("SPARK_REMOTE") else "embedded Sail",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("tiny", "demo", "seed", "bench"), default="demo")
    parser.add_argument("--home", required=True, help="benchmark folder (prepared lakehouse kept in HOME/base)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, help="days to generate (default: the scale's own; at least 2)")
    parser.add_argument("--out", help="JSON file (default HOME/dag-SCALE.json)")
    args = parser.parse_args()
    home = Path(args.home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    base, day = prepare(home, args.scale, args.days)
    print(f"prepared {base.home} in {time.perf_counter() - started:.0f}s; timing run daily {day}", flush=True)
    runs = []
    for index in range(args.runs):
        runs.append(one_run(home, base, day, index))
        print(json.dumps({"run": index + 1, "steps": runs[-1]["steps"], "duckdb": runs[-1]["duckdb"]}), flush=True)
    result = summary(args.scale, day, runs)
    out = Path(args.out) if args.out else home / f"dag-{args.scale}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median"], indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
