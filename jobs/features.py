"""Daily features job: request signals, daily and rolling account features, clusters.

Run for a day D after ingest of D. It scans only the raw partitions the ingest of D
changed (D itself and the earlier event dates that late events touched), so its cost
grows with the day, not with history. Every date touched gets its signals and daily
features recomputed exactly (replaceWhere on its partition), then the rolling windows and
clusters of every date from the earliest touched one up to D.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import FEATURES, FeatureSettings, Lakehouse, Table
from distillguard.errors import DistillguardError
from distillguard.features.account_daily import account_daily
from distillguard.features.clusters import account_keys, cluster_features, components, link_keys, stable_ids
from distillguard.features.request_signals import request_signals
from distillguard.features.rolling import rolling
from distillguard.jobs.ingest import changed_event_dates
from distillguard.secrets import PSEUDONYM_KEY_ENV, get_key


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def accounts_as_of(spark: SparkSession, lakehouse: Lakehouse, day: date) -> DataFrame:
    """The account snapshot of ``day``, or the latest one before it (never a later one)."""
    snapshots = tables.read(spark, lakehouse, Table.ACCOUNTS).where(F.col("snapshot_date") <= F.lit(day))
    latest = snapshots.agg(F.max("snapshot_date")).first()[0]
    if latest is None:
        raise DistillguardError(f"no account snapshot on or before {day}; run ingest first")
    return snapshots.where(F.col("snapshot_date") == F.lit(latest))


def indicators_as_of(spark: SparkSession, lakehouse: Lakehouse, day: date) -> DataFrame:
    """Partner indicators ingested and first seen on or before ``day`` (an empty frame when
    none exist): a back-dated indicator ingested later never reaches a backfill of ``day``."""
    if not tables.exists(lakehouse, Table.PARTNER_INDICATORS):
        return spark.createDataFrame([], "indicator_type string, value string, first_seen date")
    return (tables.read(spark, lakehouse, Table.PARTNER_INDICATORS)
            .where((F.col("ingested_on") <= F.lit(day)) & (F.col("first_seen") <= F.lit(day)))
            .select("indicator_type", "value", "first_seen").distinct())


def daily_step(spark: SparkSession, lakehouse: Lakehouse, day: date, ip_key: bytes) -> int:
    """Signals of ``day`` (a deterministic derivation of raw, rewritten in place), then its
    daily features, staged and gated before they replace the day's partition."""
    raw = tables.read(spark, lakehouse, Table.RAW_REQUESTS).where(F.col("event_date") == F.lit(day))
    tables.replace(request_signals(raw, ip_key), lakehouse, Table.REQUEST_SIGNALS,
                   tables.date_equals("event_date", day), ("event_date",))
    signals = tables.read(spark, lakehouse, Table.REQUEST_SIGNALS).where(F.col("event_date") == F.lit(day))
    daily = tables.stage(spark, lakehouse, "daily", account_daily(
        signals, accounts_as_of(spark, lakehouse, day), indicators_as_of(spark, lakehouse, day), day))
    gates = quality.Gates(spark, lakehouse, f"features-{day}-{uuid.uuid4().hex[:12]}")
    if gates.check("account_daily", daily).critical_failures:
        gates.close()
    where = tables.date_equals("feature_date", day)
    tables.replace(daily, lakehouse, Table.ACCOUNT_DAILY, where, ("feature_date",))
    tables.replace(account_keys(signals, day), lakehouse, Table.ACCOUNT_KEYS, where, ("feature_date",))
    gates.close()
    return daily.count()


def _window_step(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: FeatureSettings) -> dict[str, Any]:
    where = tables.date_equals("feature_date", day)
    accounts, indicators = accounts_as_of(spark, lakehouse, day), indicators_as_of(spark, lakehouse, day)
    tables.replace(rolling(tables.read(spark, lakehouse, Table.ACCOUNT_DAILY), accounts, indicators, day, settings),
                   lakehouse, Table.ACCOUNT_ROLLING, where, ("feature_date",))
    rolling_day = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date") == F.lit(day))
    edges = link_keys(tables.read(spark, lakehouse, Table.ACCOUNT_KEYS), accounts, indicators, rolling_day, day,
                      settings)
    edges = tables.stage(spark, lakehouse, "edges", edges)
    labels, iterations, converged = components(
        rolling_day, edges, lambda df, i: tables.stage(spark, lakehouse, f"labels_{i % 2}", df),
        settings.max_label_iterations)
    previous = None
    if tables.exists(lakehouse, Table.ACCOUNT_CLUSTERS):
        previous = (tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS)
                    .where(F.col("feature_date") == F.lit(day - timedelta(days=1))).select("account_id", "cluster_id"))
    clusters = cluster_features(stable_ids(labels, previous), edges, rolling_day, day, settings)
    tables.replace(clusters, lakehouse, Table.ACCOUNT_CLUSTERS, where, ("feature_date",))
    if not converged:
        print(f"WARNING: cluster labels for {day} did not converge in {iterations} iterations; "
              "clusters may be split", flush=True)
    return {"date": day.isoformat(), "iterations": iterations, "converged": converged}


def _run_dates(spark: SparkSession, lakehouse: Lakehouse, daily_dates: list[date], window_dates: list[date],
               settings: FeatureSettings) -> dict[str, Any]:
    started = time.perf_counter()
    ip_key = get_key(lakehouse, PSEUDONYM_KEY_ENV)
    accounts = {d.isoformat(): daily_step(spark, lakehouse, d, ip_key) for d in daily_dates}
    windows = [_window_step(spark, lakehouse, d, settings) for d in window_dates]
    return {"daily_dates": accounts, "window_dates": windows, "seconds": round(time.perf_counter() - started, 1)}


def _require_raw(spark: SparkSession, lakehouse: Lakehouse, day: date) -> None:
    if not tables.exists(lakehouse, Table.RAW_REQUESTS) or tables.read(spark, lakehouse, Table.RAW_REQUESTS) \
            .where(F.col("event_date") == F.lit(day)).limit(1).count() == 0:
        raise DistillguardError(f"no ingested requests for {day}; run `distillguard ingest --date {day}` first")


def run(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: FeatureSettings = FEATURES) -> dict[str, Any]:
    """Features of ``day``, recomputing earlier dates its ingest touched with late events."""
    _require_raw(spark, lakehouse, day)
    touched = sorted({d for d in changed_event_dates(spark, lakehouse, day) if d <= day} | {day})
    return _run_dates(spark, lakehouse, touched, _days(touched[0], day), settings)


def backfill(spark: SparkSession, lakehouse: Lakehouse, start: date, end: date,
             settings: FeatureSettings = FEATURES) -> dict[str, Any]:
    """Every date from ``start`` to ``end``: all daily features first, then the windows."""
    if end < start:
        raise DistillguardError(f"--end {end} is before --start {start}")
    for day in (start, end):
        _require_raw(spark, lakehouse, day)
    days = _days(start, end)
    return _run_dates(spark, lakehouse, days, days, settings)
