"""Daily features job: request signals, daily and rolling account features, clusters.

Run for a day D after ingest of D. It scans only the raw partitions the ingest of D
changed (D itself and the earlier event dates that late events touched), so its cost
grows with the day, not with history. Every date touched gets its signals and daily
features recomputed exactly (one replaceWhere over the touched partitions), then the
rolling windows and clusters of every date from the earliest touched one up to D. A
backfill builds the daily features of several dates in one pass (``daily_batch``).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date, timedelta
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import FEATURES, FeatureSettings, Lakehouse, Table
from distillguard.errors import DistillguardError
from distillguard.features.account_daily import account_daily
from distillguard.features.clusters import (
    account_clusters,
    account_keys,
    cluster_features,
    components,
    dominant_templates,
    stable_ids,
    strong_links,
    weak_keys,
    weak_link_features,
)
from distillguard.features.intent import IntentScorer
from distillguard.features.lineage import banned_as_of, lineage_edges, lineage_features, lineage_links
from distillguard.features.lockstep import lockstep_daily, lockstep_edges, lockstep_features, lockstep_pairs
from distillguard.features.models_reference import model_daily, models_as_of
from distillguard.features.replay import replay_daily, replay_edges, replay_features
from distillguard.features.request_signals import request_signals
from distillguard.features.rolling import rolling
from distillguard.features.sketches import sketch_daily, sketch_features, window_buckets
from distillguard.jobs.ingest import changed_event_dates
from distillguard.logs import progress
from distillguard.models.intent import scorer_as_of
from distillguard.secrets import PSEUDONYM_KEY_ENV, get_key

log = logging.getLogger(__name__)


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
        return spark.createDataFrame([], "indicator_type string, value string, first_seen date, confidence double")
    return (
        tables.read(spark, lakehouse, Table.PARTNER_INDICATORS)
        .where((F.col("ingested_on") <= F.lit(day)) & (F.col("first_seen") <= F.lit(day)))
        .select("indicator_type", "value", "first_seen", "confidence")
        .distinct()
    )


def _signals(spark: SparkSession, lakehouse: Lakehouse, days: list[date], ip_key: bytes) -> DataFrame:
    """Signals of ``days`` in one frame: each date with the newest intent model trained as
    of it, dates that share a model scored together (each distinct prompt once)."""
    raw = tables.read(spark, lakehouse, Table.RAW_REQUESTS)
    by_version: dict[str | None, tuple[IntentScorer | None, list[date]]] = {}
    for day in days:
        scorer = scorer_as_of(lakehouse, day)
        by_version.setdefault(scorer and scorer.version, (scorer, []))[1].append(day)
    parts = [
        request_signals(raw.where(F.col("event_date").isin(*group)), ip_key, scorer)
        for scorer, group in by_version.values()
    ]
    return reduce(DataFrame.unionByName, parts)


def daily_batch(spark: SparkSession, lakehouse: Lakehouse, days: list[date], ip_key: bytes) -> dict[str, int]:
    """Signals of ``days`` (a deterministic derivation of raw and, per date, the newest
    intent model trained as of it, rewritten in place), their models reference rows, then
    their daily features, staged and gated once before they replace the dates' partitions.

    Set-based: each table is written once for all ``days`` (one replaceWhere), and each
    date's daily features read exactly what a run of that date alone reads (its signals,
    its account snapshot, the indicators ingested by it, its models reference). Returns
    the number of active accounts per date.
    """
    days = sorted(set(days))
    tables.replace(
        _signals(spark, lakehouse, days, ip_key),
        lakehouse,
        Table.REQUEST_SIGNALS,
        tables.dates_in("event_date", days),
        ("event_date",),
    )
    signals = tables.read(spark, lakehouse, Table.REQUEST_SIGNALS)
    where = tables.dates_in("feature_date", days)

    def of(day: date) -> DataFrame:
        return signals.where(F.col("event_date") == F.lit(day))

    tables.replace(
        reduce(DataFrame.unionByName, [model_daily(of(day), day) for day in days]),
        lakehouse,
        Table.MODEL_DAILY,
        where,
        ("feature_date",),
    )
    reference = tables.read(spark, lakehouse, Table.MODEL_DAILY)
    daily = tables.stage(
        spark,
        lakehouse,
        "daily",
        reduce(
            DataFrame.unionByName,
            [
                account_daily(
                    of(day),
                    accounts_as_of(spark, lakehouse, day),
                    indicators_as_of(spark, lakehouse, day),
                    models_as_of(reference, day),
                    day,
                )
                for day in days
            ],
        ),
    )
    gates = quality.Gates(spark, lakehouse, f"features-{days[0]}-{days[-1]}-{uuid.uuid4().hex[:12]}")
    if gates.check("account_daily", daily).critical_failures:
        gates.close()
    tables.replace(daily, lakehouse, Table.ACCOUNT_DAILY, where, ("feature_date",))
    tables.replace(
        reduce(DataFrame.unionByName, [account_keys(of(day), day) for day in days]),
        lakehouse,
        Table.ACCOUNT_KEYS,
        where,
        ("feature_date",),
    )
    gates.close()
    counts = {r["feature_date"]: r["count"] for r in daily.groupBy("feature_date").count().collect()}
    return {day.isoformat(): counts.get(day, 0) for day in days}


def daily_step(spark: SparkSession, lakehouse: Lakehouse, day: date, ip_key: bytes) -> int:
    """``daily_batch`` of one date: the number of accounts active on ``day``."""
    return daily_batch(spark, lakehouse, [day], ip_key)[day.isoformat()]


def incidents_before(spark: SparkSession, lakehouse: Lakehouse) -> DataFrame:
    """Every incident row (lineage keeps only verdicts decided before the day); empty when none."""
    if not tables.exists(lakehouse, Table.INCIDENTS):
        return spark.createDataFrame([], "incident_id string, account_id string, label string, decided_on date")
    return tables.read(spark, lakehouse, Table.INCIDENTS).select("incident_id", "account_id", "label", "decided_on")


def _link_days(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: FeatureSettings) -> None:
    """The day's partitions of the link families (sketch buckets, replay, lockstep pairs):
    each reads only the day's signals (replay also the refs issued up to the day)."""
    where = tables.date_equals("feature_date", day)
    signals = tables.read(spark, lakehouse, Table.REQUEST_SIGNALS)
    tables.replace(
        sketch_daily(signals.where(F.col("event_date") == F.lit(day)), day),
        lakehouse,
        Table.SKETCH_DAILY,
        where,
        ("feature_date",),
    )
    tables.replace(replay_daily(signals, day), lakehouse, Table.REPLAY_DAILY, where, ("feature_date",))
    sketch_day = tables.read(spark, lakehouse, Table.SKETCH_DAILY).where(F.col("feature_date") == F.lit(day))
    tables.replace(lockstep_daily(sketch_day, day, settings), lakehouse, Table.LOCKSTEP_DAILY, where, ("feature_date",))


def _window_step(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: FeatureSettings) -> dict[str, Any]:
    where = tables.date_equals("feature_date", day)
    accounts, indicators = accounts_as_of(spark, lakehouse, day), indicators_as_of(spark, lakehouse, day)
    tables.replace(
        rolling(tables.read(spark, lakehouse, Table.ACCOUNT_DAILY), accounts, indicators, day, settings),
        lakehouse,
        Table.ACCOUNT_ROLLING,
        where,
        ("feature_date",),
    )
    rolling_day = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date") == F.lit(day))
    _link_days(spark, lakehouse, day, settings)
    keys_daily = tables.read(spark, lakehouse, Table.ACCOUNT_KEYS)
    sketches = tables.read(spark, lakehouse, Table.SKETCH_DAILY)
    replays = tables.read(spark, lakehouse, Table.REPLAY_DAILY)
    pairs = tables.stage(
        spark,
        lakehouse,
        "lockstep_pairs",
        lockstep_pairs(tables.read(spark, lakehouse, Table.LOCKSTEP_DAILY), day, settings),
    )
    links = tables.stage(
        spark,
        lakehouse,
        "lineage_links",
        lineage_links(
            banned_as_of(incidents_before(spark, lakehouse), day),
            accounts,
            keys_daily,
            replays,
            day,
            settings,
        ),
    )
    dominant = tables.stage(spark, lakehouse, "dominant", dominant_templates(keys_daily, rolling_day, day, settings))
    edges = tables.stage(
        spark,
        lakehouse,
        "edges",
        strong_links(
            accounts,
            indicators,
            rolling_day,
            dominant,
            replay_edges(replays, day, settings),
            lockstep_edges(pairs, settings),
            lineage_edges(links),
            settings,
        ),
    )
    labels, iterations, converged = components(
        rolling_day,
        edges,
        lambda df, i: tables.stage(spark, lakehouse, f"labels_{i % 2}", df),
        settings.max_label_iterations,
    )
    previous = None
    if tables.exists(lakehouse, Table.ACCOUNT_CLUSTERS):
        previous = (
            tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS)
            .where(F.col("feature_date") == F.lit(day - timedelta(days=1)))
            .select("account_id", "cluster_id")
        )
    ids = tables.stage(spark, lakehouse, "cluster_ids", stable_ids(labels, previous))
    buckets = tables.stage(spark, lakehouse, "window_buckets", window_buckets(sketches, day, max(settings.windows)))
    weak = weak_link_features(ids, weak_keys(keys_daily, accounts, buckets, rolling_day, day, settings))
    clusters = account_clusters(
        cluster_features(ids, edges, dominant, rolling_day, day, settings),
        replay_features(replays, day, settings),
        sketch_features(sketches, day, settings, buckets),
        lockstep_features(pairs, settings),
        lineage_features(links, day),
        weak,
    )
    tables.replace(clusters, lakehouse, Table.ACCOUNT_CLUSTERS, where, ("feature_date",))
    if not converged:
        log.warning("cluster labels for %s did not converge in %s iterations; clusters may be split", day, iterations)
    return {"date": day.isoformat(), "iterations": iterations, "converged": converged}


def _run_dates(
    spark: SparkSession,
    lakehouse: Lakehouse,
    daily_dates: list[date],
    window_dates: list[date],
    settings: FeatureSettings,
) -> dict[str, Any]:
    started = time.perf_counter()
    ip_key = get_key(lakehouse, PSEUDONYM_KEY_ENV)
    batches = [
        daily_dates[i : i + settings.daily_batch_dates] for i in range(0, len(daily_dates), settings.daily_batch_dates)
    ]
    accounts: dict[str, int] = {}
    for batch in progress(batches, "features: daily", len(batches)):
        accounts.update(daily_batch(spark, lakehouse, batch, ip_key))
    windows = [
        _window_step(spark, lakehouse, d, settings)
        for d in progress(window_dates, "features: windows", len(window_dates))
    ]
    return {"daily_dates": accounts, "window_dates": windows, "seconds": round(time.perf_counter() - started, 1)}


def _require_raw(spark: SparkSession, lakehouse: Lakehouse, day: date) -> None:
    if (
        not tables.exists(lakehouse, Table.RAW_REQUESTS)
        or tables.read(spark, lakehouse, Table.RAW_REQUESTS).where(F.col("event_date") == F.lit(day)).limit(1).count()
        == 0
    ):
        raise DistillguardError(f"no ingested requests for {day}; run `distillguard ingest --date {day}` first")


def run(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: FeatureSettings = FEATURES) -> dict[str, Any]:
    """Features of ``day``, recomputing earlier dates its ingest touched with late events."""
    _require_raw(spark, lakehouse, day)
    touched = sorted({d for d in changed_event_dates(spark, lakehouse, day) if d <= day} | {day})
    return _run_dates(spark, lakehouse, touched, _days(touched[0], day), settings)


def backfill(
    spark: SparkSession, lakehouse: Lakehouse, start: date, end: date, settings: FeatureSettings = FEATURES
) -> dict[str, Any]:
    """Every date from ``start`` to ``end``: all daily features first (``daily_batch`` over
    ``settings.daily_batch_dates`` dates at a time: the same tables as one date at a time,
    at a fraction of the cost), then the windows."""
    if end < start:
        raise DistillguardError(f"--end {end} is before --start {start}")
    for day in (start, end):
        _require_raw(spark, lakehouse, day)
    days = _days(start, end)
    return _run_dates(spark, lakehouse, days, days, settings)
