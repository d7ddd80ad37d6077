"""Backtest: how many days a campaign runs before its first flag, replayed as it would have happened.

Replay of the last ``backtest_days`` days before ``as_of`` (call the first of them R = C+1):

1. Train as of C (= as_of - backtest_days) with only what was known then: the training set
   is rebuilt point in time (labels decided by C, features up to C; models/training_set.py),
   every row of it trains (no holdout: the replay is the evaluation), with the ``inner_*``
   settings; the review threshold comes from its out-of-fold scores as in training.
2. Score every account on each day R..as_of from the stored features (account_rolling and
   account_clusters of that day; the features job is not re-run). Raw model scores at the
   review threshold: the cluster lift and tiers of scoring/policy.py are not replayed.
3. Campaigns are those the model could not know at C: with ``--truth``, the true campaigns
   (no account labelled distillation by C); otherwise the distillation incidents decided
   in (C, as_of] whose accounts had no distillation label by C (an incident is the labelled
   trace of a campaign). Only campaigns with an account scored in the replay count.
4. Days to detection = first flag date of any of its accounts - first activity of any of
   them (first feature date). A campaign the replay never flags is censored at
   as_of + 1 - first activity, so p50/p90 are then lower bounds; ``caught_within_3d_share``
   counts only real flags. Quantiles are empirical (inverted CDF: an observed value).
5. False flags per day: flagged accounts that are not known attackers (truth, or any
   distillation label decided by as_of), averaged over the replay days.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import partial

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import TRAINING, Lakehouse, Table, TrainingSettings
from distillguard.errors import DistillguardError
from distillguard.models import classifier
from distillguard.models.split import with_groups
from distillguard.models.training_set import CLUSTER_FEATURES, POSITIVE, build, model_input


@dataclass
class Backtest:
    metrics: dict[str, float] = field(default_factory=dict)
    campaigns: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)


def days_to_detection(
    flags: pd.DataFrame,
    campaigns: pd.DataFrame,
    first_seen: pd.DataFrame,
    replay_end: date,
    within: int = TRAINING.caught_within_days,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per campaign: first activity, first flag, days (censored if never flagged); and the summary.

    ``flags``: account_id, feature_date, flagged; ``campaigns``: account_id, campaign_id,
    campaign_type; ``first_seen``: account_id, first_date."""
    members = campaigns.merge(first_seen, on="account_id")
    hits = flags[flags["flagged"]].merge(campaigns, on="account_id").groupby("campaign_id")["feature_date"].min()
    per = (
        members.groupby("campaign_id")
        .agg(
            campaign_type=("campaign_type", "first"),
            accounts=("account_id", "nunique"),
            first_activity=("first_date", "min"),
        )
        .join(hits.rename("first_flag"))
        .reset_index()
    )
    per["caught"] = per["first_flag"].notna()
    end = pd.Timestamp(replay_end) + pd.Timedelta(days=1)
    flag_or_end = pd.to_datetime(per["first_flag"]).where(per["caught"], end)
    per["days_to_detection"] = (flag_or_end - pd.to_datetime(per["first_activity"])).dt.days
    summary = _summary(per, within)
    return per.sort_values(["campaign_type", "campaign_id"]).reset_index(drop=True), summary


def _summary(per: pd.DataFrame, within: int) -> dict[str, float]:
    days = per["days_to_detection"].to_numpy(dtype=float)
    if not len(days):
        return {"backtest_campaigns": 0.0}
    return {
        "days_to_detection_p50": float(np.percentile(days, 50, method="inverted_cdf")),
        "days_to_detection_p90": float(np.percentile(days, 90, method="inverted_cdf")),
        f"caught_within_{within}d_share": float((per["caught"] & (per["days_to_detection"] <= within)).mean()),
        "backtest_campaigns": float(len(per)),
        "backtest_campaigns_caught": float(per["caught"].sum()),
    }


def false_flags_per_day(flags: pd.DataFrame, attackers: set[str]) -> float:
    wrong = flags[flags["flagged"] & ~flags["account_id"].isin(attackers)]
    days = flags["feature_date"].nunique()
    return float(len(wrong) / days) if days else float("nan")


def day_features(spark: SparkSession, lakehouse: Lakehouse, start: date, end: date) -> pd.DataFrame:
    """Every account's model input on each feature date in [start, end] (from stored features)."""
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date").between(start, end))
    clusters = (
        tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS)
        .where(F.col("feature_date").between(start, end))
        .select("account_id", "feature_date", *CLUSTER_FEATURES)
    )
    rolling = rolling.drop(*[c for c in CLUSTER_FEATURES if c in rolling.columns])
    joined = rolling.join(clusters, ["account_id", "feature_date"], "left")
    return model_input(joined, keep=("account_id", "feature_date")).toPandas()


def first_seen(spark: SparkSession, lakehouse: Lakehouse, as_of: date) -> pd.DataFrame:
    return (
        tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING)
        .where(F.col("feature_date") <= F.lit(as_of))
        .groupBy("account_id")
        .agg(F.min("feature_date").alias("first_date"))
        .toPandas()
    )


def point_in_time_set(
    spark: SparkSession, lakehouse: Lakehouse, cutoff: date, settings: TrainingSettings
) -> pd.DataFrame:
    """The training rows as of ``cutoff`` with campaign groups, all of them training rows."""
    rolling = tables.read(spark, lakehouse, Table.ACCOUNT_ROLLING).where(F.col("feature_date") <= F.lit(cutoff))
    clusters = tables.read(spark, lakehouse, Table.ACCOUNT_CLUSTERS).where(F.col("feature_date") <= F.lit(cutoff))
    rows = build(tables.read(spark, lakehouse, Table.INCIDENTS), rolling, clusters, cutoff, settings)
    with tables.scratch(lakehouse):
        stage = partial(tables.stage, spark, lakehouse)
        keys = stage("backtest_keys", rows.select("row_key", "account_id", "incident_id", "cluster_id"))
        groups = with_groups(keys, stage).select("row_key", "group_id")
        return rows.join(groups, "row_key").orderBy("row_key").toPandas()


def run(
    spark: SparkSession,
    lakehouse: Lakehouse,
    as_of: date,
    settings: TrainingSettings = TRAINING,
    truth: pd.DataFrame | None = None,
) -> Backtest:
    """Replay the ``backtest_days`` days up to ``as_of`` (see the module docstring)."""
    result = Backtest()
    cutoff = as_of - timedelta(days=settings.backtest_days)
    rows = point_in_time_set(spark, lakehouse, cutoff, settings)
    inner = replace(settings, n_estimators=settings.inner_n_estimators, cv_folds=settings.inner_cv_folds)
    try:
        model = classifier.train(rows, inner)
    except DistillguardError as failure:
        result.notes.append(f"backtest skipped: cannot train as of {cutoff}: {failure}")
        return result
    scored = day_features(spark, lakehouse, cutoff + timedelta(days=1), as_of)
    flags = scored[["account_id", "feature_date"]].assign(flagged=model.scorer.score(scored) >= model.threshold.value)
    incidents = (
        tables.read(spark, lakehouse, Table.INCIDENTS)
        .where((F.col("label") == POSITIVE) & (F.col("decided_on") <= F.lit(as_of)))
        .select("incident_id", "account_id", "decided_on")
        .toPandas()
    )
    known = set(incidents.loc[incidents["decided_on"] <= cutoff, "account_id"])
    if truth is not None:
        attack = truth[truth["is_attack"]]
        known_campaigns = set(attack.loc[attack["account_id"].isin(known), "campaign_id"])
        campaigns = attack[~attack["campaign_id"].isin(known_campaigns)].rename(columns={"archetype": "campaign_type"})
        attackers = set(attack["account_id"])
    else:
        later = incidents[incidents["decided_on"] > cutoff]
        fresh = later.groupby("incident_id")["account_id"].agg(lambda a: not set(a) & known)
        campaigns = (
            later[later["incident_id"].isin(fresh[fresh].index)]
            .rename(columns={"incident_id": "campaign_id"})
            .assign(campaign_type="labelled incident")
        )
        attackers = set(incidents["account_id"])
    campaigns = campaigns[
        campaigns["campaign_id"].isin(
            campaigns.loc[campaigns["account_id"].isin(set(scored["account_id"])), "campaign_id"]
        )
    ]
    per, summary = days_to_detection(
        flags,
        campaigns[["account_id", "campaign_id", "campaign_type"]],
        first_seen(spark, lakehouse, as_of),
        as_of,
        settings.caught_within_days,
    )
    result.campaigns = per
    result.metrics = {
        **summary,
        "false_flags_per_day": false_flags_per_day(flags, attackers),
        "backtest_threshold": model.threshold.value,
    }
    if len(per):
        result.by_type = (
            per.groupby("campaign_type")
            .apply(lambda g: pd.Series(_summary(g, settings.caught_within_days)), include_groups=False)
            .reset_index()
        )
    result.notes.append(
        f"backtest: trained as of {cutoff} on {int(rows['label'].sum())} positive and "
        f"{int((rows['label'] == 0).sum())} negative rows, "
        f"replayed {cutoff + timedelta(days=1)}..{as_of}"
    )
    return result
