"""Cross-account clusters: components over strong links only, and features per cluster.

Strong links (each a key that accounts attach to; components are found by min-label
propagation on the account-key bipartite graph, checkpointed every iteration):

* ``payment``: the same payment fingerprint (account snapshot of the day);
* ``partner``: a partner-lab indicator hit on the payment HMAC, or on a template hash that
  dominates the account's own prompts (>= ``dominant_template_share`` and >=
  ``dominant_template_min_requests`` requests in the window);
* ``replay``: reasoning blocks of one account sent back by another (``features/replay.py``),
  key = the source account;
* ``lockstep``: a lockstep edge (``features/lockstep.py``), key = the pair;
* ``lineage``: a strong link to an account banned for distillation before the day
  (``features/lineage.py``), key = the incident.

Weak links (IP prefixes, user agents, organisations, template sketches and a partner IP
prefix) are shared by strangers (residential proxies exit where people live, carriers put
thousands behind one CGNAT prefix, popular prompts are popular), so they never merge
components: ``weak_link_features`` counts, per account, how many members of its own strong
cluster share them and how many accounts outside it do (for template sketches,
``features/sketches.py::sketch_features_dates`` counts them from its bucket counts).

Component-size guard: a strong key held by more than ``payment_max_accounts`` accounts (a
payment method of a reseller's 10,000 customers, a gift-card processor, a ref replayed by a
whole public tool) is a hub and links nobody; and cluster lift and the cluster KYC rule
(``scoring/policy.py``) stop at ``cluster_lift_max_size`` members.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.account_daily import exact_sum
from distillguard.features.sketches import WEAK_COLUMNS as SKETCH_WEAK_COLUMNS
from distillguard.features.windows import dated, inside, windowed

Checkpoint = Callable[[DataFrame, int], DataFrame]
KEY_SEPARATOR = "|"
KEY_ID = ("key_id_0", "key_id_1")
# Relative slack of the per-day candidate test of dominant templates: far above a double's
# rounding (2^-53), far below any share one request can make.
DAY_SHARE_SLACK = 1e-9


def account_keys(signals: DataFrame, day: date) -> DataFrame:
    """Per account and day: requests per IP prefix, per (template, user agent, system prompt
    digest) (back-ends of different apps share an SDK and a templated user turn, but each
    sends its own system prompt) and per user agent of those prompted requests.

    The user-agent rows are a few per account and day, so the weak links read them instead
    of cutting the user agent out of every ~135-character template key of their window."""
    prompted = signals.where(F.col("template_fp").isNotNull() & F.col("user_agent").isNotNull())
    prefixes = (
        signals.where(F.col("ip_prefix").isNotNull())
        .groupBy("account_id", F.lit("ip_prefix").alias("key_type"), F.col("ip_prefix").alias("key"))
        .count()
    )
    templates = prompted.groupBy(
        "account_id",
        F.lit("ua_template").alias("key_type"),
        F.concat_ws(KEY_SEPARATOR, "template_fp", "user_agent", F.coalesce("system_prompt_sha256", F.lit("-"))).alias(
            "key"
        ),
    ).count()
    agents = prompted.groupBy(
        "account_id", F.lit("user_agent").alias("key_type"), F.col("user_agent").alias("key")
    ).count()
    return (
        prefixes.unionByName(templates)
        .unionByName(agents)
        .select(F.lit(day).alias("feature_date"), "account_id", "key_type", "key", F.col("count").alias("requests"))
    )


def user_agent_keys(keys: DataFrame) -> DataFrame:
    """The ``user_agent`` rows ``account_keys`` writes, derived from the ``ua_template`` rows of
    ``keys`` (each user agent's requests summed over its templates), for key dates written
    before it wrote them. The template fingerprint is a fixed 64 hex characters and the
    system prompt part never holds the separator, so a user agent that does is kept whole."""
    sep = re.escape(KEY_SEPARATOR)
    user_agent = F.regexp_extract(F.col("key"), f"^[0-9a-f]{{64}}{sep}(.*){sep}[^{sep}]*$", 1)
    return (
        keys.where(F.col("key_type") == "ua_template")
        .groupBy("feature_date", "account_id", F.lit("user_agent").alias("key_type"), user_agent.alias("key"))
        .agg(F.sum("requests").alias("requests"))
    )


def dominant_templates(
    keys_daily: DataFrame, rolling_day: DataFrame, day: date, settings: FeatureSettings = FEATURES
) -> DataFrame:
    """(account_id, template): templates that dominate an account's own prompts in the window."""
    return dominant_templates_dates(keys_daily, dated(rolling_day, day), [day], settings).drop("feature_date")


def key_id(key: str | Column) -> list[Column]:
    """Two 64-bit hashes of a key string: a 16-byte stand-in for it in joins and groupings."""
    return [F.xxhash64(F.lit(seed), key).alias(name) for seed, name in enumerate(KEY_ID)]


def dominant_templates_dates(
    keys_daily: DataFrame, rolling: DataFrame, days: list[date], settings: FeatureSettings = FEATURES
) -> DataFrame:
    """(feature_date, account_id, template): ``dominant_templates`` of each date of ``days``
    (``rolling`` holds the rolling rows of those dates).

    Only keys that dominate the account's keyed prompts on some day of the window can
    dominate the window: a day's template keys count a subset of that day's prompt requests
    (those with a user agent), so if a key held under ``dominant_template_share`` of the
    keyed prompts on every day, it would hold under that share of the window's prompts. The
    windows are summed over those candidate keys only (a ``DAY_SHARE_SLACK`` hair below the
    share keeps a key the product's rounding would drop), which leaves out most of a heavy
    account's rows.

    The (template, user agent, system prompt) keys are ~135 characters. A window of them
    grouped and joined as strings outgrows Arrow's 2 GiB of string data per partition at
    `seed` scale on 2 cores (Sail: "Offset overflow error"), so they are grouped and joined
    under ``key_id``, and only the candidates carry their template."""
    longest = max(settings.windows)
    share = settings.dominant_template_share
    prompts = rolling.select("feature_date", "account_id", F.col(f"prompt_requests_{longest}d").alias("prompts"))
    hashed = keys_daily.where((F.col("key_type") == "ua_template") & inside(days, longest)).select(
        "feature_date",
        "account_id",
        *key_id("key"),
        F.split(F.col("key"), r"\|").getItem(0).alias("template"),
        "requests",
    )
    rows = hashed.drop("template")
    keyed = rows.groupBy("feature_date", "account_id").agg(F.sum("requests").alias("keyed"))
    candidates = (
        rows.join(keyed, ["feature_date", "account_id"])
        .where(F.col("requests") >= F.col("keyed") * (share * (1 - DAY_SHARE_SLACK)))
        .select("account_id", *KEY_ID)
        .distinct()
    )
    return (
        windowed(hashed.join(candidates, ["account_id", *KEY_ID], "left_semi"), days, longest)
        .groupBy("feature_date", "account_id", *KEY_ID)
        .agg(F.sum("requests").alias("requests"), F.min("template").alias("template"))
        .join(prompts, ["feature_date", "account_id"])
        .where(
            (F.col("requests") >= settings.dominant_template_min_requests)
            & (F.col("requests") >= F.col("prompts") * share)
        )
        .select("feature_date", "account_id", "template")
        .distinct()
    )


def strong_links(
    accounts: DataFrame,
    indicators: DataFrame,
    rolling_day: DataFrame,
    dominant: DataFrame,
    replay: DataFrame,
    lockstep: DataFrame,
    lineage: DataFrame,
    settings: FeatureSettings = FEATURES,
    by: tuple[str, ...] = (),
) -> DataFrame:
    """(account_id, key_type, key) strong edges of the accounts active on the day, hubs removed.

    ``replay`` is (account_id, source_account_id), ``lockstep`` (account_id, peer_id) and
    ``lineage`` (account_id, key_type, key) edges, all of the same day. With ``by`` (the
    ``feature_date`` of a batch of dates) every input carries those columns and each date's
    graph stays its own: a key links accounts of one date only."""
    active = rolling_day.select(*by, "account_id")
    snapshot = accounts.join(active, [*by, "account_id"])
    strong_types = F.col("indicator_type").isin("payment_fingerprint_hmac", "prompt_template_hash")
    partner_values = indicators.where(strong_types).select(*by, F.col("value").alias("key")).distinct()
    partner = (
        snapshot.select(*by, "account_id", F.col("payment_fingerprint_hmac").alias("key"))
        .unionByName(dominant.select(*by, "account_id", F.col("template").alias("key")))
        .join(F.broadcast(partner_values), [*by, "key"])
        .select(*by, "account_id", F.lit("partner").alias("key_type"), "key")
    )
    pair = F.concat_ws(KEY_SEPARATOR, "account_id", "peer_id")
    edges = (
        snapshot.where(F.col("payment_fingerprint").isNotNull())
        .select(*by, "account_id", F.lit("payment").alias("key_type"), F.col("payment_fingerprint").alias("key"))
        .unionByName(partner)
        .unionByName(
            replay.select(*by, "account_id", F.lit("replay").alias("key_type"), F.col("source_account_id").alias("key"))
        )
        .unionByName(
            replay.select(
                *by,
                F.col("source_account_id").alias("account_id"),
                F.lit("replay").alias("key_type"),
                F.col("source_account_id").alias("key"),
            )
        )
        .unionByName(lockstep.select(*by, "account_id", F.lit("lockstep").alias("key_type"), pair.alias("key")))
        .unionByName(
            lockstep.select(
                *by, F.col("peer_id").alias("account_id"), F.lit("lockstep").alias("key_type"), pair.alias("key")
            )
        )
        .unionByName(lineage.select(*by, "account_id", "key_type", "key"))
        .join(active, [*by, "account_id"])
        .distinct()
    )
    per_key = Window.partitionBy(*by, "key_type", "key")
    return (
        edges.withColumn("key_accounts", F.count("*").over(per_key))
        .where((F.col("key_accounts") > 1) & (F.col("key_accounts") <= settings.payment_max_accounts))
        .select(*by, "account_id", "key_type", "key")
    )


def _propagate(
    accounts: DataFrame, edges: DataFrame, checkpoint: Checkpoint, max_iterations: int, by: tuple[str, ...]
) -> tuple[DataFrame, list[set[tuple]]]:
    """Min-label propagation within each ``by`` group: the labels and, per iteration run,
    the groups whose labels changed in it (it stops after the first with none)."""
    keys = [*by, "account_id"]
    nodes = edges.select(*keys, F.concat_ws(KEY_SEPARATOR, "key_type", "key").alias("node"))
    labels = checkpoint(accounts.select(*keys, F.col("account_id").alias("label")).distinct(), 0)
    changes: list[set[tuple]] = []
    for iteration in range(1, max_iterations + 1):
        node_label = nodes.join(labels, keys).groupBy(*by, "node").agg(F.min("label").alias("node_label"))
        offered = nodes.join(node_label, [*by, "node"]).groupBy(*keys).agg(F.min("node_label").alias("offered"))
        updated = checkpoint(
            labels.join(offered, keys, "left").select(
                *keys, F.least("label", F.coalesce("offered", "label")).alias("label")
            ),
            iteration,
        )
        changed = updated.join(labels.withColumnRenamed("label", "before"), keys).where(
            F.col("label") != F.col("before")
        )
        if by:
            groups = {tuple(r[c] for c in by) for r in changed.select(*by).distinct().collect()}
        else:
            groups = {()} if changed.limit(1).count() else set()
        changes.append(groups)
        labels = updated
        if not groups:
            break
    return labels, changes


def components(
    accounts: DataFrame, edges: DataFrame, checkpoint: Checkpoint, max_iterations: int = FEATURES.max_label_iterations
) -> tuple[DataFrame, int, bool]:
    """Min-label propagation: (account_id, label) where label = smallest account_id of the
    component; returns the labels, the iterations run and whether they converged."""
    labels, changes = _propagate(accounts, edges, checkpoint, max_iterations, ())
    return labels, len(changes), not changes[-1]


def components_dates(
    accounts: DataFrame, edges: DataFrame, checkpoint: Checkpoint, max_iterations: int = FEATURES.max_label_iterations
) -> tuple[DataFrame, dict[date, tuple[int, bool]]]:
    """``components`` of every ``feature_date`` at once (nodes are (date, account) pairs, so
    dates never mix): (feature_date, account_id, label) and, per date, the iterations and
    convergence a run of that date alone reports (a converged date's labels no longer
    change, so running on for the other dates leaves them as they were)."""
    labels, changes = _propagate(accounts, edges, checkpoint, max_iterations, ("feature_date",))
    days = [r["feature_date"] for r in accounts.select("feature_date").distinct().collect()]
    summary = {}
    for day in days:
        last = max((i for i, groups in enumerate(changes, 1) if (day,) in groups), default=0)
        summary[day] = (last + 1, True) if last < max_iterations else (max_iterations, False)
    return labels, summary


def stable_ids(labels: DataFrame, previous: DataFrame | None) -> DataFrame:
    """Cluster ids that survive from day to day.

    A component inherits the previous id held by most of its members (each previous id
    goes to the one component holding most of its members; ties to the smaller label);
    a component without one gets ``cl_`` + 12 hex digits of the hash of its label.
    """
    fresh = F.concat(F.lit("cl_"), F.substring(F.sha2(F.col("label"), 256), 1, 12))
    if previous is None:
        return labels.select("account_id", fresh.alias("cluster_id"))
    held = (
        labels.join(previous.select("account_id", F.col("cluster_id").alias("previous_id")), "account_id")
        .groupBy("label", "previous_id")
        .count()
    )
    heir = Window.partitionBy("previous_id").orderBy(F.col("count").desc(), F.col("label"))
    inherited = (
        held.withColumn("rank", F.row_number().over(heir))
        .where(F.col("rank") == 1)
        .groupBy("label")
        .agg(F.min("previous_id").alias("inherited"))
    )
    return labels.join(inherited, "label", "left").select(
        "account_id", F.coalesce("inherited", fresh).alias("cluster_id")
    )


def cluster_features(
    ids: DataFrame,
    edges: DataFrame,
    dominant: DataFrame,
    rolling_day: DataFrame,
    day: date,
    settings: FeatureSettings = FEATURES,
) -> DataFrame:
    """Per account: its strong cluster, the strong link types that hold it there, and what
    the cluster as a whole looks like."""
    return cluster_features_dates(
        dated(ids, day), dated(edges, day), dated(dominant, day), dated(rolling_day, day), settings
    )


def cluster_features_dates(
    ids: DataFrame, edges: DataFrame, dominant: DataFrame, rolling: DataFrame, settings: FeatureSettings = FEATURES
) -> DataFrame:
    """``cluster_features`` of every ``feature_date`` of the inputs (clusters of one date only)."""
    longest = max(settings.windows)
    w = f"_{longest}d"
    keys = ["feature_date", "account_id"]
    template = dominant.groupBy(*keys).agg(F.min("template").alias("template"))
    links = edges.groupBy(*keys).agg(F.sort_array(F.collect_set("key_type")).alias("link_types"))
    members = ids.join(rolling, keys).join(template, keys, "left").join(links, keys, "left")
    partner_hit = (
        F.col("partner_payment_hit")
        | (F.col(f"partner_prefix_requests{w}") > 0)
        | (F.col(f"partner_template_requests{w}") > 0)
    )
    per_cluster = members.groupBy("feature_date", "cluster_id").agg(
        F.count("*").alias("cluster_size"),
        exact_sum(F.col("spend_usd_7d")).alias("cluster_spend_7d"),
        exact_sum(F.col(f"spend_usd{w}")).alias(f"cluster_spend{w}"),
        F.sum(f"requests{w}").alias(f"cluster_requests{w}"),
        F.avg(F.col("new_account").cast("double")).alias("cluster_new_account_share"),
        (F.sum(f"proxy_requests{w}") / F.sum(f"requests{w}")).alias("cluster_proxy_share"),
        F.avg(F.col("kyc_tier").isin("none", "basic").cast("double")).alias("cluster_unverified_share"),
        F.sum(partner_hit.cast("int")).alias("cluster_partner_hit_accounts"),
    )
    overlap = (
        members.where(F.col("template").isNotNull())
        .groupBy("feature_date", "cluster_id", "template")
        .count()
        .groupBy("feature_date", "cluster_id")
        .agg(F.max("count").alias("top_template_members"))
    )
    return (
        members.select(
            *keys, "cluster_id", F.coalesce("link_types", F.array().cast("array<string>")).alias("link_types")
        )
        .join(per_cluster, ["feature_date", "cluster_id"])
        .join(overlap, ["feature_date", "cluster_id"], "left")
        .select(
            "feature_date",
            "account_id",
            "cluster_id",
            "link_types",
            "cluster_size",
            "cluster_spend_7d",
            f"cluster_spend{w}",
            f"cluster_requests{w}",
            "cluster_new_account_share",
            "cluster_proxy_share",
            "cluster_unverified_share",
            "cluster_partner_hit_accounts",
            (F.coalesce("top_template_members", F.lit(0)) / F.col("cluster_size")).alias("cluster_template_overlap"),
        )
    )


KEYED_WEAK_TYPES = ("ip_prefix", "user_agent", "org")
"""The weak types ``weak_keys`` lists; sketch buckets are counted with the sketch features."""
WEAK_TYPES = (*KEYED_WEAK_TYPES, "sketch")


def weak_keys(
    keys_daily: DataFrame,
    accounts: DataFrame,
    rolling_day: DataFrame,
    day: date,
    settings: FeatureSettings = FEATURES,
) -> DataFrame:
    """(account_id, key_type, *KEY_ID) weak keys of the active accounts over the longest
    window: IP prefixes, user agents (of prompted requests) and organisations.

    Only which keys an account held matters here, not how often: the window's daily rows
    are reduced to distinct keys, never summed."""
    return weak_keys_dates(keys_daily, dated(accounts, day), dated(rolling_day, day), [day], settings).drop(
        "feature_date"
    )


def weak_keys_dates(
    keys_daily: DataFrame,
    accounts: DataFrame,
    rolling: DataFrame,
    days: list[date],
    settings: FeatureSettings = FEATURES,
) -> DataFrame:
    """(feature_date, account_id, key_type, *KEY_ID): ``weak_keys`` of each date of ``days``
    (``accounts`` and ``rolling`` carry the date), each key under its ``key_id``.

    An account holds a key in a window if it held it on any of the window's days, so the
    daily rows are reduced in one grouping per (account, key) to the batch dates whose
    windows hold one of its days: a key held every day of 28 is one row, not 28. User agents
    are their own daily key rows (``account_keys``); keys are grouped under their ids, 16
    bytes whatever the length of the string."""
    longest = max(settings.windows)
    held = keys_daily.where(inside(days, longest) & F.col("key_type").isin("ip_prefix", "user_agent")).select(
        "feature_date", "account_id", "key_type", *key_id("key")
    )
    ends = held.groupBy("account_id", "key_type", *KEY_ID).agg(
        F.array(*[F.max(F.when(inside([day], longest), F.lit(day))) for day in days]).alias("ends")
    )
    window = ends.select(F.explode("ends").alias("feature_date"), "account_id", "key_type", *KEY_ID).where(
        F.col("feature_date").isNotNull()
    )
    orgs = accounts.where(F.col("org_id").isNotNull()).select(
        "feature_date", "account_id", F.lit("org").alias("key_type"), *key_id(F.col("org_id"))
    )
    return (
        window.unionByName(orgs)
        .join(rolling.select("feature_date", "account_id"), ["feature_date", "account_id"])
        .distinct()
    )


def weak_link_features(ids: DataFrame, keys: DataFrame, by: tuple[str, ...] = ()) -> DataFrame:
    """Per account and weak key type: over its keys of that type, the most members of its own
    strong cluster sharing one (``weak_<type>_cluster_peers``) and the most accounts outside
    the cluster sharing one (``weak_<type>_outside_accounts``). No pairs are formed: a
    carrier prefix held by 5,000 accounts costs two group-bys, not 25 million pairs. A key
    only one account holds gives 0 on both sides, the value of an account without keys, so
    it is dropped before the join back.
    With ``by`` (a batch's ``feature_date``) keys and clusters are those of each date. A key
    is whatever columns of ``keys`` follow its type (a string, or ``weak_keys``' ids)."""
    key = [*by, "key_type", *(c for c in keys.columns if c not in (*by, "account_id", "key_type"))]
    held = keys.join(ids, [*by, "account_id"])
    per_cluster = held.groupBy(*key, "cluster_id").agg(F.count("*").alias("members"))
    per_key = per_cluster.groupBy(*key).agg(F.sum("members").alias("holders")).where(F.col("holders") > 1)
    rows = held.join(per_cluster.join(per_key, key), [*key, "cluster_id"])
    pivoted = rows.groupBy(*by, "account_id").agg(
        *[
            agg
            for t in KEYED_WEAK_TYPES
            for agg in (
                F.max(F.when(F.col("key_type") == t, F.col("members") - 1)).alias(f"weak_{t}_cluster_peers"),
                F.max(F.when(F.col("key_type") == t, F.col("holders") - F.col("members"))).alias(
                    f"weak_{t}_outside_accounts"
                ),
            )
        ]
    )
    return (
        ids.select(*by, "account_id")
        .join(pivoted, [*by, "account_id"], "left")
        .select(
            *by,
            "account_id",
            *[
                F.coalesce(F.col(c), F.lit(0)).alias(c)
                for t in KEYED_WEAK_TYPES
                for c in (f"weak_{t}_cluster_peers", f"weak_{t}_outside_accounts")
            ],
        )
    )


LINK_FEATURES: tuple[str, ...] = (
    "replay_refs_sent_28d",
    "replay_foreign_refs_28d",
    "replay_foreign_share_28d",
    "replay_sources_28d",
    "replay_replayers_28d",
    "sketch_requests_28d",
    "sketch_top_bucket_share_28d",
    "sketch_distinct_buckets_28d",
    "sketch_top_bucket_other_accounts_28d",
    "sketch_popular_share_28d",
    "lockstep_peers_7d",
    "lockstep_max_jaccard_7d",
    "lineage_strong_accounts",
    "lineage_weak_accounts",
    "lineage_days_since_decision",
    "cluster_lineage_share",
    *(f"weak_{t}_{side}" for t in WEAK_TYPES for side in ("cluster_peers", "outside_accounts")),
)
"""Model inputs from the link families, as named in account_clusters (added to FEATURE_COLUMNS)."""
_COUNTS = (
    "replay_refs_sent_28d",
    "replay_foreign_refs_28d",
    "replay_sources_28d",
    "replay_replayers_28d",
    "sketch_requests_28d",
    "lockstep_peers_7d",
    "lineage_strong_accounts",
    "lineage_weak_accounts",
    *SKETCH_WEAK_COLUMNS,
)


def account_clusters(
    clusters: DataFrame,
    replay: DataFrame,
    sketches: DataFrame,
    lockstep: DataFrame,
    lineage: DataFrame,
    weak: DataFrame,
    by: tuple[str, ...] = (),
) -> DataFrame:
    """The account_clusters rows: cluster features plus every link family, one row per account
    (and ``by``: every family then carries the batch's ``feature_date``); counts are 0 for
    accounts a family never saw, rates and days stay null (unknown). The sketch family's
    weak-link columns go with the other weak types (the table's column order)."""
    joined = clusters
    for family in (replay, sketches, lockstep, lineage, weak):
        joined = joined.join(family, [*by, "account_id"], "left")
    linked = (F.col("lineage_strong_accounts") + F.col("lineage_weak_accounts")) > 0
    joined = joined.select(
        "account_id",
        *[
            F.coalesce(F.col(c), F.lit(0)).alias(c) if c in _COUNTS else F.col(c)
            for c in [c for c in joined.columns if c not in SKETCH_WEAK_COLUMNS] + list(SKETCH_WEAK_COLUMNS)
            if c != "account_id"
        ],
    )
    share = Window.partitionBy(*by, "cluster_id")
    return joined.withColumn("cluster_lineage_share", F.avg(linked.cast("double")).over(share))
