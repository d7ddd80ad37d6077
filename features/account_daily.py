"""Daily per-account features from one day's request signals.

The daily table stores counts (not only shares) so rolling windows can add days up
exactly; ``shares`` turns counts into rates the same way for a day and for a window.
Point in time: the inputs are the signals of day D, the account snapshot of D and the
partner indicators first seen on or before D.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

NIGHT_HOURS_UTC = (0, 6)


# count column -> (Spark SQL condition on a request, denominator of its share)
COUNTED: dict[str, tuple[str, str]] = {
    "ok_requests": ("status = 200", "requests"),
    "prompt_requests": ("has_prompt", "requests"),
    "cot_requests": ("cot_elicitation", "prompt_requests"),
    "coding_requests": ("capability = 'coding'", "prompt_requests"),
    "agentic_requests": ("capability = 'agentic_tool_use'", "prompt_requests"),
    "math_requests": ("capability = 'math_reasoning'", "prompt_requests"),
    "max_tokens_hits": ("hit_max_tokens", "requests"),
    "logprobs_requests": ("logprobs", "requests"),
    "multi_choice_requests": ("n > 1", "requests"),
    "tools_requests": ("tools > 0", "requests"),
    "temp_zero_requests": ("temperature = 0", "requests"),
    "batch_requests": ("endpoint = 'batch'", "requests"),
    "reasoning_model_requests": ("model LIKE '%reasoning%'", "requests"),
    "hosting_requests": ("asn_kind = 'hosting'", "requests"),
    "proxy_requests": ("asn_kind = 'proxy_vpn'", "requests"),
    "foreign_country_requests": ("country <> billing_country", "requests"),
    "night_requests": (f"hour(ts) >= {NIGHT_HOURS_UTC[0]} AND hour(ts) < {NIGHT_HOURS_UTC[1]}", "requests"),
    "refs_sent_requests": ("size(reasoning_refs_sent) > 0", "requests"),
    "partner_prefix_requests": ("partner_prefix", "requests"),
    "partner_template_requests": ("partner_template", "prompt_requests"),
}
SUMMED = {"spend_usd": "cost_usd", "prompt_tokens": "prompt_tokens",
          "completion_tokens": "completion_tokens", "reasoning_tokens": "reasoning_tokens"}
DISTINCT = {"distinct_templates": "template_fp", "distinct_prefix_fps": "prefix_fp",
            "distinct_ip_prefixes": "ip_prefix", "distinct_ip_hashes": "ip_hash",
            "distinct_countries": "country", "distinct_user_agents": "user_agent",
            "distinct_api_keys": "api_key_id"}


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, numerator / denominator)


def shares(df: DataFrame, suffix: str = "") -> DataFrame:
    """Rates from counts (null when the denominator is zero: no data is not 'never')."""
    columns = [_ratio(F.col(name + suffix), F.col(denominator + suffix)).alias(
        name.replace("_requests", "").replace("_hits", "_hit") + "_share" + suffix)
        for name, (_, denominator) in COUNTED.items() if name not in ("ok_requests", "prompt_requests")]
    columns += [
        _ratio(F.col("completion_tokens" + suffix), F.col("prompt_tokens" + suffix)).alias("completion_prompt_ratio" + suffix),
        _ratio(F.col("spend_usd" + suffix), F.col("requests" + suffix)).alias("cost_per_request" + suffix),
        _ratio(F.col("requests" + suffix) - F.col("ok_requests" + suffix), F.col("requests" + suffix)).alias("error_share" + suffix),
        _ratio(F.col("top_template_requests" + suffix), F.col("prompt_requests" + suffix)).alias("top_template_share" + suffix),
    ]
    return df.select("*", *columns)


def _with_indicators(signals: DataFrame, accounts: DataFrame, indicators: DataFrame) -> DataFrame:
    prefixes = (indicators.where(F.col("indicator_type") == "ip_prefix")
                .select(F.col("value").alias("ip_prefix"), F.lit(True).alias("partner_prefix")).distinct())
    templates = (indicators.where(F.col("indicator_type") == "prompt_template_hash")
                 .select(F.col("value").alias("template_fp"), F.lit(True).alias("partner_template")).distinct())
    return (signals
            .join(accounts.select("account_id", "billing_country"), "account_id", "left")
            .join(F.broadcast(prefixes), "ip_prefix", "left")
            .join(F.broadcast(templates), "template_fp", "left")
            .fillna(False, ["partner_prefix", "partner_template"]))


def _rhythm(signals: DataFrame) -> DataFrame:
    """Hour-of-day entropy (bits), active hours and inter-arrival regularity per account.

    Scripts send at a steady cadence around the clock: high entropy, low coefficient of
    variation of the gaps between requests. People cluster in working hours.
    """
    hours = signals.groupBy("account_id", F.hour("ts").alias("hour")).count()
    totals = Window.partitionBy("account_id")
    entropy = (hours.withColumn("p", F.col("count") / F.sum("count").over(totals))
               .groupBy("account_id")
               .agg((-F.sum(F.col("p") * F.log2("p"))).alias("hour_entropy"),
                    F.count("*").alias("active_hours")))
    by_time = Window.partitionBy("account_id").orderBy("ts", "request_id")
    gaps = (signals.select("account_id", (F.unix_micros("ts") - F.lag(F.unix_micros("ts")).over(by_time))
                           .alias("gap_us"))
            .where(F.col("gap_us").isNotNull())
            .groupBy("account_id")
            .agg(F.when(F.count("*") >= 2, _ratio(F.stddev_pop("gap_us"), F.avg("gap_us")))
                 .alias("interarrival_cv")))
    return entropy.join(gaps, "account_id", "left")


def _top_template(signals: DataFrame) -> DataFrame:
    per_template = signals.where(F.col("template_fp").isNotNull()).groupBy("account_id", "template_fp").count()
    return per_template.groupBy("account_id").agg(F.max("count").alias("top_template_requests"))


def account_context(accounts: DataFrame, indicators: DataFrame, day: date) -> DataFrame:
    """What is known about each account on ``day``: snapshot fields, age, partner payment hit."""
    payments = (indicators.where(F.col("indicator_type") == "payment_fingerprint_hmac")
                .select(F.col("value").alias("payment_fingerprint_hmac"), F.lit(True).alias("partner_payment_hit"))
                .distinct())
    return (accounts.join(F.broadcast(payments), "payment_fingerprint_hmac", "left")
            .select("account_id", "kyc_tier", "plan", "zero_data_retention",
                    F.datediff(F.lit(day), F.to_date("created_at")).alias("account_age_days"),
                    F.coalesce("partner_payment_hit", F.lit(False)).alias("partner_payment_hit")))


def account_daily(signals: DataFrame, accounts: DataFrame, indicators: DataFrame, day: date) -> DataFrame:
    """One row per account active on ``day``.

    ``signals``: request signals with event_date = day; ``accounts``: snapshot of day;
    ``indicators``: partner indicators with first_seen <= day (the caller filters: this
    function trusts its inputs to be point-in-time).
    """
    enriched = _with_indicators(signals, accounts, indicators)
    aggregates = [F.count("*").alias("requests")]
    aggregates += [F.count_if(F.coalesce(F.expr(cond), F.lit(False))).alias(name)
                   for name, (cond, _) in COUNTED.items()]
    aggregates += [F.coalesce(F.sum(source), F.lit(0)).alias(name) for name, source in SUMMED.items()]
    aggregates += [F.count_distinct(col).alias(name) for name, col in DISTINCT.items()]
    aggregates += [F.avg("temperature").alias("mean_temperature")]
    daily = (enriched.groupBy("account_id").agg(*aggregates)
             .join(_rhythm(signals), "account_id", "left")
             .join(_top_template(signals), "account_id", "left")
             .fillna(0, ["top_template_requests"])
             .join(account_context(accounts, indicators, day), "account_id", "left"))
    return shares(daily).select(F.lit(day).alias("feature_date"), "*")
