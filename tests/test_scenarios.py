"""The demo scenario does not give the answer away (issue 9): overlapping properties, shared
infrastructure, hard negatives and evasive campaigns, measured on what the generator emits.

The demo scale is generated once in memory (no files, no delivery faults: the same request
rows the landing zone holds); allow-list and truth files are checked in test_generate.py.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from distillguard.synthetic import audit
from distillguard.synthetic.population import PLANS
from distillguard.synthetic.scenario import (
    ARCHETYPE_INDEX,
    ARCHETYPES,
    ATTACK_TYPES,
    KYC_SPEND_THRESHOLD_USD_MONTH,
    MODELS,
    NEW_MODEL,
)

START = date(2026, 11, 1)
DAY_MS = 86_400_000
SCRIPTS = {
    "han": r"[\u4e00-\u9fff]",
    "cyrillic": r"[\u0400-\u04ff]",
    "arabic": r"[\u0600-\u06ff]",
    "devanagari": r"[\u0900-\u097f]",
    "hangul": r"[\uac00-\ud7af]",
    "kana": r"[\u3040-\u30ff]",
}


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo() -> audit.Generated:
    return audit.requests_from_generator("demo", START, 28, 7)


@pytest.fixture(scope="module")
def properties(demo: audit.Generated) -> pd.DataFrame:
    values = audit.account_properties(demo.requests, demo.accounts)
    return values.join(demo.truth.set_index("account_id")[["archetype", "is_attack"]], how="inner")


def _rows(demo: audit.Generated, archetype: str) -> pd.DataFrame:
    accounts = demo.truth.loc[demo.truth.archetype == archetype, "account_id"]
    return demo.requests[demo.requests.account_id.isin(accounts)]


def test_no_artifact_property_separates_attack_from_benign(demo: audit.Generated, properties: pd.DataFrame) -> None:
    table = audit.auc_table(properties.drop(columns=["is_attack", "archetype"]), demo.truth, audit.ARTIFACT_PROPERTIES)
    assert len(table) == 13 and table["accounts"].min() > 1_000
    assert table.set_index("property")["separation"].max() < 0.9, table.to_string()


@pytest.mark.parametrize(
    "name, condition",
    [
        ("tools", lambda p: p.tools_share > 0.2),
        ("temperature 0", lambda p: p.temp_zero_share > 0.5),
        ("batch", lambda p: p.batch_share > 0.3),
        ("foreign exits", lambda p: p.foreign_country_share > 0.5),
        ("many prefixes", lambda p: p.distinct_ip_prefixes >= 20),
        ("new account", lambda p: p.account_age_days < 30),
        ("verified", lambda p: p.verified == 1),
        ("heavy unverified", lambda p: p.heavy_unverified == 1),
        ("zero data retention", lambda p: p.zero_data_retention == 1),
        ("in an org", lambda p: p.in_org == 1),
        ("shared payment", lambda p: p.accounts_sharing_payment >= 2),
        ("scheduler timing", lambda p: p.interarrival_cv < 0.3),
        ("human timing", lambda p: p.interarrival_cv > 0.8),
    ],
)
def test_each_former_artifact_occurs_on_both_sides(properties: pd.DataFrame, name: str, condition) -> None:
    """At least one benign population and one campaign type carry it; neither side always does."""
    hit = condition(properties)
    by_population = hit.groupby(properties.archetype).mean()
    attack = by_population.index.isin(ATTACK_TYPES)
    assert (by_population[attack] >= 0.2).any() and (by_population[~attack] >= 0.2).any(), by_population
    for side in (True, False):
        share = hit[properties.is_attack == side].mean()
        assert 0.01 <= share <= 0.95, (name, side, share)


def test_strangers_share_infrastructure(demo: audit.Generated) -> None:
    requests = demo.requests.merge(demo.truth[["account_id", "is_attack", "archetype"]], on="account_id")
    requests = requests.assign(prefix=audit._prefix(requests.client_ip)).dropna(subset=["prefix"])
    accounts = requests.groupby("prefix")["account_id"].nunique()
    mixed = requests.groupby("prefix")["is_attack"].agg(["min", "max"])
    assert accounts.max() >= 50  # a university NAT or a carrier's CGNAT prefix
    assert int(((mixed["min"] == 0) & (mixed["max"] == 1)).sum()) >= 100
    # Residential proxies exit from the same residential networks home users sit in.
    residential = requests[requests.asn_kind == "residential"]
    home_asns = set(residential.loc[residential.archetype == "dev", "asn"])
    proxied = residential[residential.archetype == "proxy_hydra"]
    assert proxied.asn.isin(home_asns).mean() > 0.75
    # Cloud ranges host many tenants, attack and benign.
    hosting = requests[requests.asn_kind == "hosting"].groupby("asn")["is_attack"].agg(["min", "max", "size"])
    assert ((hosting["min"] == 0) & (hosting["max"] == 1)).sum() >= 10


def test_common_prompts_are_sent_by_thousands_of_strangers(demo: audit.Generated) -> None:
    sent = demo.requests.dropna(subset=["prompt_text"]).merge(demo.truth[["account_id", "is_attack"]], on="account_id")
    by_text = sent.groupby("prompt_text", observed=True).agg(
        accounts=("account_id", "nunique"), attack=("is_attack", "max"), benign=("is_attack", "min")
    )
    popular = by_text[(by_text.accounts >= 1_000) & by_text.attack & ~by_text.benign]
    assert len(popular) >= 3, by_text.sort_values("accounts").tail(5)


def test_attack_prompts_vary_beyond_a_template(demo: audit.Generated) -> None:
    """Masking numbers and quoted spans, no template covers more than 2% of attack prompts."""
    attack = demo.truth.loc[demo.truth.is_attack, "account_id"]
    texts = demo.requests.loc[demo.requests.account_id.isin(attack), "prompt_text"].dropna().astype(str)
    masked = texts.str.replace(r'"[^"]*"|\d+', "#", regex=True)
    shares = masked.value_counts(normalize=True)
    long_ones = shares[shares.index.str.len() > 40]
    assert long_ones.iloc[0] < 0.02 and texts.nunique() > 0.5 * len(texts)


def test_multilingual_campaign_writes_in_at_least_four_scripts(demo: audit.Generated) -> None:
    texts = _rows(demo, "multilingual_cot")["prompt_text"].dropna().astype(str)
    shares = {name: texts.str.contains(pattern).mean() for name, pattern in SCRIPTS.items()}
    assert sum(share >= 0.03 for share in shares.values()) >= 4, shares
    tutoring = _rows(demo, "tutoring_app")["prompt_text"].dropna().astype(str)
    assert sum(tutoring.str.contains(p).mean() >= 0.01 for p in SCRIPTS.values()) >= 3


def test_pivot_to_the_new_model_within_a_day(demo: audit.Generated) -> None:
    new = demo.requests[demo.requests.model == MODELS[NEW_MODEL]]
    first = new.ts_ms.min()
    assert first >= demo.requests.ts_ms.min() + 5 * DAY_MS  # appears mid-window
    pivot = new.merge(demo.truth, on="account_id").groupby("archetype")["ts_ms"]
    adopters = new.merge(demo.truth, on="account_id")
    first_use = adopters.groupby(["archetype", "account_id"])["ts_ms"].min() - first
    pivoting = first_use.loc["model_pivot"]
    assert len(pivoting) >= 10 and (pivoting < DAY_MS).mean() >= 0.8
    campaigns = adopters[adopters.archetype == "model_pivot"].groupby("campaign_id")["ts_ms"].min() - first
    assert len(campaigns) == 3 and (campaigns < DAY_MS).all()
    # A hard negative does the same: benchmark harnesses evaluate a new model on its first day.
    assert (first_use.loc["eval_harness"] < DAY_MS).mean() >= 0.3
    assert pivot.size().loc["dev"] > 0


def test_banned_accounts_stop_and_replacements_reuse_their_resources(demo: audit.Generated) -> None:
    pop = demo.population
    last_ms = demo.requests.groupby("account_id")["ts_ms"].max()
    first_ms = demo.requests.groupby("account_id")["ts_ms"].min()
    start_ms = pd.Timestamp(START, tz="UTC").value // 1_000_000
    replaced = 0
    for incident in (i for i in pop.incidents if i.label == "distillation"):
        named = pop.account_id[incident.accounts]
        assert (last_ms.reindex(named).dropna() < start_ms + (incident.decided + 1) * DAY_MS).all()
        campaign = pop.campaign[incident.accounts[0]]
        fresh = np.flatnonzero((pop.campaign == campaign) & pop.replacement & (pop.active_from > incident.decided))
        if fresh.size == 0:
            continue
        replaced += fresh.size
        arrival = (first_ms.reindex(pop.account_id[fresh]).dropna() - start_ms) // DAY_MS
        assert (arrival >= incident.decided + 1).all() and arrival.median() <= incident.decided + 4
        banned = incident.accounts
        assert np.isin(pop.payment[fresh], pop.payment[banned]).any()
        assert np.isin(pop.prefix_start[fresh], pop.prefix_start[banned]).any()
        assert np.isin(pop.system_prompt[fresh][pop.system_prompt[fresh] >= 0], pop.system_prompt[banned]).any()
    assert replaced >= 10


def test_residential_proxy_rotation_sends_a_request_or_two_per_address(demo: audit.Generated) -> None:
    rows = _rows(demo, "proxy_hydra")
    rows = rows[rows.asn_kind == "residential"]
    per_address = rows.groupby(["account_id", "client_ip"]).size()
    assert len(rows) > 10_000 and per_address.median() <= 2


def test_zero_data_retention_harvest_leaves_metadata_only(demo: audit.Generated) -> None:
    rows = _rows(demo, "zdr_harvest")
    assert len(rows) > 1_000 and rows.prompt_text.isna().all() and rows.model.str.endswith("reasoning").mean() > 0.4


def test_spend_pacing_stays_under_the_kyc_threshold(properties: pd.DataFrame) -> None:
    pacing = properties[properties.archetype == "spend_pacing"]
    monthly = pacing.spend_per_active_day * 30
    assert len(pacing) >= 5 and monthly.max() < KYC_SPEND_THRESHOLD_USD_MONTH
    assert monthly.median() > 0.3 * KYC_SPEND_THRESHOLD_USD_MONTH


def test_campaigns_spread_over_many_small_organisations_or_hide_in_big_ones(demo: audit.Generated) -> None:
    pop = demo.population
    spread = pop.archetype == ARCHETYPE_INDEX["org_spread"]
    for campaign in np.unique(pop.campaign[spread]):
        orgs = pop.org[pop.campaign == campaign]
        assert len(np.unique(orgs)) >= 3 and np.bincount(orgs - orgs.min()).max() <= 3
    hidden = np.flatnonzero(pop.archetype == ARCHETYPE_INDEX["inside_org"])
    for org in np.unique(pop.org[hidden]):
        members = pop.org == org
        assert org >= 0 and (members & (pop.campaign < 0)).sum() >= 2


def test_reasoning_replay_sends_blocks_issued_to_other_accounts(demo: audit.Generated) -> None:
    issued = demo.requests.dropna(subset=["reasoning_ref_issued"]).set_index("reasoning_ref_issued")["account_id"]
    sent = demo.requests.dropna(subset=["ref_sent"]).merge(demo.truth[["account_id", "archetype"]], on="account_id")
    owner = sent.ref_sent.map(issued)
    assert owner.notna().all()
    replayed = (owner != sent.account_id).groupby(sent.archetype).mean()
    assert replayed["reasoning_replay"] >= 0.5
    assert 0 < replayed["coding_agent"] < 0.5  # a hard negative: one agent hands a conversation to another
    assert replayed["dev"] == 0


def test_key_rotation_and_behaviour_shift(demo: audit.Generated, properties: pd.DataFrame) -> None:
    rotating = properties[properties.archetype == "key_rotation"]
    assert (rotating.distinct_api_keys >= rotating.active_days).all()
    rows = _rows(demo, "behaviour_shift").merge(demo.truth[["account_id"]], on="account_id")
    shift = pd.Series(demo.population.shift_day, index=demo.population.account_id)
    day = (rows.ts_ms - rows.ts_ms.min()) // DAY_MS
    after = day.to_numpy() >= shift.reindex(rows.account_id).to_numpy()
    reasoning = rows.model.str.endswith("reasoning").to_numpy()
    assert reasoning[after].mean() - reasoning[~after].mean() >= 0.3


def test_incidents_are_decided_days_after_the_behaviour(demo: audit.Generated) -> None:
    incidents = demo.population.incidents
    attack = [i for i in incidents if i.label == "distillation" and i.decided < 28]
    assert len({ARCHETYPES[demo.population.archetype[i.accounts[0]]].name for i in attack}) >= 10
    assert all(i.decided > i.window_end >= i.window_start for i in incidents)
    assert np.median([i.decided - i.window_start for i in attack]) >= 3
    cleared = {ARCHETYPES[demo.population.archetype[i.accounts[0]]].name for i in incidents if i.label == "benign"}
    assert len(cleared & {a.name for a in ARCHETYPES if a.kind == "hard_negative"}) >= 6


def test_hard_negatives_look_like_campaigns(properties: pd.DataFrame) -> None:
    mean = properties.groupby("archetype").mean(numeric_only=True)
    assert mean.loc["eval_harness", "temp_zero_share"] < 0.5
    assert mean.loc["eval_harness", "mean_completion_tokens"] > mean.loc["proxy_hydra", "mean_completion_tokens"]
    assert mean.loc["translation_service", "length_finish_share"] > 0.25
    assert mean.loc["coding_agent", "tools_share"] > 0.3
    assert mean.loc["reseller", "distinct_ip_prefixes"] > 100 and mean.loc["reseller", "distinct_user_agents"] >= 8
    assert mean.loc["zdr_enterprise", "zero_data_retention"] == 1 and mean.loc["zdr_enterprise", "requests"] > 1_000
    assert mean.loc["startup_scaling", "account_age_days"] < 60
    assert mean.loc["synthetic_vendor", "reasoning_model_share"] > mean.loc["proxy_hydra", "reasoning_model_share"]


def test_free_plan_without_org_has_no_payment(demo: audit.Generated) -> None:
    pop = demo.population
    assert ((pop.payment < 0) == ((pop.plan == PLANS.index("free")) & (pop.org < 0))).all()
