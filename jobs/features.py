"""Daily features job: request signals, daily and rolling account features, clusters.

Run for a day D after ingest of D. It scans only the raw partitions the ingest of D
changed (D itself and the earlier event dates that late events touched), so its cost
grows with the day, not with history. Every date touched gets its signals and daily
features recomputed exactly (one replaceWhere over the touched partitions), then the
rolling windows and clusters of every date from the earliest touched one up to D. A
backfill builds the daily features of several dates in one pass (``daily_batch``), then
their windows in batches of the same size (``window_batch``: rolling, link families and
clusters set-based per batch, only the clusters' stable ids date by date). docs/backfill.md
says what is batched and why.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
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
    cluster_features_dates,
    components_dates,
    dominant_templates_dates,
    stable_ids,
    strong_links,
    user_agent_keys,
    weak_keys_dates,
    weak_link_features,
)
from distillguard.features.intent import IntentScorer
from distillguard.features.lineage import banned_dates, lineage_edges, lineage_features_dates, lineage_links_dates
from distillguard.features.lockstep import lockstep_daily, lockstep_edges, lockstep_features, lockstep_pairs_dates
from distillguard.features.models_reference import model_daily, models_as_of
from distillguard.features.replay import replay_daily_dates, replay_edges_dates, replay_features_dates
from distillguard.features.request_signals import request_signals
from distillguard.features.rolling import context_of, rolling_dates
from distillguard.features.sketches import sketch_daily, sketch_features_dates, window_buckets_dates
from distillguard.features.windows import inside
from distillguard.jobs.ingest import changed_event_dates
from distillguard.logs import progress
from distillguard.models.intent import scorer_as_of
from distillguard.secrets import PSEUDONYM_KEY_ENV, get_key

log = logging.getLogger(__name__)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def snapshot_dates(spark: SparkSession, lakehouse: Lakehouse) -> list[date]:
    """Every account snapshot date, oldest first (read once per run, not once per date)."""
    if not tables.exists(lakehouse, Table.ACCOUNTS, spark):
        return []
    rows = tables.read(spark, lakehouse, Table.ACCOUNTS).select("snapshot_date").distinct().collect()
    return sorted(r[0] for r in rows)


def accounts_as_of(
    spark: SparkSession, lakehouse: Lakehouse, day: date, snapshots: list[date] | None = None
) -> DataFrame:
    """The account snapshot of ``day``, or the latest one before it (never a later one).
    ``snapshots``: ``snapshot_dates`` when the caller already has them."""
    if snapshots is None:
        snapshots = snapshot_dates(spark, lakehouse)
    latest = max((d for d in snapshots if d <= day), default=None)
    if latest is None:
        raise DistillguardError(f"no account snapshot on or before {day}; run ingest first")
    return tables.read(spark, lakehouse, Table.ACCOUNTS).where(F.col("snapshot_date") == F.lit(latest))


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


def daily_batch(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: list[date],
    ip_key: bytes,
    snapshots: list[date] | None = None,
) -> dict[str, int]:
    """Signals of ``days`` (a deterministic derivation of raw and, per date, the newest
    intent model trained as of it, rewritten in place), their models reference rows, then
    their daily features, staged and gated once before they replace the dates' partitions.

    Set-based: each table is written once for all ``days`` (one replaceWhere), and each
    date's daily features read exactly what a run of that date alone reads (its signals,
    its account snapshot, the indicators ingested by it, its models reference). Returns
    the number of active accounts per date.
    """
    days = sorted(set(days))
    if snapshots is None:
        snapshots = snapshot_dates(spark, lakehouse)
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
                    accounts_as_of(spark, lakehouse, day, snapshots),
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


def _link_days(spark: SparkSession, lakehouse: Lakehouse, days: list[date], settings: FeatureSettings) -> None:
    """The dates' partitions of the link families (sketch buckets, replay, lockstep pairs),
    one write per table: each date reads only its signals (replay also the issues of the
    refs it sent, up to the batch's last date, which resolve them as a run of that date
    alone does)."""
    where = tables.dates_in("feature_date", days)
    signals = tables.read(spark, lakehouse, Table.REQUEST_SIGNALS)

    def union(parts: list[DataFrame]) -> DataFrame:
        return reduce(DataFrame.unionByName, parts)

    tables.replace(
        union([sketch_daily(signals.where(F.col("event_date") == F.lit(day)), day) for day in days]),
        lakehouse,
        Table.SKETCH_DAILY,
        where,
        ("feature_date",),
    )
    tables.replace(replay_daily_dates(signals, days), lakehouse, Table.REPLAY_DAILY, where, ("feature_date",))
    sketch = tables.read(spark, lakehouse, Table.SKETCH_DAILY)
    tables.replace(
        union([lockstep_daily(sketch.where(F.col("feature_date") == F.lit(day)), day, settings) for day in days]),
        lakehouse,
        Table.LOCKSTEP_DAILY,
        where,
        ("feature_date",),
    )


@dataclass(frozen=True)
class _AsOf:
    """What a date's windows and clusters know: its account snapshot and partner indicators."""

    accounts: DataFrame
    indicators: DataFrame


def _cluster_step(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: list[date],
    as_of: dict[date, _AsOf],
    incidents: DataFrame,
    settings: FeatureSettings,
) -> list[dict[str, Any]]:
    """The clusters of ``days`` (in order, no gaps needed): needs their rolling and
    link-family rows and, for stable ids, the clusters of the day before the first.

    Set-based over the dates, with ``feature_date`` as part of every key (each date's
    graph, windows and counts stay its own): lockstep pairs, lineage links, dominant
    templates, strong edges, label propagation, window buckets, weak keys and the
    account_clusters write run once for all dates. Only ``stable_ids`` runs date by date,
    since a date's ids inherit the day before's."""
    by = ("feature_date",)
    where = tables.dates_in("feature_date", days)

    def each(part: str) -> DataFrame:
        return reduce(
            DataFrame.unionByName, [getattr(as_of[day], part).withColumn("feature_date", F.lit(day)) for day in days]
        )

    accounts, indicators = each("accounts"), each("indicators")
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date").isin(*days))
    keys_daily = tables.read(spark, lakehouse, Table.ACCOUNT_KEYS)
    sketches = tables.read(spark, lakehouse, Table.SKETCH_DAILY)
    replays = tables.read(spark, lakehouse, Table.REPLAY_DAILY)
    pairs = tables.stage(
        spark,
        lakehouse,
        "lockstep_pairs",
        lockstep_pairs_dates(tables.read(spark, lakehouse, Table.LOCKSTEP_DAILY), days, settings),
    )
    links = tables.stage(
        spark,
        lakehouse,
        "lineage_links",
        lineage_links_dates(banned_dates(incidents, days), accounts, keys_daily, replays, days, settings),
    )
    dominant = tables.stage(spark, lakehouse, "dominant", dominant_templates_dates(keys_daily, rolling, days, settings))
    edges = tables.stage(
        spark,
        lakehouse,
        "edges",
        strong_links(
            accounts,
            indicators,
            rolling,
            dominant,
            replay_edges_dates(replays, days, settings),
            lockstep_edges(pairs, settings),
            lineage_edges(links, by),
            settings,
            by,
        ),
    )
    labels, summary = components_dates(
        rolling,
        edges,
        lambda df, i: tables.stage(spark, lakehouse, f"labels_{i % 2}", df),
        settings.max_label_iterations,
    )
    previous = None
    if tables.exists(lakehouse, Table.ACCOUNT_CLUSTERS):
        previous = (
            tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS)
            .where(F.col("feature_date") == F.lit(days[0] - timedelta(days=1)))
            .select("account_id", "cluster_id")
        )
    ids_of = []
    for day in days:
        day_labels = labels.where(F.col("feature_date") == F.lit(day)).select("account_id", "label")
        ids = tables.stage(spark, lakehouse, f"cluster_ids_{day.isoformat()}", stable_ids(day_labels, previous))
        ids_of.append(ids.withColumn("feature_date", F.lit(day)))
        previous = ids
    ids = reduce(DataFrame.unionByName, ids_of)
    buckets = tables.stage(
        spark, lakehouse, "window_buckets", window_buckets_dates(sketches, days, max(settings.windows))
    )
    weak = weak_link_features(ids, weak_keys_dates(keys_daily, accounts, rolling, days, settings), by)
    clusters = account_clusters(
        cluster_features_dates(ids, edges, dominant, rolling, settings),
        replay_features_dates(replays, days, settings),
        sketch_features_dates(buckets, ids, settings),
        lockstep_features(pairs, settings, by),
        lineage_features_dates(links),
        weak,
        by,
    )
    tables.replace(clusters, lakehouse, Table.ACCOUNT_CLUSTERS, where, ("feature_date",))
    out = []
    for day in days:
        iterations, converged = summary.get(day, (1, True))
        if not converged:
            log.warning(
                "cluster labels for %s did not converge in %s iterations; clusters may be split", day, iterations
            )
        out.append({"date": day.isoformat(), "iterations": iterations, "converged": converged})
    return out


def window_batch(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: list[date],
    settings: FeatureSettings = FEATURES,
    snapshots: list[date] | None = None,
) -> list[dict[str, Any]]:
    """Windows and clusters of ``days``, set-based once for all of them: rolling in one
    aggregation and one write, each link family in one write, the clusters in one pass
    (only their stable ids date by date, each inheriting the day before's). The same
    tables as one ``_window_step`` per date, in date order."""
    days = sorted(set(days))
    if snapshots is None:
        snapshots = snapshot_dates(spark, lakehouse)
    as_of = {
        day: _AsOf(accounts_as_of(spark, lakehouse, day, snapshots), indicators_as_of(spark, lakehouse, day))
        for day in days
    }
    context = reduce(
        DataFrame.unionByName,
        [context_of(a.accounts, a.indicators, day, settings) for day, a in as_of.items()],
    )
    tables.replace(
        rolling_dates(tables.read(spark, lakehouse, Table.ACCOUNT_DAILY), context, days, settings),
        lakehouse,
        Table.ACCOUNT_ROLLING,
        tables.dates_in("feature_date", days),
        ("feature_date",),
    )
    _link_days(spark, lakehouse, days, settings)
    _add_user_agent_keys(spark, lakehouse, days, settings)
    return _cluster_step(spark, lakehouse, days, as_of, incidents_before(spark, lakehouse), settings)


def _add_user_agent_keys(
    spark: SparkSession, lakehouse: Lakehouse, days: list[date], settings: FeatureSettings
) -> None:
    """Key dates of the batch's windows written before ``account_keys`` wrote user-agent rows
    get them now, derived from their template rows (``user_agent_keys``, the rows a rebuild
    would write): an upgraded lakehouse needs no backfill for its weak links."""
    keys = tables.read(spark, lakehouse, Table.ACCOUNT_KEYS).where(inside(days, max(settings.windows)))
    missing = [
        r.feature_date
        for r in keys.groupBy("feature_date")
        .agg(
            F.max(F.col("key_type") == "ua_template").alias("templates"),
            F.max(F.col("key_type") == "user_agent").alias("user_agents"),
        )
        .where(F.col("templates") & ~F.col("user_agents"))
        .collect()
    ]
    if missing:
        log.info("adding the user-agent key rows of %d key date(s) written before them", len(missing))
        rows = user_agent_keys(keys.where(F.col("feature_date").isin(*missing)))
        tables.append(
            tables.stage(spark, lakehouse, "user_agent_keys", rows), lakehouse, Table.ACCOUNT_KEYS, ("feature_date",)
        )


def _window_step(spark: SparkSession, lakehouse: Lakehouse, day: date, settings: FeatureSettings) -> dict[str, Any]:
    """``window_batch`` of one date."""
    return window_batch(spark, lakehouse, [day], settings)[0]


def _batches(days: list[date], size: int) -> list[list[date]]:
    return [days[i : i + size] for i in range(0, len(days), size)]


def _run_dates(
    spark: SparkSession,
    lakehouse: Lakehouse,
    daily_dates: list[date],
    window_dates: list[date],
    settings: FeatureSettings,
) -> dict[str, Any]:
    started = time.perf_counter()
    ip_key = get_key(lakehouse, PSEUDONYM_KEY_ENV)
    snapshots = snapshot_dates(spark, lakehouse)
    size = settings.daily_batch_dates
    accounts: dict[str, int] = {}
    daily = _batches(daily_dates, size)
    for batch in progress(daily, "features: daily", len(daily)):
        accounts.update(daily_batch(spark, lakehouse, batch, ip_key, snapshots))
    windows: list[dict[str, Any]] = []
    batches = _batches(window_dates, size)
    for batch in progress(batches, "features: windows", len(batches)):
        windows += window_batch(spark, lakehouse, batch, settings, snapshots)
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
    at a fraction of the cost), then the windows (``window_batch``, as many dates at a time)."""
    if end < start:
        raise DistillguardError(f"--end {end} is before --start {start}")
    for day in (start, end):
        _require_raw(spark, lakehouse, day)
    days = _days(start, end)
    return _run_dates(spark, lakehouse, days, days, settings)
