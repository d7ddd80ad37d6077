"""Cross-account clusters: accounts linked by what they share, and features per cluster.

Links (keys) over the 28-day window: a payment fingerprint, an organisation, an IP
prefix, a user agent with the account's dominant prompt template, and a partner
indicator hit. Components are found by min-label propagation on the account-key
bipartite graph, checkpointed every iteration so lineage never grows.

Hub rule (guards against giant components): a key shared by more accounts than its cap
(``FeatureSettings``) links nobody. Public proxies, cloud egress ranges, carrier and
office NATs exceed the IP-prefix cap (20 accounts); generic SDK + template pairs exceed
the template cap; and a template only counts for an account when it dominates that
account's own prompts (>= 20% and >= 20 requests in the window), so people who happen
to ask the same common question are not chained together.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings

Checkpoint = Callable[[DataFrame, int], DataFrame]
KEY_SEPARATOR = "|"


def account_keys(signals: DataFrame, day: date) -> DataFrame:
    """Per account and day: requests per IP prefix and per (template, user agent, system
    prompt digest): back-ends of different apps share an SDK and a templated user turn, but
    each sends its own system prompt."""
    prefixes = (signals.where(F.col("ip_prefix").isNotNull())
                .groupBy("account_id", F.lit("ip_prefix").alias("key_type"), F.col("ip_prefix").alias("key"))
                .count())
    templates = (signals.where(F.col("template_fp").isNotNull() & F.col("user_agent").isNotNull())
                 .groupBy("account_id", F.lit("ua_template").alias("key_type"),
                          F.concat_ws(KEY_SEPARATOR, "template_fp", "user_agent",
                                      F.coalesce("system_prompt_sha256", F.lit("-"))).alias("key"))
                 .count())
    return (prefixes.unionByName(templates)
            .select(F.lit(day).alias("feature_date"), "account_id", "key_type", "key",
                    F.col("count").alias("requests")))


def link_keys(keys_daily: DataFrame, accounts: DataFrame, indicators: DataFrame, rolling_day: DataFrame,
              day: date, settings: FeatureSettings = FEATURES) -> DataFrame:
    """(account_id, key_type, key) edges that survive the dominance and hub rules."""
    longest = max(settings.windows)
    window = (keys_daily.where((F.col("feature_date") > F.lit(day - timedelta(days=longest)))
                               & (F.col("feature_date") <= F.lit(day)))
              .groupBy("account_id", "key_type", "key").agg(F.sum("requests").alias("requests")))
    prompts = rolling_day.select("account_id", F.col(f"prompt_requests_{longest}d").alias("prompts"))
    dominant = (window.where(F.col("key_type") == "ua_template").join(prompts, "account_id")
                .where((F.col("requests") >= settings.dominant_template_min_requests)
                       & (F.col("requests") >= F.col("prompts") * settings.dominant_template_share))
                .select("account_id", "key_type", "key"))
    active = rolling_day.select("account_id")
    snapshot = accounts.join(active, "account_id")
    partner_values = indicators.select(F.col("value").alias("partner_value")).distinct()
    template_part = F.split(F.col("key"), r"\|").getItem(0)
    # A partner-shared IP prefix is still an IP prefix: it gets the IP hub cap.
    partner = (window.select("account_id", F.when(F.col("key_type") == "ip_prefix", F.lit("partner_ip"))
                             .otherwise(F.lit("partner")).alias("key_type"),
                             F.when(F.col("key_type") == "ip_prefix", F.col("key"))
                             .otherwise(template_part).alias("partner_value"))
               .unionByName(snapshot.select("account_id", F.lit("partner").alias("key_type"),
                                            F.col("payment_fingerprint_hmac").alias("partner_value")))
               .join(F.broadcast(partner_values), "partner_value")
               .select("account_id", "key_type", F.col("partner_value").alias("key")))
    edges = (window.where(F.col("key_type") == "ip_prefix").select("account_id", "key_type", "key")
             .unionByName(dominant)
             .unionByName(snapshot.where(F.col("payment_fingerprint").isNotNull())
                          .select("account_id", F.lit("payment").alias("key_type"), F.col("payment_fingerprint").alias("key")))
             .unionByName(snapshot.where(F.col("org_id").isNotNull())
                          .select("account_id", F.lit("org").alias("key_type"), F.col("org_id").alias("key")))
             .unionByName(partner)
             .distinct())
    caps = F.create_map(*[F.lit(x) for kv in (
        ("ip_prefix", settings.ip_prefix_max_accounts), ("ua_template", settings.template_max_accounts),
        ("payment", settings.payment_max_accounts), ("org", settings.payment_max_accounts),
        ("partner", settings.template_max_accounts), ("partner_ip", settings.ip_prefix_max_accounts))
        for x in kv])
    per_key = Window.partitionBy("key_type", "key")
    return (edges.withColumn("key_accounts", F.count("*").over(per_key))
            .where((F.col("key_accounts") > 1) & (F.col("key_accounts") <= caps[F.col("key_type")]))
            .select("account_id", "key_type", "key"))


def components(accounts: DataFrame, edges: DataFrame, checkpoint: Checkpoint,
               max_iterations: int = FEATURES.max_label_iterations) -> tuple[DataFrame, int, bool]:
    """Min-label propagation: (account_id, label) where label = smallest account_id of the
    component; returns the labels, the iterations run and whether they converged."""
    nodes = edges.select("account_id", F.concat_ws(KEY_SEPARATOR, "key_type", "key").alias("node"))
    labels = checkpoint(accounts.select("account_id", F.col("account_id").alias("label")).distinct(), 0)
    for iteration in range(1, max_iterations + 1):
        node_label = nodes.join(labels, "account_id").groupBy("node").agg(F.min("label").alias("node_label"))
        offered = nodes.join(node_label, "node").groupBy("account_id").agg(F.min("node_label").alias("offered"))
        updated = checkpoint(labels.join(offered, "account_id", "left").select(
            "account_id", F.least("label", F.coalesce("offered", "label")).alias("label")), iteration)
        changed = updated.join(labels.withColumnRenamed("label", "before"), "account_id") \
            .where(F.col("label") != F.col("before")).count()
        labels = updated
        if changed == 0:
            return labels, iteration, True
    return labels, max_iterations, False


def stable_ids(labels: DataFrame, previous: DataFrame | None) -> DataFrame:
    """Cluster ids that survive from day to day.

    A component inherits the previous id held by most of its members (each previous id
    goes to the one component holding most of its members; ties to the smaller label);
    a component without one gets ``cl_`` + 12 hex digits of the hash of its label.
    """
    fresh = F.concat(F.lit("cl_"), F.substring(F.sha2(F.col("label"), 256), 1, 12))
    if previous is None:
        return labels.select("account_id", fresh.alias("cluster_id"))
    held = (labels.join(previous.select("account_id", F.col("cluster_id").alias("previous_id")), "account_id")
            .groupBy("label", "previous_id").count())
    heir = Window.partitionBy("previous_id").orderBy(F.col("count").desc(), F.col("label"))
    inherited = (held.withColumn("rank", F.row_number().over(heir)).where(F.col("rank") == 1)
                 .groupBy("label").agg(F.min("previous_id").alias("inherited")))
    return (labels.join(inherited, "label", "left")
            .select("account_id", F.coalesce("inherited", fresh).alias("cluster_id")))


def cluster_features(ids: DataFrame, edges: DataFrame, rolling_day: DataFrame, day: date,
                     settings: FeatureSettings = FEATURES) -> DataFrame:
    """Per account: its cluster and what the cluster as a whole looks like."""
    longest = max(settings.windows)
    w = f"_{longest}d"
    dominant = (edges.where(F.col("key_type") == "ua_template")
                .select("account_id", F.split("key", r"\|").getItem(0).alias("template"))
                .groupBy("account_id").agg(F.min("template").alias("template")))
    links = edges.groupBy("account_id").agg(F.sort_array(F.collect_set("key_type")).alias("link_types"))
    members = (ids.join(rolling_day, "account_id")
               .join(dominant, "account_id", "left")
               .join(links, "account_id", "left"))
    partner_hit = (F.col("partner_payment_hit") | (F.col(f"partner_prefix_requests{w}") > 0)
                   | (F.col(f"partner_template_requests{w}") > 0))
    per_cluster = members.groupBy("cluster_id").agg(
        F.count("*").alias("cluster_size"),
        F.sum("spend_usd_7d").alias("cluster_spend_7d"),
        F.sum(f"spend_usd{w}").alias(f"cluster_spend{w}"),
        F.sum(f"requests{w}").alias(f"cluster_requests{w}"),
        F.avg(F.col("new_account").cast("double")).alias("cluster_new_account_share"),
        (F.sum(f"proxy_requests{w}") / F.sum(f"requests{w}")).alias("cluster_proxy_share"),
        F.avg(F.col("kyc_tier").isin("none", "basic").cast("double")).alias("cluster_unverified_share"),
        F.sum(partner_hit.cast("int")).alias("cluster_partner_hit_accounts"),
    )
    overlap = (members.where(F.col("template").isNotNull()).groupBy("cluster_id", "template").count()
               .groupBy("cluster_id").agg(F.max("count").alias("top_template_members")))
    return (members.select("account_id", "cluster_id", F.coalesce("link_types", F.array().cast("array<string>"))
                           .alias("link_types"))
            .join(per_cluster, "cluster_id")
            .join(overlap, "cluster_id", "left")
            .select(F.lit(day).alias("feature_date"), "account_id", "cluster_id", "link_types", "cluster_size",
                    "cluster_spend_7d", f"cluster_spend{w}", f"cluster_requests{w}", "cluster_new_account_share",
                    "cluster_proxy_share", "cluster_unverified_share", "cluster_partner_hit_accounts",
                    (F.coalesce("top_template_members", F.lit(0)) / F.col("cluster_size"))
                    .alias("cluster_template_overlap")))
