"""Daily part of a features backfill: N single-date passes against one batch of N dates;
or (``--whole``) the whole backfill, daily part and window part.

    cp -a DEMO_LAKEHOUSE /tmp/fb-lh
    python benchmarks/features_backfill.py --home /tmp/fb-lh --start 2026-11-04 --days 7 --runs 3
    python benchmarks/features_backfill.py --home /tmp/fb-lh --start 2026-11-01 --days 28 --whole

``--whole`` runs ``jobs/features.py::backfill`` once over the ``--days`` dates and prints its
seconds split into the daily part (every ``daily_batch``) and the window part (the rest:
rolling, link families, clusters), then the seconds spent writing or staging each table.
It only calls functions today's main also has, so the same script times an older checkout
(put the old package first on PYTHONPATH; the first line printed names the code timed).
To compare the tables two runs wrote, see ``benchmarks/compare_feature_tables.py``.

``--home``: a lakehouse with the dates ingested and its intent models registered (a copy
of a demo lakehouse: the dates' daily tables are rewritten, with the same content).

Prints, median of ``--runs`` each, in one process:
  1. day by day: ``daily_step`` of each date, one after the other (N daily steps);
  2. one batch: ``daily_batch`` of the N dates (what ``backfill`` runs), and its phases
     (signals, daily features staged, gate, the other writes);
  3. intent scoring of the batch's distinct prompts on the driver: the pipeline's own
     ``predict_proba`` against the word-by-word ``predict_scores`` (and that they agree).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import numpy as np
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import Lakehouse, Table
from distillguard.engine import get_spark
from distillguard.features.intent import predict_scores
from distillguard.jobs import features
from distillguard.models.intent import scorer_as_of
from distillguard.secrets import PSEUDONYM_KEY_ENV, get_key


@contextmanager
def timed_phases(seconds: dict[str, float]) -> Iterator[None]:
    """Add the time spent in each write, stage and gate to ``seconds`` (by table, or by
    staged name without its date suffix)."""
    originals = (tables.replace, tables.stage, quality.Gates.check)

    def timed(function: Callable[..., Any], label: Callable[[tuple], str]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                name = label(args)
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    tables.replace = timed(tables.replace, lambda a: f"write {a[2].value}")
    tables.stage = timed(tables.stage, lambda a: "stage " + a[2].rstrip("0123456789-_"))
    quality.Gates.check = timed(quality.Gates.check, lambda a: f"gate {a[1]}")
    try:
        yield
    finally:
        tables.replace, tables.stage, quality.Gates.check = originals


def _median(label: str, values: list[float]) -> float:
    value = statistics.median(values)
    print(f"{label:<48} {value:8.1f} s   (runs: {', '.join(f'{v:.1f}' for v in values)})", flush=True)
    return value


def _whole(spark: Any, lakehouse: Lakehouse, days: list[date]) -> None:
    """One backfill of ``days``: seconds of the daily part, the window part and per table."""
    print(f"code: {features.__file__}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    daily: list[float] = []
    original = features.daily_batch

    def timed_daily(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            daily.append(time.perf_counter() - started)

    seconds: dict[str, float] = {}
    features.daily_batch = timed_daily
    try:
        with tables.scratch(lakehouse), timed_phases(seconds):
            started = time.perf_counter()
            features.backfill(spark, lakehouse, days[0], days[-1])
            total = time.perf_counter() - started
    finally:
        features.daily_batch = original
    print(f"{'backfill of ' + str(len(days)) + ' dates':<48} {total:8.1f} s")
    print(f"{'  daily part (' + str(len(daily)) + ' daily_batch calls)':<48} {sum(daily):8.1f} s")
    print(f"{'  window part':<48} {total - sum(daily):8.1f} s")
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"    {name:<44} {value:8.1f} s")
    print(f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 4))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="time one whole backfill (daily and window parts)")
    args = parser.parse_args()
    lakehouse = Lakehouse.resolve(args.home)
    spark = get_spark()
    key = get_key(lakehouse, PSEUDONYM_KEY_ENV)
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    if args.whole:
        _whole(spark, lakehouse, days)
        return
    requests = tables.read(spark, lakehouse, Table.RAW_REQUESTS).where(F.col("event_date").isin(*days)).count()
    print(f"{args.days} dates from {days[0]}, {requests:,} requests, medians of {args.runs}")

    by_day, batch, phases = [], [], []
    with tables.scratch(lakehouse):
        for _ in range(args.runs):
            started = time.perf_counter()
            for day in days:
                features.daily_step(spark, lakehouse, day, key)
            by_day.append(time.perf_counter() - started)
            seconds: dict[str, float] = {}
            with timed_phases(seconds):
                started = time.perf_counter()
                features.daily_batch(spark, lakehouse, days, key)
                batch.append(time.perf_counter() - started)
            phases.append(seconds)
    day_by_day = _median(f"day by day ({args.days} x daily_step)", by_day)
    one_batch = _median(f"one batch (daily_batch of {args.days} dates)", batch)
    for name in phases[0]:
        _median(f"  batch: {name}", [p[name] for p in phases])
    print(f"{'speed-up':<48} {day_by_day / one_batch:8.2f} x")

    scorers = {s.version: s for s in (scorer_as_of(lakehouse, d) for d in days) if s is not None}
    if scorers:
        scorer = scorers[max(scorers)]
        cut = F.substring("prompt_text", 1, scorer.text_chars)
        texts = [
            r[0]
            for r in tables.read(spark, lakehouse, Table.RAW_REQUESTS)
            .where(F.col("event_date").isin(*days) & F.col("prompt_text").isNotNull())
            .select(cut)
            .distinct()
            .collect()
        ]
        timings, outputs = {}, {}
        for name, score in (
            ("pipeline predict_proba", lambda t: scorer.pipeline.predict_proba(t)[:, 1]),
            ("word by word (predict_scores)", lambda t: predict_scores(scorer.pipeline, t)),
        ):
            values = []
            for _ in range(args.runs):
                started = time.perf_counter()
                outputs[name] = score(texts)
                values.append(time.perf_counter() - started)
            timings[name] = _median(f"intent, {len(texts):,} distinct prompts: {name}", values)
        same = np.array_equal(*outputs.values())
        print(f"{'intent scores identical':<48} {same}")


if __name__ == "__main__":
    main()
