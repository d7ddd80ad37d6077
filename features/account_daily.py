"""Daily per-account features from one day's request signals.

The daily table stores counts (not only shares) so rolling windows can add days up
exactly; ``shares`` turns counts into rates the same way for a day and for a window.
Point in time: the inputs are the signals of day D, the account snapshot of D, the
partner indicators first seen on or before D and the models reference of D.

Content reads only the learned intent score (``intent_*``); everything else is request
metadata, present for zero-data-retention accounts too: token ratios, max_tokens hits,
reasoning tokens, logprobs and top_logprobs, n > 1, streaming, top_p, latency, finish
reasons, timing regularity, networks (asn), model pivots, partner-indicator confidence.
"""

from __future__ import annotations

from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from distillguard.config import FEATURES, FeatureSettings

NIGHT_HOURS_UTC = (0, 6)
# Double sums accumulate in this decimal: exact, so they do not depend on row order and two
# runs (or engines, or an incremental and a full computation) write the same bits. Twelve
# decimals keep a micro-dollar request cost and an entropy term without loss that matters.
EXACT = DecimalType(26, 12)


# count column -> (Spark SQL condition on a request, denominator of its share)
COUNTED: dict[str, tuple[str, str]] = {
    "ok_requests": ("status = 200", "requests"),
    "prompt_requests": ("has_prompt", "requests"),
    "intent_scored_requests": ("intent_hit IS NOT NULL", "requests"),
    "intent_requests": ("intent_hit", "intent_scored_requests"),
    "latency_requests": ("latency_ms IS NOT NULL", "requests"),
    "max_tokens_hits": ("hit_max_tokens", "requests"),
    "logprobs_requests": ("logprobs", "requests"),
    "top_logprobs_requests": ("top_logprobs > 0", "requests"),
    "multi_choice_requests": ("n > 1", "requests"),
    "stream_requests": ("stream", "requests"),
    "top_p_narrowed_requests": ("top_p < 1", "requests"),
    "tools_requests": ("tools > 0", "requests"),
    "temp_zero_requests": ("temperature = 0", "requests"),
    "batch_requests": ("endpoint = 'batch'", "requests"),
    "content_filter_requests": ("finish_reason = 'content_filter'", "requests"),
    "tool_use_finish_requests": ("finish_reason = 'tool_use'", "requests"),
    "reasoning_model_requests": ("reasoning_capable", "requests"),
    "new_model_requests": ("new_model", "requests"),
    "hosting_requests": ("asn_kind = 'hosting'", "requests"),
    "proxy_requests": ("asn_kind = 'proxy_vpn'", "requests"),
    "foreign_country_requests": ("country <> billing_country", "requests"),
    "night_requests": (f"hour(ts) >= {NIGHT_HOURS_UTC[0]} AND hour(ts) < {NIGHT_HOURS_UTC[1]}", "requests"),
    "refs_sent_requests": ("size(reasoning_refs_sent) > 0", "requests"),
    "partner_prefix_requests": ("partner_prefix", "requests"),
    "partner_template_requests": ("partner_template", "prompt_requests"),
}
# Counts that are only denominators (no share of their own).
DENOMINATORS = ("ok_requests", "prompt_requests", "intent_scored_requests", "latency_requests")
SUMMED = {
    "spend_usd": "cost_usd",
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "latency_ms_total": "latency_ms",
}
# Summed columns that are doubles (the others are integer counts, already exact).
SUMMED_DOUBLES = ("spend_usd",)
DISTINCT = {
    "distinct_templates": "template_fp",
    "distinct_prefix_fps": "prefix_fp",
    "distinct_ip_prefixes": "ip_prefix",
    "distinct_ip_hashes": "ip_hash",
    "distinct_countries": "country",
    "distinct_user_agents": "user_agent",
    "distinct_api_keys": "api_key_id",
    "distinct_asns": "asn",
    "distinct_models": "model",
}
# Per-day extremes; a window keeps the extreme of its days.
MINIMUM = {"new_model_adoption_hours": "adoption_hours"}
MAXIMUM = {"partner_request_confidence": "partner_confidence"}


def exact_sum(value: Column) -> Column:
    """Sum of a double column, accumulated exactly (``EXACT``), as a double.

    A float sum in another row order differs in the last bit; a model's bins and its 0.1%
    threshold are sensitive enough to that to train a different model from the same logs."""
    return F.sum(value.cast(EXACT)).cast("double")


def exact_mean(value: Column) -> Column:
    """Mean of a double column through ``exact_sum`` (null when every value is null)."""
    return F.when(F.count(value) > 0, exact_sum(value) / F.count(value))


def summed(value: Column, name: str) -> Column:
    """The sum of summed column ``name``: exact for doubles, plain for integer counts."""
    return exact_sum(value) if name in SUMMED_DOUBLES else F.sum(value)


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, numerator / denominator)


def shares(df: DataFrame, suffix: str = "") -> DataFrame:
    """Rates from counts (null when the denominator is zero: no data is not 'never')."""
    columns = [
        _ratio(F.col(name + suffix), F.col(denominator + suffix)).alias(
            name.replace("_requests", "").replace("_hits", "_hit") + "_share" + suffix
        )
        for name, (_, denominator) in COUNTED.items()
        if name not in DENOMINATORS
    ]
    columns += [
        _ratio(F.col("completion_tokens" + suffix), F.col("prompt_tokens" + suffix)).alias(
            "completion_prompt_ratio" + suffix
        ),
        _ratio(F.col("reasoning_tokens" + suffix), F.col("completion_tokens" + suffix)).alias(
            "reasoning_completion_ratio" + suffix
        ),
        _ratio(F.col("latency_ms_total" + suffix), F.col("latency_requests" + suffix)).alias(
            "mean_latency_ms" + suffix
        ),
        _ratio(F.col("spend_usd" + suffix), F.col("requests" + suffix)).alias("cost_per_request" + suffix),
        _ratio(F.col("requests" + suffix) - F.col("ok_requests" + suffix), F.col("requests" + suffix)).alias(
            "error_share" + suffix
        ),
        _ratio(F.col("top_template_requests" + suffix), F.col("prompt_requests" + suffix)).alias(
            "top_template_share" + suffix
        ),
    ]
    return df.select("*", *columns)


def _with_indicators(signals: DataFrame, accounts: DataFrame, indicators: DataFrame) -> DataFrame:
    def hits(indicator_type: str, column: str, flag: str) -> DataFrame:
        return (
            indicators.where(F.col("indicator_type") == indicator_type)
            .groupBy(F.col("value").alias(column))
            .agg(F.lit(True).alias(flag), F.max("confidence").alias(f"{flag}_confidence"))
        )

    return (
        signals.join(accounts.select("account_id", "billing_country"), "account_id", "left")
        .join(F.broadcast(hits("ip_prefix", "ip_prefix", "partner_prefix")), "ip_prefix", "left")
        .join(F.broadcast(hits("prompt_template_hash", "template_fp", "partner_template")), "template_fp", "left")
        .fillna(False, ["partner_prefix", "partner_template"])
        .withColumn("partner_confidence", F.greatest("partner_prefix_confidence", "partner_template_confidence"))
    )


def _with_models(signals: DataFrame, models: DataFrame) -> DataFrame:
    """Reasoning-capable and new-model flags from the models reference, and the hours from
    a new model's first appearance to this request."""
    reference = models.select("model", "first_seen", "reasoning_capable", "new_model")
    hours = (F.unix_micros("ts") - F.unix_micros("first_seen")) / 3_600_000_000.0
    return signals.join(F.broadcast(reference), "model", "left").withColumn(
        "adoption_hours", F.when(F.col("new_model"), hours)
    )


def interarrival(signals: DataFrame) -> DataFrame:
    """(account_id, interarrival_cv): the coefficient of variation of the gaps between an
    account's consecutive requests (null under two gaps or when they average zero).

    One ordered window per account: a 3 M-request account is one task's sort of its day,
    measured as no straggler on 2 cores (``benchmarks/skew.py``, docs/scaling.md "Skew")."""
    by_time = Window.partitionBy("account_id").orderBy("ts", "request_id")
    return (
        signals.select("account_id", (F.unix_micros("ts") - F.lag(F.unix_micros("ts")).over(by_time)).alias("gap_us"))
        .where(F.col("gap_us").isNotNull())
        .groupBy("account_id")
        .agg(F.when(F.count("*") >= 2, _ratio(F.stddev_pop("gap_us"), F.avg("gap_us"))).alias("interarrival_cv"))
    )


def _rhythm(signals: DataFrame) -> DataFrame:
    """Hour-of-day entropy (bits), active hours and inter-arrival regularity per account.

    Scripts send at a steady cadence around the clock: high entropy, low coefficient of
    variation of the gaps between requests. People cluster in working hours.
    """
    hours = signals.groupBy("account_id", F.hour("ts").alias("hour")).count()
    totals = Window.partitionBy("account_id")
    entropy = (
        hours.withColumn("p", F.col("count") / F.sum("count").over(totals))
        .groupBy("account_id")
        .agg((-exact_sum(F.col("p") * F.log2("p"))).alias("hour_entropy"), F.count("*").alias("active_hours"))
    )
    return entropy.join(interarrival(signals), "account_id", "left")


def distinct_counts(signals: DataFrame) -> DataFrame:
    """(account_id, one column per ``DISTINCT``): each count its own aggregation, joined on
    the account. Sail ran the nine as one aggregation 3x slower (docs/engine-compat.md gap 4)."""
    parts = [
        signals.groupBy("account_id").agg(F.count_distinct(column).alias(name)) for name, column in DISTINCT.items()
    ]
    return reduce(lambda left, right: left.join(right, "account_id"), parts)


def _top_template(signals: DataFrame) -> DataFrame:
    per_template = signals.where(F.col("template_fp").isNotNull()).groupBy("account_id", "template_fp").count()
    return per_template.groupBy("account_id").agg(F.max("count").alias("top_template_requests"))


def account_context(
    accounts: DataFrame, indicators: DataFrame, day: date, settings: FeatureSettings = FEATURES
) -> DataFrame:
    """What is known about each account on ``day``: snapshot fields, age, partner payment
    hit and its confidence, and how many accounts share its email domain (and how many of
    those are new): a campaign registers its own domain for hundreds of fresh accounts,
    while a public mail provider is shared by accounts of every age."""
    payments = (
        indicators.where(F.col("indicator_type") == "payment_fingerprint_hmac")
        .groupBy(F.col("value").alias("payment_fingerprint_hmac"))
        .agg(F.max("confidence").alias("partner_payment_confidence"))
    )
    age = F.datediff(F.lit(day), F.to_date("created_at"))
    domains = (
        accounts.where(F.col("email_domain").isNotNull())
        .groupBy("email_domain")
        .agg(
            F.count("*").alias("email_domain_accounts"),
            F.avg((age < settings.new_account_days).cast("double")).alias("email_domain_new_share"),
        )
    )
    return (
        accounts.join(F.broadcast(payments), "payment_fingerprint_hmac", "left")
        .join(domains, "email_domain", "left")
        .select(
            "account_id",
            "kyc_tier",
            "plan",
            "zero_data_retention",
            age.alias("account_age_days"),
            F.col("partner_payment_confidence").isNotNull().alias("partner_payment_hit"),
            "partner_payment_confidence",
            "email_domain_accounts",
            "email_domain_new_share",
        )
    )


def account_daily(
    signals: DataFrame,
    accounts: DataFrame,
    indicators: DataFrame,
    models: DataFrame,
    day: date,
    settings: FeatureSettings = FEATURES,
) -> DataFrame:
    """One row per account active on ``day``.

    ``signals``: request signals with event_date = day; ``accounts``: snapshot of day;
    ``indicators``: partner indicators with first_seen <= day; ``models``: the models
    reference of day (features/models_reference.py). The caller filters: this function
    trusts its inputs to be point-in-time.
    """
    enriched = _with_models(_with_indicators(signals, accounts, indicators), models)
    aggregates = [F.count("*").alias("requests")]
    aggregates += [
        F.count_if(F.coalesce(F.expr(cond), F.lit(False))).alias(name) for name, (cond, _) in COUNTED.items()
    ]
    aggregates += [F.coalesce(summed(F.col(source), name), F.lit(0)).alias(name) for name, source in SUMMED.items()]
    aggregates += [F.min(col).alias(name) for name, col in MINIMUM.items()]
    aggregates += [F.max(col).alias(name) for name, col in MAXIMUM.items()]
    aggregates += [
        exact_mean(F.col("temperature")).alias("mean_temperature"),
        F.max("intent_model_version").alias("intent_model_version"),
    ]
    order = ["account_id", "requests", *COUNTED, *SUMMED, *DISTINCT, *MINIMUM, *MAXIMUM]
    daily = (
        enriched.groupBy("account_id")
        .agg(*aggregates)
        .join(distinct_counts(signals), "account_id")
        .select(*order, "mean_temperature", "intent_model_version")
        .join(_rhythm(signals), "account_id", "left")
        .join(_top_template(signals), "account_id", "left")
        .fillna(0, ["top_template_requests"])
        .join(account_context(accounts, indicators, day, settings), "account_id", "left")
    )
    return shares(daily).select(F.lit(day).alias("feature_date"), "*")
