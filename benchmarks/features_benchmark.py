"""Daily features job at log scale, side by side with a raw scan and DuckDB.

    python benchmarks/features_benchmark.py --home /work/bench/features        # bench scale
    python benchmarks/features_benchmark.py --scale demo --home /tmp/fb-demo   # quicker

``--home`` may be a lakehouse that already holds the ingested day (2026-11-01).

Prints, median of N runs each, in one process on one machine:
  1. the daily feature job (signals + daily features of day D) in requests/s;
  2. a raw scan of the same day's needed columns on the same engine;
  3. the same core per-account aggregation as DuckDB SQL over the same Parquet files;
  4. the whole features job for D (daily + windows + clusters) with 7 and with 56 days of
     feature history before D. History is D's own daily and key rows copied to earlier
     dates, so windows and clusters read realistic volumes; the raw table is never read
     outside D's partition (partition filter), so it is not copied.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.engine import get_spark
from distillguard.jobs import features, ingest
from distillguard.secrets import PSEUDONYM_KEY_ENV, get_key
from distillguard.synthetic.generate import generate

DAY = date(2026, 11, 1)
NEEDED = (
    "request_id",
    "ts",
    "account_id",
    "api_key_id",
    "org_id",
    "model",
    "endpoint",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost_usd",
    "client_ip",
    "asn_kind",
    "country",
    "user_agent",
    "temperature",
    "max_tokens",
    "n",
    "logprobs",
    "tools",
    "prompt_text",
    "finish_reason",
    "reasoning_refs_sent",
)
DUCKDB_CORE = """
SELECT account_id, count(*) AS requests, sum(cost_usd) AS spend, sum(prompt_tokens), sum(completion_tokens),
       count(DISTINCT regexp_extract(client_ip, '^([0-9]+\\.[0-9]+\\.[0-9]+)\\.', 1)) AS prefixes,
       count(DISTINCT user_agent), count(DISTINCT api_key_id), count(DISTINCT country),
       count(DISTINCT sha256(trim(regexp_replace(regexp_replace(regexp_replace(lower(prompt_text),
             '"[^"]*"|`[^`]*`', ' <q> ', 'g'), '[a-z_]*[0-9_][a-z0-9_]*', ' <v> ', 'g'), '[ \\t\\r\\n]+', ' ', 'g'))))
         AS templates,
       count(*) FILTER (WHERE asn_kind = 'proxy_vpn') AS proxy, count(*) FILTER (WHERE hour(ts) < 6) AS night,
       count(*) FILTER (WHERE regexp_matches(lower(prompt_text), 'step[ -]by[ -]step|chain of thought')) AS cot,
       count(*) FILTER (WHERE finish_reason = 'length') AS length_hits
FROM read_parquet('{files}') GROUP BY account_id
"""


def _median(label: str, runs: int, step) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    value = statistics.median(times)
    print(f"  {label}: median {value:.1f}s of {[round(t, 1) for t in times]}", flush=True)
    return value


def _prepare(lakehouse: Lakehouse, scale: str) -> None:
    """Generate (unless the landing zone holds the day) and ingest (unless already done)."""
    if not (lakehouse.landing_dir("request_logs") / f"date={DAY}").is_dir():
        generate(lakehouse, scale, DAY, 1, seed=1, progress=True)
    if not tables.exists(lakehouse, Table.RAW_REQUESTS):
        ingest.run(get_spark(), lakehouse, DAY)


def _copy_history(spark, lakehouse: Lakehouse, days: int) -> None:
    """Replace every feature date before D by copies of D's daily and key rows."""
    for table in (Table.ACCOUNT_DAILY, Table.ACCOUNT_KEYS):
        today = tables.read(spark, lakehouse, table).where(F.col("feature_date") == F.lit(DAY))
        history = None
        for back in range(1, days + 1):
            shifted = today.withColumn("feature_date", F.lit(DAY - timedelta(days=back)))
            history = shifted if history is None else history.unionByName(shifted)
        tables.replace(history, lakehouse, table, f"feature_date < DATE'{DAY}'", ("feature_date",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--home", default="/tmp/distillguard-features-bench")
    parser.add_argument("--history", type=int, nargs=2, default=(7, 56), help="days of history to compare")
    args = parser.parse_args()
    lakehouse = Lakehouse.resolve(args.home)
    _prepare(lakehouse, args.scale)
    spark = get_spark()
    key = get_key(lakehouse, PSEUDONYM_KEY_ENV)
    raw = tables.read(spark, lakehouse, Table.RAW_REQUESTS).where(F.col("event_date") == F.lit(DAY))
    requests = raw.count()
    files = str(Path(lakehouse.table_path(Table.RAW_REQUESTS)) / f"event_date={DAY}" / "*.parquet")
    print(f"{args.scale}: {requests:,} requests on {DAY}; {args.runs} runs each", flush=True)

    job = _median(
        "daily feature job (signals + daily)", args.runs, lambda: features.daily_step(spark, lakehouse, DAY, key)
    )
    # Hash every value so each column is really read and decoded (a count could be
    # answered from Parquet statistics).
    scan = _median(
        "raw scan of the needed columns",
        args.runs,
        lambda: raw.select(*[F.sum(F.xxhash64(F.col(c))).alias(c) for c in NEEDED]).collect(),
    )
    con = duckdb.connect()
    duck = _median(
        "DuckDB core per-account aggregation",
        args.runs,
        lambda: con.execute(DUCKDB_CORE.format(files=files)).fetchall(),
    )
    print(f"daily feature job: {requests / job:,.0f} requests/s; {job / duck:.2f}x DuckDB; {job / scan:.2f}x raw scan")

    timed = {}
    for history in args.history:
        _copy_history(spark, lakehouse, history)
        timed[history] = _median(
            f"features job for D with {history} days of history", args.runs, lambda: features.run(spark, lakehouse, DAY)
        )
    short, long = args.history
    print(f"history scaling: {long} days / {short} days = {timed[long] / timed[short]:.2f}x")


if __name__ == "__main__":
    main()
