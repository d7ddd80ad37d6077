"""The window step's cheaper formulations, on both engines: lineage caps counted only for the
banned accounts' keys, weak keys as distinct keys of the window, user agents from the template keys
(hand-computed values)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pyspark.sql import SparkSession

from distillguard.config import FEATURES
from distillguard.features.clusters import KEY_ID, account_keys, key_id, user_agent_keys, weak_keys
from distillguard.features.lineage import banned_as_of, lineage_links
from tests.rows import DAY

KEYS_DAILY = "feature_date date, account_id string, key_type string, key string, requests long"
FP = "0123456789abcdef" * 4


def test_lineage_payment_cap_counts_holders_that_are_not_banned(engine: SparkSession) -> None:
    settings = replace(FEATURES, payment_max_accounts=2)
    incidents = engine.createDataFrame(
        [("i1", "b1", "distillation", DAY - timedelta(days=1))],
        "incident_id string, account_id string, label string, decided_on date",
    )
    accounts = engine.createDataFrame(
        [("b1", "p1", None), ("n1", "p1", None), ("b1x", "p2", None), ("n2", "p2", None), ("n3", "p2", None)],
        "account_id string, payment_fingerprint string, org_id string",
    )
    accounts = accounts.unionByName(
        engine.createDataFrame([("b1", "p2", None)], "account_id string, payment_fingerprint string, org_id string")
    )
    links = lineage_links(
        banned_as_of(incidents, DAY),
        accounts,
        engine.createDataFrame([], KEYS_DAILY),
        engine.createDataFrame([], "feature_date date, account_id string, source_account_id string, refs long"),
        DAY,
        settings,
    )
    # p1: b1 and n1 (2 <= cap) links n1 strongly; p2: b1x, n2, n3, b1 (4 > cap) links nobody.
    assert [(r.account_id, r.banned_id, r.strength, r.link_type) for r in links.collect()] == [
        ("n1", "b1", "strong", "payment")
    ]


def test_weak_keys_are_the_distinct_keys_of_active_accounts_in_the_window(engine: SparkSession) -> None:
    keys_daily = engine.createDataFrame(
        [
            (DAY, "a1", "user_agent", "curl/8", 5),
            (DAY - timedelta(days=1), "a1", "user_agent", "curl/8", 7),
            (DAY, "a1", "ua_template", f"{FP}|wget/1|-", 5),  # weak keys read the user-agent rows only
            (DAY - timedelta(days=28), "a2", "user_agent", "wget/1", 1),  # outside the 28-day window
            (DAY, "a1", "ip_prefix", "10.0.0.0/24", 1),
            (DAY - timedelta(days=3), "a1", "ip_prefix", "10.0.0.0/24", 2),
            (DAY - timedelta(days=28), "a1", "ip_prefix", "10.9.0.0/24", 4),  # outside the 28-day window
            (DAY + timedelta(days=1), "a1", "ip_prefix", "10.8.0.0/24", 4),  # after the day
            (DAY, "a9", "ip_prefix", "10.0.0.0/24", 3),  # not active on the day
        ],
        KEYS_DAILY,
    )
    accounts = engine.createDataFrame([("a1", "o1"), ("a2", "o1"), ("a9", "o1")], "account_id string, org_id string")
    rolling_day = engine.createDataFrame([("a1",), ("a2",)], "account_id string")
    names = engine.createDataFrame([(n,) for n in ("10.0.0.0/24", "o1", "curl/8", "wget/1")], "name string")
    named = weak_keys(keys_daily, accounts, rolling_day, DAY).join(names.select("name", *key_id("name")), list(KEY_ID))
    got = sorted(tuple(r) for r in named.select("account_id", "key_type", "name").collect())
    assert got == [
        ("a1", "ip_prefix", "10.0.0.0/24"),
        ("a1", "org", "o1"),
        ("a1", "user_agent", "curl/8"),
        ("a2", "org", "o1"),
    ]


def test_user_agent_keys_sum_each_user_agents_template_rows(engine: SparkSession) -> None:
    other = "fedcba9876543210" * 4
    keys = engine.createDataFrame(
        [
            (DAY, "a1", "ua_template", f"{FP}|curl/8|-", 5),
            (DAY, "a1", "ua_template", f"{other}|curl/8|{FP}", 7),
            (DAY, "a1", "ua_template", f"{FP}|app|v2 (x)|-", 2),  # a user agent holding the separator
            (DAY - timedelta(days=1), "a1", "ua_template", f"{FP}|curl/8|-", 1),
            (DAY, "a2", "ua_template", f"{FP}|curl/8|-", 3),
            (DAY, "a2", "ip_prefix", "10.0.0.0/24", 9),
        ],
        KEYS_DAILY,
    )
    assert sorted(tuple(r) for r in user_agent_keys(keys).collect()) == [
        (DAY - timedelta(days=1), "a1", "user_agent", "curl/8", 1),
        (DAY, "a1", "user_agent", "app|v2 (x)", 2),
        (DAY, "a1", "user_agent", "curl/8", 12),
        (DAY, "a2", "user_agent", "curl/8", 3),
    ]


def test_account_keys_count_user_agents_of_prompted_requests_as_their_templates_give_them(
    engine: SparkSession,
) -> None:
    other = "fedcba9876543210" * 4
    signals = engine.createDataFrame(
        [
            ("a1", "10.0.0.0/24", FP, "curl/8", None),
            ("a1", "10.0.0.0/24", FP, "curl/8", None),
            ("a1", "10.0.1.0/24", other, "curl/8", FP),
            ("a1", "10.0.1.0/24", FP, "app|v2", None),
            ("a1", None, None, "wget/1", None),  # no prompt text: no template, no user-agent key
            ("a2", "10.0.0.0/24", FP, None, None),  # no user agent
        ],
        "account_id string, ip_prefix string, template_fp string, user_agent string, system_prompt_sha256 string",
    )
    keys = account_keys(signals, DAY)
    assert sorted(tuple(r) for r in keys.collect()) == [
        (DAY, "a1", "ip_prefix", "10.0.0.0/24", 2),
        (DAY, "a1", "ip_prefix", "10.0.1.0/24", 2),
        (DAY, "a1", "ua_template", f"{FP}|app|v2|-", 1),
        (DAY, "a1", "ua_template", f"{FP}|curl/8|-", 2),
        (DAY, "a1", "ua_template", f"{other}|curl/8|{FP}", 1),
        (DAY, "a1", "user_agent", "app|v2", 1),
        (DAY, "a1", "user_agent", "curl/8", 3),
        (DAY, "a2", "ip_prefix", "10.0.0.0/24", 1),
    ]
    written = keys.where("key_type = 'user_agent'")
    assert sorted(tuple(r) for r in user_agent_keys(keys).collect()) == sorted(tuple(r) for r in written.collect())
