"""Ban-evasion lineage: links from accounts active on D to accounts already banned.

Banned means: in an incident labelled ``distillation`` decided strictly before D (a label
is unknown until its ``decided_on``). Replacement accounts reuse what the banned ones had:

* strong: the same payment fingerprint (snapshot of D; a payment shared by more than
  ``payment_max_accounts`` accounts is a reseller or gift-card hub and links nobody), or
  reasoning blocks replayed between the two accounts (either way) in the lookback;
* weak: the same organisation, an IP prefix outside shared ranges (at most
  ``ip_prefix_max_accounts`` accounts in the lookback), the same template + user agent +
  system-prompt digest (at most ``template_max_accounts``). Weak links are counted, never
  merged on. No template-sketch link: on the demo's day 28 a sketch bucket under the hub cap
  was shared with some banned account for 85-100% of the active accounts of every benign
  population (median 22-450 banned accounts each, growing with the account's volume), so
  it measured volume, not lineage, and cost ~5 s a day.

Keys of banned accounts are read from the ``lineage_lookback_days`` days up to D. Strong
lineage also yields component edges (account, ``lineage``, incident id), so replacements of
one banned cluster join one component even when the banned accounts are gone.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillguard.config import FEATURES, FeatureSettings
from distillguard.features.windows import dated, inside, windowed

POSITIVE = "distillation"
STRONG, WEAK = "strong", "weak"


def banned_as_of(incidents: DataFrame, day: date) -> DataFrame:
    """(banned_id, incident_id, decided_on): distillation verdicts known before ``day``."""
    return banned_dates(incidents, [day]).drop("feature_date")


def banned_dates(incidents: DataFrame, days: list[date]) -> DataFrame:
    """(feature_date, banned_id, incident_id, decided_on): ``banned_as_of`` of each date of ``days``."""
    ends = F.explode(F.array(*[F.lit(d) for d in sorted(set(days))]))
    return (
        incidents.where(F.col("label") == POSITIVE)
        .select(ends.alias("feature_date"), F.col("account_id").alias("banned_id"), "incident_id", "decided_on")
        .where(F.col("decided_on") < F.col("feature_date"))
    )


def _shared(keys: DataFrame, link_type: str, banned_ids: DataFrame, cap: int | None) -> DataFrame:
    """(feature_date, account_id, banned_id, link_type): holders of a key (``keys`` is
    (feature_date, account_id, key)) that an account banned by that date holds too, for keys
    held by at most ``cap`` accounts that date (any number when ``cap`` is None).

    The banned accounts' keys are found first (a few hundred accounts), so holders are
    counted and capped only for those keys, not for every key of every account."""
    keys = keys.where(F.col("key").isNotNull())
    banned_keys = (
        keys.join(F.broadcast(banned_ids), ["feature_date", "account_id"])
        .select("feature_date", F.col("account_id").alias("banned_id"), "key")
        .distinct()
    )
    holders = keys.join(banned_keys.select("feature_date", "key").distinct(), ["feature_date", "key"], "left_semi")
    holders = holders.select("feature_date", "account_id", "key").distinct()
    if cap is not None:
        counts = holders.groupBy("feature_date", "key").agg(F.count("*").alias("holders"))
        holders = holders.join(counts.where(F.col("holders") <= cap), ["feature_date", "key"], "left_semi")
    return holders.join(banned_keys, ["feature_date", "key"]).select(
        "feature_date", "account_id", "banned_id", F.lit(link_type).alias("link_type")
    )


def lineage_links(
    banned: DataFrame,
    accounts: DataFrame,
    keys_daily: DataFrame,
    replay_daily: DataFrame,
    day: date,
    settings: FeatureSettings = FEATURES,
) -> DataFrame:
    """(account_id, banned_id, incident_id, decided_on, strength, link_type) for every link."""
    return lineage_links_dates(
        dated(banned, day), dated(accounts, day), keys_daily, replay_daily, [day], settings
    ).drop("feature_date")


def lineage_links_dates(
    banned: DataFrame,
    accounts: DataFrame,
    keys_daily: DataFrame,
    replay_daily: DataFrame,
    days: list[date],
    settings: FeatureSettings = FEATURES,
) -> DataFrame:
    """``lineage_links`` of each date of ``days``: ``banned`` (``banned_dates``) and
    ``accounts`` (each date's snapshot) carry the date as ``feature_date``; each date reads
    the keys and replays of its own ``lineage_lookback_days``.

    Only key rows whose key some account banned by the last date held in the batch's
    lookback can link anyone, so the others are dropped before they are attached to dates."""
    lookback = settings.lineage_lookback_days
    banned_ids = banned.select("feature_date", F.col("banned_id").alias("account_id")).distinct()
    ever_banned = banned.select(F.col("banned_id").alias("account_id")).distinct()
    keyed = keys_daily.where(inside(days, lookback) & F.col("key_type").isin("ip_prefix", "ua_template"))
    candidates = keyed.join(F.broadcast(ever_banned), "account_id").select("key_type", "key").distinct()
    keyed = windowed(
        keyed.join(candidates, ["key_type", "key"], "left_semi").select(
            "feature_date", "account_id", "key_type", "key"
        ),
        days,
        lookback,
    )

    def key_type(name: str) -> DataFrame:
        return keyed.where(F.col("key_type") == name).select("feature_date", "account_id", "key")

    def snapshot(column: str) -> DataFrame:
        return accounts.select("feature_date", "account_id", F.col(column).alias("key"))

    shared = (
        _shared(snapshot("payment_fingerprint"), "payment", banned_ids, settings.payment_max_accounts)
        .unionByName(_shared(snapshot("org_id"), "org", banned_ids, None))
        .unionByName(_shared(key_type("ip_prefix"), "ip_prefix", banned_ids, settings.ip_prefix_max_accounts))
        .unionByName(_shared(key_type("ua_template"), "ua_template", banned_ids, settings.template_max_accounts))
    )
    replays = windowed(
        replay_daily.where(F.col("source_account_id").isNotNull()).select(
            "feature_date", "account_id", "source_account_id"
        ),
        days,
        lookback,
    )
    replayed = (
        replays.select("feature_date", "account_id", F.col("source_account_id").alias("other"))
        .unionByName(
            replays.select(
                "feature_date", F.col("source_account_id").alias("account_id"), F.col("account_id").alias("other")
            )
        )
        .join(F.broadcast(banned_ids.withColumnRenamed("account_id", "other")), ["feature_date", "other"])
        .select("feature_date", "account_id", F.col("other").alias("banned_id"), F.lit("replay").alias("link_type"))
    )
    strength = F.when(F.col("link_type").isin("payment", "replay"), STRONG).otherwise(WEAK)
    return (
        shared.unionByName(replayed)
        .distinct()
        .where(F.col("account_id") != F.col("banned_id"))
        .join(banned, ["feature_date", "banned_id"])
        .select(
            "feature_date",
            "account_id",
            "banned_id",
            "incident_id",
            "decided_on",
            strength.alias("strength"),
            "link_type",
        )
    )


def lineage_edges(links: DataFrame, by: tuple[str, ...] = ()) -> DataFrame:
    """Strong lineage as component edges: (account_id, 'lineage', incident_id), per ``by``."""
    return (
        links.where(F.col("strength") == STRONG)
        .select(*by, "account_id", F.lit("lineage").alias("key_type"), F.col("incident_id").alias("key"))
        .distinct()
    )


def lineage_features(links: DataFrame, day: date) -> DataFrame:
    """Per linked account: banned accounts linked strongly / weakly, days since the latest verdict."""
    return lineage_features_dates(dated(links, day)).drop("feature_date")


def lineage_features_dates(links: DataFrame) -> DataFrame:
    """``lineage_features`` per ``feature_date`` of ``links`` (``lineage_links_dates``)."""
    return links.groupBy("feature_date", "account_id").agg(
        F.count_distinct(F.when(F.col("strength") == STRONG, F.col("banned_id"))).alias("lineage_strong_accounts"),
        F.count_distinct(F.when(F.col("strength") == WEAK, F.col("banned_id"))).alias("lineage_weak_accounts"),
        F.min(F.datediff(F.col("feature_date"), F.col("decided_on"))).alias("lineage_days_since_decision"),
    )
