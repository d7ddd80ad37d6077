"""The accounts of the synthetic world and their per-account behaviour, as NumPy columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.synthetic.prompts import FAMILIES, FAMILY_INDEX
from distillguard.synthetic.scenario import (ARCHETYPES, ARCHETYPE_INDEX, COUNTRIES, HOUR_PROFILES,
                                             PREFIX_POOLS, USER_AGENTS, Scale)

KYC_TIERS = ("none", "basic", "verified", "enterprise")
PLANS = ("free", "payg", "scale", "enterprise")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "proton.me", "yahoo.com", "company.example",
                 "university.example", "startup.example", "mailbox.example")
HOUR_NAMES = tuple(HOUR_PROFILES)
PROXY_SERVICE_SIZE = 50
PAYMENT_SALT = 0x5EED


@dataclass
class Population:
    """One row per account (index = position); campaign -1 means benign."""

    account_id: np.ndarray
    archetype: np.ndarray
    campaign: np.ndarray
    created_day: np.ndarray
    created_second: np.ndarray
    active_from: np.ndarray
    daily_rate: np.ndarray
    active_share: np.ndarray
    hours: np.ndarray
    tz_offset: np.ndarray
    prefix_start: np.ndarray
    prefix_count: np.ndarray
    host: np.ndarray
    ipv6: np.ndarray
    country: np.ndarray
    billing_country: np.ndarray
    user_agent: np.ndarray
    payment: np.ndarray
    email_domain: np.ndarray
    org: np.ndarray
    kyc: np.ndarray
    plan: np.ndarray
    zdr: np.ndarray
    keys: np.ndarray
    system_prompt: np.ndarray
    variant_bias: np.ndarray
    campaign_archetype: np.ndarray
    campaign_start: np.ndarray

    def __len__(self) -> int:
        return len(self.archetype)


def _choice(rng: np.random.Generator, names: tuple[str, ...], weights: dict[str, float], n: int) -> np.ndarray:
    p = np.array([weights.get(name, 0.0) for name in names], dtype=float)
    return rng.choice(len(names), size=n, p=p / p.sum())


HEX4 = pa.array([f"{i:04x}" for i in range(1 << 16)])


def hash_hex(values: np.ndarray, salt: int) -> pa.Array:
    """16 hex digits of a splitmix64 hash of each value: opaque, stable, vectorized."""
    z = values.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    parts = [HEX4.take(pa.array(((z >> np.uint64(s)) & np.uint64(0xFFFF)).astype(np.int64)))
             for s in (48, 32, 16, 0)]
    return pc.binary_join_element_wise(*parts, "")


def build(scale: Scale, days: int, seed: int) -> Population:
    """Draw every account once per (scale, seed); days bounds campaign start days."""
    rng = np.random.default_rng([seed, 0xACC])
    archetype, campaign, camp_arch = [], [], []
    next_campaign = 0
    for name, count in scale.benign.items():
        archetype.append(np.full(count, ARCHETYPE_INDEX[name]))
        campaign.append(np.full(count, -1))
    for name, count in scale.attack.items():
        n_campaigns = max(1, min(count, scale.campaigns.get(name, count)))
        archetype.append(np.full(count, ARCHETYPE_INDEX[name]))
        campaign.append(next_campaign + np.sort(rng.integers(0, n_campaigns, count)))
        camp_arch.extend([ARCHETYPE_INDEX[name]] * n_campaigns)
        next_campaign += n_campaigns
    arch = np.concatenate(archetype)
    camp = np.concatenate(campaign)
    n = len(arch)
    n_campaigns = next_campaign
    campaign_archetype = np.array(camp_arch, dtype=np.int64)
    # Campaigns start across the first two thirds of the window (day 0 at least once).
    campaign_start = rng.integers(0, max(1, (2 * days) // 3), n_campaigns)
    if n_campaigns:
        campaign_start[0] = 0
    is_attack = camp >= 0
    camp_safe = np.where(is_attack, camp, 0)

    spec = [ARCHETYPES[a] for a in range(len(ARCHETYPES))]
    col = lambda attr: np.array([getattr(spec[a], attr) for a in range(len(spec))])  # noqa: E731
    age_lo, age_hi = (np.array([spec[a].age_days[i] for a in range(len(spec))]) for i in (0, 1))
    age = rng.integers(age_lo[arch], age_hi[arch] + 1)
    start = np.where(is_attack, campaign_start[camp_safe] if n_campaigns else 0, 0)
    created_day = start - age
    active_from = np.maximum(created_day, start)

    rate = col("rate")[arch] * rng.lognormal(0.0, col("rate_sigma")[arch])
    active_share = np.where(arch == ARCHETYPE_INDEX["dev"], rng.uniform(0.3, 0.9, n),
                            np.where(arch == ARCHETYPE_INDEX["low_and_slow"], 0.8, 0.97))
    factor = np.ones(n)
    for group, target in ((~is_attack, scale.benign_requests_per_day),
                          (is_attack, scale.attack_requests_per_day)):
        expected = float((rate * active_share)[group].sum())
        if expected > 0:
            factor[group] = target / expected
    daily_rate = rate * factor

    hours = np.array([HOUR_NAMES.index(a.hours) for a in spec])[arch]
    country = rng.integers(0, len(COUNTRIES), n)
    tz_by_country = np.array([-5, 1, 5, -3, 0, 9, 1, -5, 9, 8])
    tz_offset = np.where(is_attack, rng.integers(-8, 9, n), tz_by_country[country])
    billing = np.where(is_attack & (rng.random(n) < 0.6), rng.integers(0, len(COUNTRIES), n), country)

    pool_name = [spec[a].pool for a in range(len(spec))]
    prefix_count = col("prefixes_per_account")[arch].astype(np.int64)
    prefix_start = np.zeros(n, dtype=np.int64)
    for a, pool in enumerate(pool_name):
        rows = np.flatnonzero(arch == a)
        base, size, _ = PREFIX_POOLS[pool]
        prefix_start[rows] = base + rng.integers(0, size - prefix_count[rows] + 1)
    # Some benign developers sit behind mobile carrier NAT, a shared office, or a VPN.
    dev_rows = np.flatnonzero(arch == ARCHETYPE_INDEX["dev"])
    route = rng.random(dev_rows.size)
    for pool, lo, hi in (("mobile_cgnat", 0.0, 0.15), ("coworking_nat", 0.15, 0.2),
                         ("proxy_services", 0.2, 0.23)):
        rows = dev_rows[(route >= lo) & (route < hi)]
        base, size, _ = PREFIX_POOLS[pool]
        prefix_start[rows] = base + rng.integers(0, size, rows.size)
    # Rotating attack campaigns share one proxy service or residential proxy range.
    rotating = col("rotate_ips")[arch] & is_attack
    service = rng.integers(0, PREFIX_POOLS["proxy_services"][1] // PROXY_SERVICE_SIZE, max(1, n_campaigns))
    for a, pool in enumerate(pool_name):
        rows = np.flatnonzero(rotating & (arch == a))
        if rows.size == 0:
            continue
        base, size, _ = PREFIX_POOLS[pool]
        span = PROXY_SERVICE_SIZE if pool == "proxy_services" else 2_000
        prefix_start[rows] = base + (service[camp[rows]] * span) % (size - span)
        prefix_count[rows] = span
    host = rng.integers(2, 254, n)
    ipv6 = rng.random(n) < col("ipv6_share")[arch]

    agent = rng.integers(0, len(USER_AGENTS) - 1, n)
    campaign_agent = rng.integers(0, len(USER_AGENTS), max(1, n_campaigns))
    share_agent = is_attack & (rng.random(n) < col("shared_agent_share")[arch])
    agent = np.where(share_agent, campaign_agent[camp_safe], agent)
    agent = np.where(arch == ARCHETYPE_INDEX["enterprise"], len(USER_AGENTS) - 1, agent)

    payment = np.arange(n, dtype=np.int64) + 1_000_000
    share_payment = is_attack & (rng.random(n) < col("shared_payment_share")[arch])
    payment = np.where(share_payment, camp_safe * 10 + rng.integers(0, 5, n), payment)

    kyc = _vector_choice(rng, arch, KYC_TIERS, "kyc", spec)
    plan = _vector_choice(rng, arch, PLANS, "plan", spec)
    payment = np.where(plan == PLANS.index("free"), -1, payment)

    org = np.full(n, -1, dtype=np.int64)
    ent = np.flatnonzero((arch == ARCHETYPE_INDEX["enterprise"]) | (arch == ARCHETYPE_INDEX["zdr_business"]))
    org[ent] = rng.integers(0, max(1, ent.size // 3), ent.size)
    org_payment = org >= 0
    payment = np.where(org_payment, 5_000_000 + org, payment)
    email = np.where(is_attack, rng.choice([0, 1, 2, 7], n),
                     rng.integers(0, len(EMAIL_DOMAINS), n))
    email = np.where(org >= 0, 4, email)

    zdr = rng.random(n) < col("zdr_share")[arch]
    system_prompt = np.where(rng.random(n) < col("system_prompt_share")[arch],
                             np.where(is_attack, 1_000 + camp_safe, np.arange(n)), -1)
    variant_bias = rng.integers(0, 1 << 16, n)

    ids = rng.permutation(n) + 10_000_000
    return Population(
        account_id=_account_ids(ids),
        archetype=arch, campaign=camp, created_day=created_day,
        created_second=rng.integers(0, 86_400, n), active_from=active_from, daily_rate=daily_rate,
        active_share=active_share, hours=hours, tz_offset=tz_offset, prefix_start=prefix_start,
        prefix_count=prefix_count, host=host, ipv6=ipv6, country=country, billing_country=billing,
        user_agent=agent, payment=payment, email_domain=email, org=org, kyc=kyc, plan=plan,
        zdr=zdr, keys=col("keys")[arch], system_prompt=system_prompt, variant_bias=variant_bias,
        campaign_archetype=campaign_archetype, campaign_start=campaign_start,
    )


def _vector_choice(rng: np.random.Generator, arch: np.ndarray, names: tuple[str, ...],
                   attr: str, spec: list) -> np.ndarray:
    """Per-account categorical draw with per-archetype weights, one call per archetype."""
    out = np.zeros(len(arch), dtype=np.int64)
    for a, archetype in enumerate(spec):
        rows = np.flatnonzero(arch == a)
        if rows.size:
            out[rows] = _choice(rng, names, getattr(archetype, attr), rows.size)
    return out


def _account_ids(ids: np.ndarray) -> np.ndarray:
    digits = pc.utf8_lpad(pa.array(ids).cast(pa.string()), 9, "0")
    return pc.binary_join_element_wise("acct_", digits, "").to_numpy(zero_copy_only=False)


def family_table() -> tuple[np.ndarray, np.ndarray]:
    """Per archetype cumulative family weights (archetypes x families) for inverse-CDF draws."""
    weights = np.zeros((len(ARCHETYPES), len(FAMILIES)))
    for a, archetype in enumerate(ARCHETYPES):
        for name, w in archetype.families.items():
            weights[a, FAMILY_INDEX[name]] = w
    weights /= weights.sum(axis=1, keepdims=True)
    return np.cumsum(weights, axis=1), weights
