"""Training set: labelled incidents joined to the features of their windows, point in time.

Rules, each one a guard against a model that looks better than it is:

* A label is usable only from its ``decided_on`` (contract): a set built ``as_of`` D uses
  incidents decided on or before D, and nothing else about later incidents, not even to
  exclude their accounts from the unlabelled sample.
* Each labelled (incident, account) contributes the rolling and cluster features of every
  day of its window ``[window_start, min(window_end, as_of)]`` on which the account has
  a feature row. Features of day d only use data up to d, so no day sees the verdict.
  The days of one (incident, account) share a total weight of 1, so a long window does not
  make one account dominate; the last of those days (``last_day``) is the row evaluation
  scores, the day the behaviour was fully observed.
* ``distillation`` is the positive class, ``benign`` (investigated and cleared) the hard
  negatives; ``other_abuse`` is left out: it is neither distillation nor cleared, and
  teaching the model either way about it would blur the target.
* Unlabelled negatives (ASSUMPTION, logged with every run as ``NEGATIVES_ASSUMPTION``): most
  accounts nobody investigated are not distilling, so a deterministic hashed sample of
  them (``unlabelled_sample_fraction``, one hashed day each, drawn at the dates of the
  positive rows) is added as negatives with the reduced weight ``unlabelled_weight``,
  because some of them are uncaught attackers. Drawn over all days instead, the negatives
  of a young lakehouse sat later than its labelled campaigns (all in its first days) and
  the model learned the window's age (28-day coverage alone: AUC 0.84 on the demo).
* Suspects are not negatives (positive-unlabelled learning: keep reliable negatives only): a
  sampled account that on its sampled day has a strong lineage link (payment or replayed
  reasoning shared with an account banned before that day) or sits in a strong cluster
  (2..``cluster_lift_max_size`` members) that holds an account labelled ``distillation`` by
  ``as_of`` is dropped. On the demo's training set these were 21 of the 43 uncaught attackers
  of the training side's sample and 4 of its 591 benign accounts; left in, the two highest of
  them (0.95 and 0.94, same clusters as labelled campaigns) set the review threshold above
  every labelled attacker but five.
* The sample is capped on the engine, so the frame the driver trains on stays bounded:
  when the fraction would give more than ``unlabelled_max_rows`` rows, each activity
  stratum (order of magnitude of the day's 28-day requests) is sampled at the fraction
  scaled down to the cap, but no stratum below ``unlabelled_stratum_floor`` rows (heavy
  users are few and are the hardest negatives). So at most cap + floor × strata rows.
* Two weights, kept apart. ``weight`` is the *training* weight (what the booster and the
  calibration see: 1/n per window day of a labelled account, ``unlabelled_weight`` per
  sampled account). ``population_weight`` is the *sampling* weight of the account, the
  number of live accounts it stands for: 1 for a labelled account (every investigated
  account is in the set), 1 / its stratum's sampling rate for a sampled one. Every
  metric, the operating threshold and the gate use it on one row per account (``last_day``).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from distillguard.config import LONGEST_WINDOW, SCORING, TRAINING, ScoringSettings, TrainingSettings
from distillguard.features.clusters import LINK_FEATURES

POSITIVE, BENIGN, UNLABELLED = "distillation", "benign", "unlabelled"
UNLABELLED_SOURCE = "unlabelled_sample"
MAX_STRATUM = 5
NEGATIVES_ASSUMPTION = (
    "Negatives are investigated-and-cleared accounts (label 'benign', weight 1 per account) plus a "
    "hashed sample of accounts with no incident decided by as_of, assumed benign because attackers are "
    "a small minority of unlabelled accounts; since some are uncaught attackers they carry a reduced weight."
)

_RATES = (
    "intent_share",
    "max_tokens_hit_share",
    "logprobs_share",
    "top_logprobs_share",
    "multi_choice_share",
    "stream_share",
    "top_p_narrowed_share",
    "tools_share",
    "temp_zero_share",
    "batch_share",
    "content_filter_share",
    "tool_use_finish_share",
    "reasoning_model_share",
    "new_model_share",
    "new_model_adoption_hours",
    "hosting_share",
    "proxy_share",
    "foreign_country_share",
    "night_share",
    "refs_sent_share",
    "partner_prefix_share",
    "partner_template_share",
    "partner_confidence",
    "completion_prompt_ratio",
    "reasoning_completion_ratio",
    "mean_latency_ms",
    "cost_per_request",
    "error_share",
    "top_template_share",
    "hour_entropy",
    "interarrival_cv",
)
_VOLUMES = (
    "requests",
    "spend_usd",
    "active_days",
    "max_daily_distinct_templates",
    "max_daily_distinct_prefix_fps",
    "max_daily_distinct_ip_prefixes",
    "max_daily_distinct_ip_hashes",
    "max_daily_distinct_countries",
    "max_daily_distinct_user_agents",
    "max_daily_distinct_api_keys",
    "max_daily_distinct_asns",
    "max_daily_distinct_models",
)
_ACCOUNT = (
    "kyc_tier",
    "plan",
    "zero_data_retention",
    "account_age_days",
    "partner_payment_hit",
    "email_domain_accounts",
    "email_domain_new_share",
    "projected_monthly_spend",
    "unverified_over_kyc_threshold",
    "new_account",
)
CLUSTER_FEATURES = (
    "cluster_size",
    "cluster_spend_7d",
    "cluster_spend_28d",
    "cluster_requests_28d",
    "cluster_new_account_share",
    "cluster_proxy_share",
    "cluster_unverified_share",
    "cluster_partner_hit_accounts",
    "cluster_template_overlap",
    *LINK_FEATURES,
)
FEATURE_COLUMNS: tuple[str, ...] = (
    *(f"{name}_{w}d" for w in (7, 28) for name in _RATES + _VOLUMES),
    *_ACCOUNT,
    *CLUSTER_FEATURES,
)
"""The model's input columns, exactly as named in account_rolling and account_clusters of
one feature_date: training selects these (the model encodes them itself); scoring and the
champion comparison select the inputs of the model they score (its signature).
``coverage_days_{7,28}d`` stay in account_rolling (they mark partial windows) but are no
input: how much of the window the lakehouse holds says when a row was drawn, not how the
account behaves (labelled campaigns of a young lakehouse all sit in its first days)."""

COVERAGE_COLUMNS = ("coverage_days_7d", "coverage_days_28d")
"""Carried into the training set to read partial windows by, never a model input."""


def model_input(df: DataFrame, keep: tuple[str, ...] = (), columns: tuple[str, ...] = FEATURE_COLUMNS) -> DataFrame:
    """``keep`` (e.g. account_id) then ``columns`` (default ``FEATURE_COLUMNS``; a registered
    model's own signature inputs when it was trained with others) typed as that signature:
    strings for kyc_tier and plan, double for every other column (so nullable counts and
    flags pass schema enforcement in ``mlflow.pyfunc.spark_udf``)."""
    return df.select(
        *keep, *[F.col(c) if c in ("kyc_tier", "plan") else F.col(c).cast("double").alias(c) for c in columns]
    )


ROW_ORDER = ("account_id", "feature_date", "incident_id")
"""The order a training frame is read in (unique per row): LightGBM's histogram sums and the
fold assignment follow row order, and the engine hands rows over in shuffle order."""

KEY_COLUMNS = (
    "row_key",
    "incident_id",
    "account_id",
    "feature_date",
    "label",
    "label_name",
    "source",
    "window_start",
    "window_end",
    "decided_on",
    "weight",
    "population_weight",
    "last_day",
    "cluster_id",
)


def labels_as_of(incidents: DataFrame, as_of: date) -> DataFrame:
    """Incident rows usable on ``as_of``: ingested and decided on or before it, distillation
    or benign; of a row revised later, the version ingested last by ``as_of``."""
    if "ingested_on" in incidents.columns:  # tables written before ingestion dates have none
        latest = Window.partitionBy("incident_id", "account_id").orderBy(F.col("ingested_on").desc())
        incidents = (
            incidents.where(F.col("ingested_on") <= F.lit(as_of))
            .withColumn("_version", F.row_number().over(latest))
            .where("_version = 1")
        )
    return incidents.where((F.col("decided_on") <= F.lit(as_of)) & F.col("label").isin(POSITIVE, BENIGN)).select(
        "incident_id", "account_id", "label", "window_start", "window_end", "decided_on", "source"
    )


def labelled_rows(incidents: DataFrame, rolling: DataFrame, as_of: date) -> DataFrame:
    """One row per labelled (incident, account, window day with features), weights summing to 1."""
    labels = labels_as_of(incidents, as_of)
    days = rolling.select("account_id", "feature_date")
    joined = labels.join(days, "account_id").where(
        (F.col("feature_date") >= F.col("window_start"))
        & (F.col("feature_date") <= F.least(F.col("window_end"), F.lit(as_of)))
    )
    per_label = Window.partitionBy("incident_id", "account_id")
    return joined.select(
        "incident_id",
        "account_id",
        "feature_date",
        F.when(F.col("label") == POSITIVE, 1).otherwise(0).alias("label"),
        F.col("label").alias("label_name"),
        "source",
        "window_start",
        "window_end",
        "decided_on",
        (F.lit(1.0) / F.count("*").over(per_label)).alias("weight"),
        F.lit(1.0).alias("population_weight"),
        (F.col("feature_date") == F.max("feature_date").over(per_label)).alias("last_day"),
    )


def _hash_unit(*columns: str, seed: int) -> F.Column:
    """A deterministic number in [0, 1) per value: the same sample on every engine and run."""
    return (F.abs(F.xxhash64(F.lit(seed), *[F.col(c) for c in columns])) % 1_000_000) / 1_000_000.0


def _stratum() -> F.Column:
    """Activity stratum: the order of magnitude of the 28-day requests (0 below 10, up to 5)."""
    requests = F.greatest(F.coalesce(F.col(f"requests{LONGEST_WINDOW}"), F.lit(0.0)), F.lit(1.0))
    return F.least(F.floor(F.log10(requests)), F.lit(MAX_STRATUM)).cast("int")


def sampling_rates(picked: DataFrame, settings: TrainingSettings = TRAINING) -> DataFrame:
    """(stratum, rate): the fraction, or under the cap the fraction scaled to it with a
    per-stratum floor. Computed on the engine from the stratum sizes."""
    fraction, cap, floor = (
        settings.unlabelled_sample_fraction,
        settings.unlabelled_max_rows,
        settings.unlabelled_stratum_floor,
    )
    sizes = picked.groupBy("stratum").agg(F.count(F.lit(1)).alias("n"))
    expected = sizes.agg((F.sum("n") * F.lit(fraction)).alias("expected"))
    capped = F.least(
        F.lit(1.0),
        F.greatest(F.lit(fraction) * F.lit(cap) / F.col("expected"), F.least(F.col("n"), F.lit(floor)) / F.col("n")),
    )
    rate = F.when(F.col("expected") <= F.lit(cap), F.lit(fraction)).otherwise(capped)
    return sizes.crossJoin(expected).select("stratum", rate.cast("double").alias("rate"))


def positive_dates(incidents: DataFrame, rolling: DataFrame, as_of: date) -> DataFrame:
    """(feature_date, date_weight): the training weight of the labelled ``distillation`` rows
    on each date, the date distribution the unlabelled sample is drawn at."""
    positives = labelled_rows(incidents, rolling, as_of).where(F.col("label") == 1)
    return positives.groupBy("feature_date").agg(F.sum("weight").alias("date_weight"))


def unlabelled_rows(
    incidents: DataFrame, rolling: DataFrame, as_of: date, settings: TrainingSettings = TRAINING
) -> DataFrame:
    """The hashed, capped sample of accounts without any incident decided by ``as_of``, one day each.

    The day is drawn at the positives' dates (``positive_dates``): among the account's days,
    day d with probability proportional to the positives' weight on d (weighted reservoir
    key -ln(u)/w, smallest wins), so the negatives' dates follow the positives' and the
    model cannot learn how old the lakehouse was when a row was drawn. An account with no
    feature row on any positive date keeps a uniform hashed day of its own: every account
    stays a candidate exactly once, so the population weights still add up to the whole
    unlabelled population."""
    known = incidents.where(F.col("decided_on") <= F.lit(as_of)).select("account_id").distinct()
    candidates = (
        rolling.where(F.col("feature_date") <= F.lit(as_of))
        .select("account_id", "feature_date", _stratum().alias("stratum"))
        .join(known, "account_id", "left_anti")
        .join(F.broadcast(positive_dates(incidents, rolling, as_of)), "feature_date", "left")
    )
    unit = _hash_unit("account_id", "feature_date", seed=settings.sample_seed)
    weight = F.col("date_weight")
    # -ln(u)/w for a positive date; 1e12 + u (after every positive date) for any other day.
    key = F.when(weight > 0, -F.log(unit + F.lit(0.5e-6)) / weight).otherwise(F.lit(1e12) + unit)
    # The key is a column before the window orders by it (Sail cannot order a window by an expression).
    pick = Window.partitionBy("account_id").orderBy("pick_key", "feature_date")
    picked = (
        candidates.withColumn("pick_key", key)
        .withColumn("pick", F.row_number().over(pick))
        .where(F.col("pick") == 1)
        .drop("pick", "pick_key", "date_weight")
    )
    return (
        picked.join(F.broadcast(sampling_rates(picked, settings)), "stratum")
        .where(_hash_unit("account_id", seed=settings.sample_seed) < F.col("rate"))
        .select(
            F.lit(None).cast("string").alias("incident_id"),
            "account_id",
            "feature_date",
            F.lit(0).alias("label"),
            F.lit(UNLABELLED).alias("label_name"),
            F.lit(UNLABELLED_SOURCE).alias("source"),
            F.lit(None).cast("date").alias("window_start"),
            F.lit(None).cast("date").alias("window_end"),
            F.lit(None).cast("date").alias("decided_on"),
            F.lit(float(settings.unlabelled_weight)).alias("weight"),
            (F.lit(1.0) / F.col("rate")).alias("population_weight"),
            F.lit(True).alias("last_day"),
        )
    )


def without_suspects(rows: DataFrame, scoring: ScoringSettings = SCORING) -> DataFrame:
    """``rows`` without the sampled unlabelled rows that carry strong evidence of distillation:
    a strong lineage link, or membership of a strong cluster (2..``cluster_lift_max_size``)
    holding a labelled positive row. Such an account is not a benign reference; labelled rows
    (positives and cleared accounts) always stay."""
    strong_cluster = F.col("cluster_size").between(2, scoring.cluster_lift_max_size) & F.col("cluster_id").isNotNull()
    positive_clusters = (
        rows.where((F.col("label") == 1) & strong_cluster)
        .select("cluster_id", F.lit(True).alias("_positive_cluster"))
        .distinct()
    )
    suspect = (F.col("source") == UNLABELLED_SOURCE) & (
        (F.coalesce(F.col("lineage_strong_accounts"), F.lit(0)) > 0)
        | (strong_cluster & F.coalesce(F.col("_positive_cluster"), F.lit(False)))
    )
    return rows.join(positive_clusters, "cluster_id", "left").where(~suspect).select(*rows.columns)


def build(
    incidents: DataFrame, rolling: DataFrame, clusters: DataFrame, as_of: date, settings: TrainingSettings = TRAINING
) -> DataFrame:
    """Labelled and sampled rows with the model's features of their day (before the split),
    suspects dropped from the sample (``without_suspects``)."""
    rows = labelled_rows(incidents, rolling, as_of).unionByName(unlabelled_rows(incidents, rolling, as_of, settings))
    rolling_columns = [c for c in FEATURE_COLUMNS if c not in CLUSTER_FEATURES] + list(COVERAGE_COLUMNS)
    features = rolling.select("account_id", "feature_date", *rolling_columns)
    cluster = clusters.select("account_id", "feature_date", "cluster_id", *CLUSTER_FEATURES)
    return without_suspects(
        rows.join(features, ["account_id", "feature_date"])
        .join(cluster, ["account_id", "feature_date"], "left")
        .select(
            F.concat_ws(
                "|", F.coalesce("incident_id", F.lit("-")), "account_id", F.col("feature_date").cast("string")
            ).alias("row_key"),
            *KEY_COLUMNS[1:],
            *FEATURE_COLUMNS,
            *COVERAGE_COLUMNS,
        )
    )
