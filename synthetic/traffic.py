"""One day's requests for a slice of accounts, as an Arrow table of contract fields."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.synthetic.population import Population, family_cdf, hash_hex
from distillguard.synthetic.prompts import FAMILY_INDEX, render
from distillguard.synthetic.scenario import (
    ARCHETYPE_INDEX,
    ARCHETYPES,
    ASN_KINDS,
    COUNTRIES,
    HOUR_PROFILES,
    IP_MODES,
    LANGUAGES,
    MODEL_PRICES,
    MODELS,
    NC,
    NEW_MODEL,
    PREFIX_POOLS,
    USER_AGENTS,
)

_FAMILY_CDF = family_cdf()
_HOUR_CDF = np.cumsum(np.array([np.array(w, float) / sum(w) for w in HOUR_PROFILES.values()]), axis=1)
_LANG_CDF = np.cumsum(
    np.array([[a.languages.get(name, 0.0) for name in LANGUAGES] for a in ARCHETYPES])
    / np.array([[sum(a.languages.values())] for a in ARCHETYPES]),
    axis=1,
)
FIRST_OCTETS = np.array([23, 37, 45, 51, 62, 77, 81, 89])
_HEX4 = pa.array([f"{i:x}" for i in range(1 << 16)])  # unpadded, as IPv6 hextets are written
_POOL_STARTS = np.array([start for start, _, _ in PREFIX_POOLS.values()])
_POOL_ORDER = np.argsort(_POOL_STARTS)
_POOL_KIND = np.array([ASN_KINDS.index(kind) for _, _, kind in PREFIX_POOLS.values()])
_PRICE_IN = np.array([MODEL_PRICES[m][0] for m in MODELS])
_PRICE_OUT = np.array([MODEL_PRICES[m][1] for m in MODELS])
_REASONING = np.array([m.endswith("reasoning") for m in MODELS])
_AGENTIC = FAMILY_INDEX["agentic"]
_DEV = ARCHETYPE_INDEX["dev"]
_STICKY = IP_MODES.index("resproxy_sticky")
_MOBILE_BASE, _MOBILE_SIZE, _ = PREFIX_POOLS["mobile_cgnat"]
_MAX_TOKENS = [a.max_tokens for a in ARCHETYPES]


def _arch_attr(name: str) -> np.ndarray:
    return np.array([getattr(a, name) for a in ARCHETYPES])


def _unit(*parts: np.ndarray) -> np.ndarray:
    """A deterministic number in [0, 1) per row from integer parts (splitmix64)."""
    z = np.zeros(np.broadcast(*parts).shape, dtype=np.uint64)
    for part in parts:
        z = (z ^ np.asarray(part).astype(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _pick(options: list[tuple], arch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform draw per row from a per-population tuple of options."""
    widest = max(len(o) for o in options)
    table = np.array([list(o) + [o[-1]] * (widest - len(o)) for o in options], dtype=float)
    sizes = np.array([len(o) for o in options])
    return table[arch, (rng.random(arch.size) * sizes[arch]).astype(np.int64)]


def _inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return (cdf < u[:, None]).sum(axis=1).clip(max=cdf.shape[1] - 1)


def _nullable(values: pa.Array, keep: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _rank_within(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each row within its key group, and the group size, in row order."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    sizes = np.diff(np.r_[starts, keys.size])
    rank = np.empty(keys.size, dtype=np.int64)
    rank[order] = np.arange(keys.size) - np.repeat(starts, sizes)
    size = np.empty(keys.size, dtype=np.int64)
    size[order] = np.repeat(sizes, sizes)
    return rank, size


def _ip_strings(prefix: np.ndarray, host: np.ndarray, v6: np.ndarray) -> pa.Array:
    octet_a = pa.array(FIRST_OCTETS[(prefix >> 16) % len(FIRST_OCTETS)]).cast(pa.string())
    octet_b = pa.array((prefix >> 8) & 255).cast(pa.string())
    octet_c = pa.array(prefix & 255).cast(pa.string())
    octet_d = pa.array(host).cast(pa.string())
    v4 = pc.binary_join_element_wise(octet_a, octet_b, octet_c, octet_d, ".")
    hi = _HEX4.take(pa.array((prefix >> 16) & 0xFFFF))
    lo = _HEX4.take(pa.array(prefix & 0xFFFF))
    v6_text = pc.binary_join_element_wise("2a02", hi, lo, _HEX4.take(pa.array(host)), ":")
    v6_text = pc.replace_substring_regex(v6_text, r":([0-9a-f]+)$", r"::\1")
    return pc.if_else(pa.array(v6), v6_text, v4)


def prefix_country(prefix: np.ndarray) -> np.ndarray:
    """Index into COUNTRIES of each prefix id (geo is a property of the address)."""
    pool = _POOL_ORDER[np.searchsorted(_POOL_STARTS[_POOL_ORDER], prefix, side="right") - 1]
    return (prefix - _POOL_STARTS[pool]) % NC


def _sha_hex(ids: np.ndarray) -> pa.Array:
    """A SHA-256-shaped (64 hex digit) stand-in digest of a system prompt id."""
    return pc.binary_join_element_wise(*[hash_hex(ids, salt) for salt in (11, 12, 13, 14)], "")


def _previous_in_group(
    values: pa.Array, group: np.ndarray, ts_ms: np.ndarray, acct: np.ndarray, same_account: bool
) -> pa.Array:
    """For each row, ``values`` of the latest earlier non-null row of its group, else null.

    With ``same_account`` False that row must come from another account of the group:
    that is how a reasoning block issued to one account gets replayed by another.
    """
    order = np.lexsort((ts_ms, group))
    valid = values.is_valid().to_numpy(zero_copy_only=False)[order]
    key = group[order] if same_account else group[order]
    position = np.where(valid, np.arange(order.size), -1)
    latest = np.maximum.accumulate(position)
    previous = np.r_[-1, latest[:-1]]
    ok = previous >= 0
    ok[ok] &= key[previous[ok]] == key[ok]
    if same_account:
        ok[ok] &= acct[order][previous[ok]] == acct[order][ok]
    else:
        ok[ok] &= acct[order][previous[ok]] != acct[order][ok]
    source = np.full(order.size, -1, dtype=np.int64)
    source[order] = np.where(ok, order[np.maximum(previous, 0)], -1)
    return values.take(pa.array(source, mask=source < 0))


def _seconds(pop: Population, acct: np.ndarray, day_index: int, rng: np.random.Generator) -> np.ndarray:
    """Second of the day per request: human rhythm, work sessions, or a scheduler with jitter."""
    m = acct.size
    hours = pop.hours[acct]
    local_hour = _inverse_cdf(_HOUR_CDF[hours], rng.random(m))
    human = ((local_hour - pop.tz_offset[acct]) % 24) * 3600 + rng.random(m) * 3600
    rank, size = _rank_within(acct)
    sessions = np.maximum(1, size // 12 + (_unit(acct, day_index) < 0.5))
    session = rank % sessions
    u = _unit(acct, day_index, session, 1)
    start_hour = _inverse_cdf(_HOUR_CDF[hours], u)
    session_start = ((start_hour - pop.tz_offset[acct]) % 24) * 3600 + _unit(acct, day_index, session, 2) * 3600
    in_session = (rank // sessions) * (15 + 90 * _unit(acct, day_index, 3)) + rng.exponential(20, m)
    sessioned = session_start + in_session
    phase = _unit(acct, day_index, 4) * 86_400
    cron = phase + rank * (86_400 / np.maximum(size, 1)) + rng.normal(0, pop.jitter_s[acct], m)
    timing = pop.timing[acct]
    return np.select([timing == 0, timing == 1], [human, sessioned], cron) % 86_400


def day_requests(
    pop: Population,
    day: date,
    accounts: np.ndarray,
    counts: np.ndarray,
    first_row: int,
    rng: np.random.Generator,
    day_index: int,
) -> pa.Table:
    """Requests of ``accounts`` (``counts`` each) on ``day`` (window day ``day_index``), by timestamp."""
    acct = np.repeat(accounts, counts)
    m = acct.size
    arch = pop.archetype[acct]
    is_attack = pop.campaign[acct] >= 0

    second = _seconds(pop, acct, day_index, rng)
    day_ms = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
    ts_ms = day_ms + (second * 1000).astype(np.int64)
    window_second = day_index * 86_400 + second

    # What: family (a shifting campaign looks like a developer before its shift), language, text.
    before_shift = day_index < pop.shift_day[acct]
    family = _inverse_cdf(_FAMILY_CDF[np.where(before_shift, _DEV, arch)], rng.random(m))
    drawn = _inverse_cdf(_LANG_CDF[arch], rng.random(m))
    language = np.where(pop.multilingual[acct] & (rng.random(m) < 0.35), drawn, pop.language[acct])
    text = render(family, language, pop.style[acct], rng)
    reasoning = rng.random(m) < np.where(before_shift, 0.2, pop.reasoning_share[acct])
    model = np.where(reasoning, 0, np.where(rng.random(m) < 0.6, 1, 2))
    adopted = reasoning & (window_second >= pop.adopt_second[acct]) & (rng.random(m) < pop.new_model_share[acct])
    model = np.where(adopted, NEW_MODEL, model)
    batch = rng.random(m) < pop.batch_share[acct]
    endpoint = np.where(batch, 2, np.where(rng.random(m) < 0.1, 1, 0))
    status = np.select([rng.random(m) < 0.01, rng.random(m) < 0.005], [429, 500], 200)
    max_tokens = _pick(_MAX_TOKENS, arch, rng).astype(np.int64)
    temperature = np.where(
        pop.temp0[acct] & (rng.random(m) < 0.9),
        0.0,
        np.where(rng.random(m) < 0.8, pop.temperature[acct], rng.choice([0.3, 0.7, 1.0], m)),
    )
    logprobs = pop.logprobs[acct] & (rng.random(m) < 0.6)
    n_choices = np.where(pop.n_gt1[acct] & (rng.random(m) < 0.3), rng.integers(2, 5, m), 1)
    tools = np.where(
        rng.random(m) < pop.tool_share[acct] * np.where(family == _AGENTIC, 1.5, 1.0), rng.integers(1, 13, m), 0
    )

    # How much: tokens, finish reason, cost.
    length_hit = rng.random(m) < _arch_attr("length_share")[arch]
    median = _arch_attr("completion_median")[arch] * pop.verbosity[acct]
    completion = rng.lognormal(np.log(median), 0.7).astype(np.int64)
    completion = np.where(length_hit, max_tokens, np.minimum(completion, max_tokens - 1))
    finish = np.where(length_hit, 1, np.where((tools > 0) & (rng.random(m) < 0.4), 2, 0))
    finish = np.where(rng.random(m) < 0.002, 3, finish)
    failed = status != 200
    completion = np.where(failed, 0, completion)
    finish = np.where(failed, 4, finish)
    has_system = pop.system_prompt[acct] >= 0
    text_len = pc.utf8_length(text).to_numpy()
    prompt_tokens = (
        text_len // 3 + 1 + np.where(has_system, 350, 0) + tools * 120 + rng.lognormal(4.5, 1.0, m).astype(np.int64)
    )
    reasoning_tokens = np.where(_REASONING[model], (completion * rng.uniform(0.3, 0.7, m)).astype(np.int64), -1)
    cost = (prompt_tokens * _PRICE_IN[model] + completion * n_choices * _PRICE_OUT[model]) / 1e6
    cost = np.round(np.where(batch, cost * 0.5, cost), 6)
    latency = (250 + completion * rng.uniform(8, 20, m)).astype(np.int64)

    # Where from: the account's prefixes; sticky proxies change daily; travellers roam abroad.
    draw = rng.integers(0, 1 << 40, m)
    sticky = pop.ip_mode[acct] == _STICKY
    draw = np.where(sticky, (_unit(acct, day_index, draw % 3) * (1 << 40)).astype(np.int64), draw)
    prefix = pop.prefix_start[acct] + (draw % pop.prefix_count[acct]) * pop.prefix_stride[acct]
    host = np.where(pop.host[acct] >= 0, pop.host[acct], rng.integers(2, 254, m))
    abroad = pop.traveller[acct] & (_unit(acct, day_index, 5) < 0.3)
    away = (pop.country[acct] + 1 + (_unit(acct, day_index, 6) * (NC - 1)).astype(np.int64)) % NC
    roaming = _MOBILE_BASE + rng.integers(0, _MOBILE_SIZE // NC, m) * NC + away
    prefix = np.where(abroad, roaming, prefix)
    host = np.where(abroad, rng.integers(2, 254, m), host)
    pool = _POOL_ORDER[np.searchsorted(_POOL_STARTS[_POOL_ORDER], prefix, side="right") - 1]
    offset = prefix - _POOL_STARTS[pool]
    asn = 1000 + pool * 10_000 + (offset % NC) * 100 + (offset // NC // 50) % 100
    geo_known = rng.random(m) > 0.02

    request_id = pc.binary_join_element_wise(
        f"req_{day:%Y%m%d}",
        pc.utf8_lpad(pa.array(first_row + np.arange(m)).cast(pa.string()), 10, "0"),
        pa.array(rng.integers(0, 1 << 16, m)).cast(pa.string()),
        "_",
    )
    issued = _nullable(pc.binary_join_element_wise("rs", request_id, "_"), _REASONING[model] & ~failed)
    own_ref = _previous_in_group(issued, acct, ts_ms, acct, same_account=True)
    group = np.where(is_attack, pop.campaign[acct], np.where(pop.org[acct] >= 0, 1_000_000 + pop.org[acct], -1 - acct))
    replay_ref = _previous_in_group(issued, group, ts_ms, acct, same_account=False)
    wants_replay = rng.random(m) < pop.replay[acct]
    wants_own = rng.random(m) < pop.continuation[acct]
    sent = pc.if_else(
        pa.array(wants_replay), replay_ref, pc.if_else(pa.array(wants_own), own_ref, pa.scalar(None, pa.string()))
    )

    account_id = pa.array(pop.account_id).take(pa.array(acct))
    generation = day_index // pop.key_period[acct]
    key_suffix = pc.binary_join_element_wise(
        pa.array(generation).cast(pa.string()), pa.array(draw % pop.keys[acct]).cast(pa.string()), "_"
    )
    agent = np.where(rng.random(m) < pop.second_agent_share[acct], pop.second_agent[acct], pop.user_agent[acct])
    agent = np.where(pop.many_agents[acct], rng.integers(0, len(USER_AGENTS), m), agent)
    table = pa.table(
        {
            "request_id": request_id,
            "ts_ms": pa.array(ts_ms),
            "account_id": account_id,
            "api_key_id": pc.binary_join_element_wise(
                pc.replace_substring(account_id, "acct_", "key_"), key_suffix, "_"
            ),
            "model": pa.array(MODELS).take(pa.array(model)),
            "endpoint": pa.array(["messages", "completions", "batch"]).take(pa.array(endpoint)),
            "status": pa.array(status),
            "prompt_tokens": pa.array(prompt_tokens),
            "completion_tokens": pa.array(completion),
            "cost_usd": pa.array(cost),
            "org_id": _nullable(
                pc.binary_join_element_wise("org", pa.array(pop.org[acct]).cast(pa.string()), "_"), pop.org[acct] >= 0
            ),
            "reasoning_tokens": _nullable(pa.array(reasoning_tokens), reasoning_tokens >= 0),
            "latency_ms": _nullable(pa.array(latency), ~failed),
            "client_ip": _nullable(_ip_strings(prefix, host, pop.ipv6[acct] & ~abroad), geo_known),
            "asn": _nullable(pa.array(asn), geo_known),
            "asn_kind": _nullable(pa.array(ASN_KINDS).take(pa.array(_POOL_KIND[pool])), geo_known),
            "country": _nullable(pa.array(COUNTRIES).take(pa.array(offset % NC)), geo_known),
            "user_agent": _nullable(pa.array(USER_AGENTS).take(pa.array(agent)), rng.random(m) > 0.02),
            "temperature": pa.array(temperature),
            "max_tokens": pa.array(max_tokens),
            "n": pa.array(n_choices),
            "logprobs": pa.array(logprobs),
            "tools": pa.array(tools),
            "stream": pa.array(rng.random(m) < 0.4),
            "has_params": pa.array(rng.random(m) > 0.05),
            "system_prompt_sha256": _nullable(_sha_hex(np.maximum(pop.system_prompt[acct], 0)), has_system),
            "prompt_text": _nullable(text, ~pop.zdr[acct]),
            "finish_reason": pa.array(["stop", "length", "tool_use", "content_filter", "error"]).take(pa.array(finish)),
            "reasoning_ref_issued": issued,
            "reasoning_refs_sent": sent,
        }
    )
    return table.take(pa.array(np.argsort(ts_ms, kind="stable")))
