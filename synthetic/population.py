"""The accounts of the synthetic world, their per-account behaviour, and what the case tool decides.

Every property is drawn per account from its population's mix (see scenario.py), so no
single property tells a campaign from a benign account. Campaign dynamics live here
because they change who is active: incidents are decided days after a campaign starts,
the accounts they name are banned on that day, and ban-and-replace campaigns bring in
new accounts within days that reuse the banned accounts' cards, prefixes and prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.synthetic.prompts import FAMILY_INDEX, FAMILY_NAMES
from distillguard.synthetic.scenario import (
    ARCHETYPE_INDEX,
    ARCHETYPES,
    BENIGN_REVIEW_SHARE,
    COUNTRY_TZ,
    COUNTRY_WEIGHTS,
    HOUR_PROFILES,
    IP_MODES,
    KINDS,
    KYC_SPEND_THRESHOLD_USD_MONTH,
    LANGUAGES,
    NC,
    PREFIX_POOLS,
    TIMING_MODES,
    USER_AGENTS,
    Scale,
)

KYC_TIERS = ("none", "basic", "verified", "enterprise")
PLANS = ("free", "payg", "scale", "enterprise")
EMAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "proton.me",
    "yahoo.com",
    "company.example",
    "university.example",
    "startup.example",
    "mailbox.example",
    "qq.com",
    "yandex.ru",
)
HOUR_NAMES = tuple(HOUR_PROFILES)
PAYMENT_SALT = 0x5EED
NEVER = 1 << 40
LABEL_SHARE = 0.75
SOURCES = ("enforcement_review", "red_team")


@dataclass
class Incident:
    """One investigation: window and decision as day offsets from the window start."""

    accounts: np.ndarray
    label: str
    window_start: int
    window_end: int
    decided: int
    source: str


@dataclass
class Population:
    """One row per account (index = position); campaign -1 means benign."""

    account_id: np.ndarray
    archetype: np.ndarray
    campaign: np.ndarray
    created_day: np.ndarray
    created_second: np.ndarray
    active_from: np.ndarray
    active_until: np.ndarray
    daily_rate: np.ndarray
    active_share: np.ndarray
    weekend: np.ndarray
    hours: np.ndarray
    tz_offset: np.ndarray
    country: np.ndarray
    billing_country: np.ndarray
    ip_mode: np.ndarray
    prefix_start: np.ndarray
    prefix_count: np.ndarray
    prefix_stride: np.ndarray
    host: np.ndarray
    ipv6: np.ndarray
    user_agent: np.ndarray
    second_agent: np.ndarray
    second_agent_share: np.ndarray
    many_agents: np.ndarray
    payment: np.ndarray
    email_domain: np.ndarray
    org: np.ndarray
    kyc: np.ndarray
    plan: np.ndarray
    zdr: np.ndarray
    keys: np.ndarray
    key_period: np.ndarray
    system_prompt: np.ndarray
    style: np.ndarray
    timing: np.ndarray
    jitter_s: np.ndarray
    tool_share: np.ndarray
    temp0: np.ndarray
    temperature: np.ndarray
    batch_share: np.ndarray
    logprobs: np.ndarray
    n_gt1: np.ndarray
    verbosity: np.ndarray
    traveller: np.ndarray
    reasoning_share: np.ndarray
    adopt_second: np.ndarray
    new_model_share: np.ndarray
    language: np.ndarray
    multilingual: np.ndarray
    continuation: np.ndarray
    replay: np.ndarray
    shift_day: np.ndarray
    replacement: np.ndarray
    campaign_archetype: np.ndarray
    campaign_start: np.ndarray
    launch_second: int
    days: int
    incidents: list[Incident] = field(default_factory=list)
    allow_listed: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.archetype)

    @property
    def kind(self) -> np.ndarray:
        """Index into scenario.KINDS per account."""
        return np.array([KINDS.index(a.kind) for a in ARCHETYPES])[self.archetype]


HEX4 = pa.array([f"{i:04x}" for i in range(1 << 16)])


def hash_hex(values: np.ndarray, salt: int) -> pa.Array:
    """16 hex digits of a splitmix64 hash of each value: opaque, stable, vectorized."""
    z = values.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    parts = [HEX4.take(pa.array(((z >> np.uint64(s)) & np.uint64(0xFFFF)).astype(np.int64))) for s in (48, 32, 16, 0)]
    return pc.binary_join_element_wise(*parts, "")


def _spec(attr: str) -> np.ndarray:
    return np.array([getattr(a, attr) for a in ARCHETYPES])


def _draw(rng: np.random.Generator, arch: np.ndarray, names: tuple[str, ...], attr: str) -> np.ndarray:
    """Per-account categorical draw with per-population weights."""
    out = np.zeros(arch.size, dtype=np.int64)
    for a, archetype in enumerate(ARCHETYPES):
        rows = np.flatnonzero(arch == a)
        if rows.size:
            weights = getattr(archetype, attr)
            p = np.array([weights.get(name, 0.0) for name in names], dtype=float)
            out[rows] = rng.choice(len(names), size=rows.size, p=p / p.sum())
    return out


def _bernoulli(rng: np.random.Generator, arch: np.ndarray, attr: str) -> np.ndarray:
    return rng.random(arch.size) < _spec(attr)[arch]


def _groups(rng: np.random.Generator, members: np.ndarray, size: tuple[int, int], first: int) -> tuple[np.ndarray, int]:
    """Consecutive groups of ``size`` (inclusive range) over ``members``; ids from ``first``."""
    ids = np.empty(members.size, dtype=np.int64)
    position, next_id = 0, first
    while position < members.size:
        width = int(rng.integers(size[0], size[1] + 1))
        ids[position : position + width] = next_id
        position += width
        next_id += 1
    return ids, next_id


def _campaigns(scale: Scale, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    archetype, campaign, camp_arch = [], [], []
    for name, count in scale.benign.items():
        archetype.append(np.full(count, ARCHETYPE_INDEX[name]))
        campaign.append(np.full(count, -1))
    next_campaign = 0
    for name, count in scale.attack.items():
        n_campaigns = max(1, min(count, scale.campaigns.get(name, 1)))
        # Every campaign gets at least one account; the rest are spread unevenly.
        assign = np.r_[np.arange(n_campaigns), rng.integers(0, n_campaigns, count - n_campaigns)]
        archetype.append(np.full(count, ARCHETYPE_INDEX[name]))
        campaign.append(next_campaign + np.sort(assign))
        camp_arch.extend([ARCHETYPE_INDEX[name]] * n_campaigns)
        next_campaign += n_campaigns
    return archetype, campaign, camp_arch


def build(scale: Scale, days: int, seed: int) -> Population:
    """Draw every account once per (scale, seed); ``days`` bounds campaign timelines."""
    rng = np.random.default_rng([seed, 0xACC])
    archetypes, campaigns, camp_arch = _campaigns(scale, rng)
    arch = np.concatenate(archetypes)
    camp = np.concatenate(campaigns)
    n = arch.size
    campaign_archetype = np.array(camp_arch, dtype=np.int64)
    n_campaigns = campaign_archetype.size
    is_attack = camp >= 0
    camp_safe = np.where(is_attack, camp, 0)
    tactic = lambda name: np.array([name in a.tactics for a in ARCHETYPES])[arch]  # noqa: E731
    launch_day = min(days - 1, max(1, int(days * scale.launch_fraction))) if days > 1 else 0
    launch_second = launch_day * 86_400 + int(rng.integers(13, 18)) * 3600

    # Campaign timelines: some already running when the window opens, most start in its first half.
    campaign_start = rng.integers(-max(1, days // 6), max(1, days // 2), n_campaigns)
    pivots = np.array([("pivot" in ARCHETYPES[a].tactics) for a in campaign_archetype], dtype=bool)
    campaign_start = np.where(pivots, np.minimum(campaign_start, launch_day - 1), campaign_start)
    replaces = np.array([("replace" in ARCHETYPES[a].tactics) for a in campaign_archetype], dtype=bool)
    campaign_start = np.where(replaces, np.minimum(campaign_start, days // 4), campaign_start)
    if n_campaigns:
        campaign_start[0] = min(campaign_start[0], 0)
    start = np.where(is_attack, campaign_start[camp_safe] if n_campaigns else 0, 0)

    # Age: "new" accounts sign up a few days before they start; others are older (bought or real).
    new = _bernoulli(rng, arch, "new_share")
    age_lo, age_hi = (np.array([a.age_days[i] for a in ARCHETYPES])[arch] for i in (0, 1))
    old_age = rng.integers(age_lo, age_hi + 1)
    benign_start = np.where(new, rng.integers(-10, max(1, days - 1), n), 0)
    start = np.where(is_attack, start, benign_start)
    created_day = np.where(new, start - rng.integers(0, 15, n), start - old_age)
    active_from = np.maximum(created_day, start)
    active_until = np.full(n, NEVER, dtype=np.int64)
    replacement = tactic("replace") & (rng.random(n) < 0.4)

    lo, hi = (np.array([a.active[i] for a in ARCHETYPES])[arch] for i in (0, 1))
    active_share = rng.uniform(lo, hi)
    rate = _spec("rate")[arch] * rng.lognormal(0.0, _spec("rate_sigma")[arch])

    country = rng.choice(NC, n, p=np.array(COUNTRY_WEIGHTS) / sum(COUNTRY_WEIGHTS))
    tz_offset = np.array(COUNTRY_TZ)[country]
    billing = np.where(rng.random(n) < np.where(is_attack, 0.25, 0.05), rng.integers(0, NC, n), country)
    hours = np.array([HOUR_NAMES.index(a.hours) for a in ARCHETYPES])[arch]

    kyc = _draw(rng, arch, KYC_TIERS, "kyc")
    plan = _draw(rng, arch, PLANS, "plan")
    zdr = _bernoulli(rng, arch, "zdr")

    # Organisations: per population, then campaigns spread over many small ones or hide in big ones.
    org = np.full(n, -1, dtype=np.int64)
    next_org = 0
    in_org = _bernoulli(rng, arch, "org")
    for a, spec in enumerate(ARCHETYPES):
        if spec.kind == "attack":
            continue
        members = np.flatnonzero((arch == a) & in_org)
        org[members], next_org = _groups(rng, members, spec.org_size, next_org)
    for c in range(n_campaigns):
        spec = ARCHETYPES[campaign_archetype[c]]
        members = np.flatnonzero((camp == c) & in_org)
        org[members], next_org = _groups(rng, members, spec.org_size, next_org)
    hosts = np.unique(
        org[np.isin(arch, [ARCHETYPE_INDEX[x] for x in ("coding_agent", "app_backend", "zdr_enterprise")]) & (org >= 0)]
    )
    hidden = np.flatnonzero(tactic("inside_org"))
    if hidden.size and hosts.size:
        host_of_campaign = rng.choice(hosts, max(1, n_campaigns))
        org[hidden] = host_of_campaign[camp[hidden]]
        zdr[hidden] = np.isin(org[hidden], org[(arch == ARCHETYPE_INDEX["zdr_enterprise"]) & (org >= 0)])

    # Payment: own card; an org's card; a card shared with a friend; a campaign's pool of cards.
    payment = np.arange(n, dtype=np.int64) + 1_000_000
    share = _bernoulli(rng, arch, "shared_payment")
    for a in range(len(ARCHETYPES)):
        rows = np.flatnonzero((arch == a) & share & ~is_attack)
        if rows.size > 1:
            payment[rows] = payment[rng.permutation(rows)[np.arange(rows.size) // 2 * 2]]
    pool_size = np.maximum(1, np.bincount(camp_safe, minlength=max(1, n_campaigns)) // 6).clip(max=16)
    attack_share = share & is_attack
    payment = np.where(
        attack_share, 2_000_000 + camp_safe * 16 + rng.integers(0, 1 << 20, n) % pool_size[camp_safe], payment
    )
    org_payment = 5_000_000 + org
    spread = tactic("orgs") & (rng.random(n) < 0.3)
    payment = np.where(org >= 0, np.where(spread, 2_000_000 + camp_safe * 16, org_payment), payment)
    plan = np.where((org >= 0) & (plan == 0), 1, plan)
    payment = np.where((plan == PLANS.index("free")) & (org < 0), -1, payment)

    # Infrastructure.
    ip_mode = _draw(rng, arch, IP_MODES, "ip")
    prefix_start, prefix_count, prefix_stride, host = _infrastructure(rng, ip_mode, country, org, arch)
    ipv6 = (rng.random(n) < 0.15) & np.isin(ip_mode, [IP_MODES.index("home"), IP_MODES.index("cgnat")])
    traveller = _bernoulli(rng, arch, "traveller")

    agent = rng.choice(len(USER_AGENTS), n, p=_agent_weights())
    campaign_agent = rng.integers(0, len(USER_AGENTS), max(1, n_campaigns))
    agent = np.where(is_attack & (rng.random(n) < 0.5), campaign_agent[camp_safe], agent)
    many_agents = _bernoulli(rng, arch, "many_agents")

    email = np.where(org >= 0, 4, rng.choice([0, 1, 2, 3, 7, 8, 9], n, p=[0.45, 0.2, 0.08, 0.07, 0.1, 0.05, 0.05]))
    email = np.where(ip_mode == IP_MODES.index("university"), 5, email)

    key_lo, key_hi = (np.array([a.keys[i] for a in ARCHETYPES])[arch] for i in (0, 1))
    keys = rng.integers(key_lo, key_hi + 1)
    key_period = np.where(_bernoulli(rng, arch, "key_rotation"), rng.integers(1, 8, n), NEVER)
    key_period = np.where(tactic("rotate_keys"), 1, key_period)

    has_system = _bernoulli(rng, arch, "system_prompt")
    common_system = _bernoulli(rng, arch, "common_system")
    system_prompt = np.where(
        common_system,
        rng.integers(0, 12, n),
        np.where(is_attack, 500_000 + camp_safe, np.where(org >= 0, 800_000 + org, 1_000 + np.arange(n))),
    )
    system_prompt = np.where(has_system, system_prompt, -1)

    timing = _draw(rng, arch, TIMING_MODES, "timing")
    jitter_s = rng.lognormal(np.log(40.0), 1.6, n)
    tool_share = np.where(_bernoulli(rng, arch, "tools"), rng.uniform(0.3, 0.95, n), 0.0)
    temp0 = _bernoulli(rng, arch, "temp0")
    temperature = rng.choice([0.2, 0.5, 0.7, 0.8, 1.0], n)
    batch_share = np.where(_bernoulli(rng, arch, "batch"), rng.uniform(0.4, 1.0, n), 0.0)
    logprobs = _bernoulli(rng, arch, "logprobs")
    n_gt1 = _bernoulli(rng, arch, "n_gt1")
    mean = _spec("reasoning")[arch].clip(0.02, 0.98)
    reasoning_share = rng.beta(mean * 4, (1 - mean) * 4)

    # The new model: early adopters within a day of launch, others over the next weeks.
    early = _bernoulli(rng, arch, "early_adopter")
    later = rng.random(n) < 0.5
    adopt = np.where(
        early,
        launch_second + rng.uniform(0, 24 * 3600, n),
        np.where(later, launch_second + rng.exponential(6 * 86_400, n), NEVER),
    )
    pivot = tactic("pivot")
    adopt = np.where(pivot, launch_second + rng.uniform(3600, 20 * 3600, n), adopt).astype(np.int64)
    new_model_share = np.where(pivot, 0.95, rng.uniform(0.3, 0.9, n))
    reasoning_share = np.where(pivot, np.maximum(reasoning_share, 0.85), reasoning_share)

    language = _draw(rng, arch, LANGUAGES, "languages")
    multilingual = np.array([len(a.languages) > 1 for a in ARCHETYPES])[arch]
    continuation = _spec("continuation")[arch] * rng.uniform(0.5, 1.5, n)
    replay = _spec("replay")[arch] * rng.uniform(0.5, 1.5, n)
    shift_day = np.where(tactic("shift"), (np.maximum(active_from, 0) + days) // 2, -NEVER)

    pop = Population(
        account_id=_account_ids(rng.permutation(n) + 10_000_000),
        archetype=arch,
        campaign=camp,
        created_day=created_day,
        created_second=rng.integers(0, 86_400, n),
        active_from=active_from,
        active_until=active_until,
        daily_rate=rate,
        active_share=active_share,
        weekend=_spec("weekend")[arch],
        hours=hours,
        tz_offset=tz_offset,
        country=country,
        billing_country=billing,
        ip_mode=ip_mode,
        prefix_start=prefix_start,
        prefix_count=prefix_count,
        prefix_stride=prefix_stride,
        host=host,
        ipv6=ipv6,
        user_agent=agent,
        second_agent=rng.choice(len(USER_AGENTS), n, p=_agent_weights()),
        second_agent_share=np.where(rng.random(n) < 0.3, rng.uniform(0.02, 0.3, n), 0.0),
        many_agents=many_agents,
        payment=payment,
        email_domain=email,
        org=org,
        kyc=kyc,
        plan=plan,
        zdr=zdr,
        keys=keys,
        key_period=key_period,
        system_prompt=system_prompt,
        style=rng.integers(0, 1 << 20, n),
        timing=timing,
        jitter_s=jitter_s,
        tool_share=tool_share,
        temp0=temp0,
        temperature=temperature,
        batch_share=batch_share,
        logprobs=logprobs,
        n_gt1=n_gt1,
        verbosity=rng.lognormal(0.0, 0.8, n),
        traveller=traveller,
        reasoning_share=reasoning_share,
        adopt_second=adopt,
        new_model_share=new_model_share,
        language=language,
        multilingual=multilingual,
        continuation=continuation,
        replay=replay,
        shift_day=shift_day,
        replacement=replacement,
        campaign_archetype=campaign_archetype,
        campaign_start=campaign_start,
        launch_second=launch_second,
        days=days,
    )
    _decide(pop, rng, days)
    pop.payment = np.where(
        (pop.plan == PLANS.index("free")) & (pop.org < 0),
        -1,
        np.where(pop.payment < 0, 1_000_000 + np.arange(n), pop.payment),
    )
    _scale_volumes(pop, scale, days, rng)
    pop.allow_listed = np.isin(arch, [ARCHETYPE_INDEX[a.name] for a in ARCHETYPES if a.name == "synthetic_vendor"])
    return pop


def _agent_weights() -> np.ndarray:
    weights = np.ones(len(USER_AGENTS))
    weights[:3] = 4.0
    return weights / weights.sum()


def _infrastructure(
    rng: np.random.Generator, mode: np.ndarray, country: np.ndarray, org: np.ndarray, arch: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per account: first prefix, how many, the stride between them, and the host octet.

    A stride of NC keeps an account in one country; 1 walks across countries (VPN exits,
    multi-region cloud, untargeted proxies). Hosts >= 0 are fixed (a NAT's one address),
    -1 means a fresh host per request.
    """
    n = mode.size
    start = np.zeros(n, dtype=np.int64)
    count = np.ones(n, dtype=np.int64)
    stride = np.full(n, NC, dtype=np.int64)
    host = rng.integers(2, 254, n)

    def pool(name: str) -> tuple[int, int]:
        return PREFIX_POOLS[name][0], PREFIX_POOLS[name][1]

    def rows(name: str) -> np.ndarray:
        return np.flatnonzero(mode == IP_MODES.index(name))

    base, size = pool("residential")
    r = rows("home")
    start[r] = base + rng.integers(0, size // NC - 2, r.size) * NC + country[r]
    count[r] = rng.integers(1, 3, r.size)
    base, size = pool("mobile_cgnat")
    r = rows("cgnat")
    start[r], count[r], host[r] = base + country[r], size // NC, -1
    base, size = pool("vpn")
    r = rows("vpn")
    provider = rng.integers(0, size // 100, r.size)
    start[r], count[r], stride[r], host[r] = base + provider * 100, 100, 1, -1
    base, size = pool("university")
    r = rows("university")
    start[r] = base + rng.integers(0, size // NC, r.size) * NC + country[r]
    host[r] = 10 + (start[r] - base)
    base, size = pool("corporate")
    r = rows("corporate")
    company = np.where(org[r] >= 0, (org[r] * 7919) % (size // NC - 4), rng.integers(0, size // NC - 4, r.size))
    start[r], count[r] = base + company * NC + country[r], rng.integers(1, 4, r.size)
    host[r] = 20 + company % 200
    base, size = pool("cloud")
    r = rows("cloud")
    start[r], count[r] = (
        base + rng.integers(0, size // NC - 4, r.size) * NC + rng.integers(0, NC, r.size),
        rng.integers(1, 5, r.size),
    )
    r = rows("cloud_wide")
    start[r], count[r], stride[r] = base + rng.integers(0, size - 60, r.size), rng.integers(10, 40, r.size), 1
    base, size = pool("hosting_rented")
    r = rows("rented")
    start[r], count[r] = (
        base + rng.integers(0, size // NC - 4, r.size) * NC + rng.integers(0, NC, r.size),
        rng.integers(1, 5, r.size),
    )
    base, size = pool("residential")
    for name in ("resproxy", "resproxy_sticky"):
        r = rows(name)
        targeted = rng.random(r.size) < _spec("target_country")[arch[r]]
        start[r] = np.where(targeted, base + country[r], base)
        count[r] = np.where(targeted, size // NC, size)
        stride[r] = np.where(targeted, NC, 1)
        host[r] = -1
    return start, count, stride, host


def _decide(pop: Population, rng: np.random.Generator, days: int) -> None:
    """Incidents decided days after behaviour starts; named accounts banned; replacements arrive."""
    last = days - 1
    lo = max(1, min(3, days // 4))
    hi = max(lo + 1, days // 3)
    labelled_types: set[int] = set()
    for c, a in enumerate(pop.campaign_archetype):
        spec = ARCHETYPES[a]
        members = np.flatnonzero(pop.campaign == c)
        originals = members[~pop.replacement[members]]
        first = max(0, int(pop.campaign_start[c]))
        window_end = min(last, first + int(rng.integers(lo - 1, hi)))
        decided = window_end + int(rng.integers(1, max(2, hi - lo + 2)))
        forced = a not in labelled_types
        if decided > last or (not forced and rng.random() > LABEL_SHARE):
            first_active = pop.active_from[originals].min() if originals.size else 0
            pop.active_from[members[pop.replacement[members]]] = first_active
            continue
        labelled_types.add(a)
        seen = originals[pop.active_from[originals] <= window_end]
        named = seen[rng.random(seen.size) < rng.uniform(0.4, 1.0)]
        if named.size == 0 and seen.size:
            named = seen[:1]
        source = "partner_report" if "partner" in spec.tactics else str(rng.choice(SOURCES, p=[0.8, 0.2]))
        pop.incidents.append(Incident(named, "distillation", first, window_end, decided, source))
        pop.active_until[named] = decided
        fresh = members[pop.replacement[members]]
        if fresh.size == 0:
            continue
        arrive = decided + rng.integers(1, 4, fresh.size)
        if arrive.max() > last:
            pop.active_from[fresh] = pop.active_from[originals].min() if originals.size else 0
            continue
        # Replacements: new accounts reusing the banned accounts' cards, networks and prompts.
        pop.active_from[fresh] = arrive
        pop.created_day[fresh] = arrive - rng.integers(0, 2, fresh.size)
        donor = rng.choice(named, fresh.size)
        reuse = rng.random((3, fresh.size))
        pop.payment[fresh] = np.where(reuse[0] < 0.5, pop.payment[donor], pop.payment[fresh])
        for column in (pop.ip_mode, pop.prefix_start, pop.prefix_count, pop.prefix_stride, pop.host):
            column[fresh] = np.where(reuse[1] < 0.6, column[donor], column[fresh])
        pop.system_prompt[fresh] = np.where(reuse[2] < 0.7, pop.system_prompt[donor], pop.system_prompt[fresh])
        pop.style[fresh] = pop.style[donor]
    for name, share in BENIGN_REVIEW_SHARE.items():
        members = np.flatnonzero(pop.archetype == ARCHETYPE_INDEX[name])
        for account in members[rng.random(members.size) < share]:
            begin = int(max(0, pop.active_from[account]))
            if begin >= last:
                continue
            window_end = min(last - 1, begin + int(rng.integers(0, max(1, days // 4))))
            decided = window_end + int(rng.integers(1, max(2, days // 5) + 1))
            if decided <= last:
                pop.incidents.append(
                    Incident(np.array([account]), "benign", begin, window_end, decided, "enforcement_review")
                )
    devs = np.flatnonzero(pop.archetype == ARCHETYPE_INDEX["dev"])
    for account in devs[rng.random(devs.size) < 0.002]:
        begin = int(rng.integers(0, max(1, last)))
        if begin + 1 <= last:
            pop.incidents.append(
                Incident(np.array([account]), "other_abuse", begin, begin, begin + 1, "enforcement_review")
            )


def expected_cost(pop: Population) -> np.ndarray:
    """Expected USD per request of each account, by the same price and token model as traffic.py."""
    completion = np.minimum(
        _spec("completion_median")[pop.archetype] * pop.verbosity * 1.28,
        np.array([np.mean(a.max_tokens) for a in ARCHETYPES])[pop.archetype],
    )
    r = pop.reasoning_share
    price_in = r * 17.0 + (1 - r) * 2.1
    price_out = r * 82.0 + (1 - r) * 10.6
    return (500 * price_in + completion * price_out) / 1e6 * (1 - 0.5 * pop.batch_share)


def _scale_volumes(pop: Population, scale: Scale, days: int, rng: np.random.Generator) -> None:
    """Pacing accounts spend 40-80% of the KYC threshold; every other rate is rescaled so
    each side's expected total over the window matches the scale."""
    is_attack = pop.campaign >= 0
    first = np.clip(pop.active_from, 0, days)
    last = np.clip(pop.active_until, -1, days - 1)
    active_days = np.maximum(0, last - first + 1)
    pacing = np.array(["pacing" in a.tactics for a in ARCHETYPES])[pop.archetype]
    monthly = KYC_SPEND_THRESHOLD_USD_MONTH * rng.uniform(0.4, 0.8, pacing.size)
    pop.daily_rate = np.where(pacing, monthly / 30 / expected_cost(pop), pop.daily_rate)
    paced = float((pop.daily_rate * pop.active_share * active_days)[pacing].sum())
    for group, target in (
        (~is_attack, scale.benign_requests_per_day * days),
        (is_attack & ~pacing, max(0.0, scale.attack_requests_per_day * days - paced)),
    ):
        expected = float((pop.daily_rate * pop.active_share * active_days)[group].sum())
        if expected > 0:
            pop.daily_rate[group] *= target / expected


def _account_ids(ids: np.ndarray) -> np.ndarray:
    digits = pc.utf8_lpad(pa.array(ids).cast(pa.string()), 9, "0")
    return pc.binary_join_element_wise("acct_", digits, "").to_numpy(zero_copy_only=False)


def family_cdf() -> np.ndarray:
    """Per population cumulative family weights (populations x families) for inverse-CDF draws."""
    weights = np.zeros((len(ARCHETYPES), len(FAMILY_NAMES)))
    for a, archetype in enumerate(ARCHETYPES):
        for name, w in archetype.families.items():
            weights[a, FAMILY_INDEX[name]] = w
        weights[a, FAMILY_INDEX["common"]] += archetype.common
    weights /= weights.sum(axis=1, keepdims=True)
    return np.cumsum(weights, axis=1)
