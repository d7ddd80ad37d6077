"""One day's requests for a slice of accounts, as an Arrow table of contract fields."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.synthetic.population import Population, family_table, hash_hex
from distillguard.synthetic.prompts import FAMILY_INDEX, VARIANT_BASE, VARIANT_COUNT, render
from distillguard.synthetic.scenario import (ARCHETYPES, ASN_KINDS, COUNTRIES, HOUR_PROFILES,
                                             MODEL_PRICES, MODELS, PREFIX_POOLS, USER_AGENTS)

_CUM_FAMILIES, _ = family_table()
_HOUR_CDF = np.cumsum(np.array([np.array(w, float) / sum(w) for w in HOUR_PROFILES.values()]), axis=1)
_MODEL_CDF = np.cumsum(np.array([a.model_weights for a in ARCHETYPES], float), axis=1)
FIRST_OCTETS = np.array([23, 37, 45, 51, 62, 77, 81, 89])
_HEX4 = pa.array([f"{i:x}" for i in range(1 << 16)])  # unpadded, as IPv6 hextets are written
_POOL_STARTS = np.array([start for start, _, _ in PREFIX_POOLS.values()])
_POOL_ORDER = np.argsort(_POOL_STARTS)
_POOL_KIND = np.array([ASN_KINDS.index(kind) for _, _, kind in PREFIX_POOLS.values()])
_PRICE_IN = np.array([MODEL_PRICES[m][0] for m in MODELS])
_PRICE_OUT = np.array([MODEL_PRICES[m][1] for m in MODELS])
_REASONING_MODEL = MODELS.index("atlas-4-reasoning")
_AGENT_FAMILY = FAMILY_INDEX["agent_tool"]


def _arch_attr(name: str) -> np.ndarray:
    return np.array([getattr(a, name) for a in ARCHETYPES])


def _pick(options: list[tuple], arch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform draw per row from a per-archetype tuple of options."""
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
    rank_sorted = np.arange(keys.size) - np.repeat(starts, sizes)
    rank = np.empty(keys.size, dtype=np.int64)
    rank[order] = rank_sorted
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
    v6_text = pc.binary_join_element_wise("2a02", hi, lo, pc.binary_join_element_wise(
        "", _HEX4.take(pa.array(host)), ""), ":")
    v6_text = pc.replace_substring_regex(v6_text, r":([0-9a-f]+)$", r"::\1")
    return pc.if_else(pa.array(v6), v6_text, v4)


def _sha_hex(ids: np.ndarray) -> pa.Array:
    """A SHA-256-shaped (64 hex digit) stand-in digest of each account's system prompt."""
    return pc.binary_join_element_wise(*[hash_hex(ids, salt) for salt in (11, 12, 13, 14)], "")


def _previous_in_group(values: pa.Array, group: np.ndarray, ts_ms: np.ndarray, acct: np.ndarray,
                       same_account: bool) -> pa.Array:
    """For each row, ``values`` of the previous row (by time) of its group, else null.

    With ``same_account`` False, the previous row must come from another account of the
    group: that is how a reasoning block issued to one account gets replayed by another.
    """
    order = np.lexsort((ts_ms, group))
    linked = group[order][1:] == group[order][:-1]
    if not same_account:
        linked &= acct[order][1:] != acct[order][:-1]
    previous = np.full(group.size, -1, dtype=np.int64)
    previous[order[1:]] = np.where(linked, order[:-1], -1)
    return values.take(pa.array(previous, mask=previous < 0))


def day_requests(pop: Population, day: date, accounts: np.ndarray, counts: np.ndarray,
                 first_row: int, rng: np.random.Generator) -> pa.Table:
    """Requests of ``accounts`` (``counts`` each) on ``day``, sorted by timestamp."""
    acct = np.repeat(accounts, counts)
    m = acct.size
    arch = pop.archetype[acct]
    is_attack = pop.campaign[acct] >= 0

    # When: human rhythms by local hour; scripts at a steady cadence; eval sweeps in bursts.
    local_hour = _inverse_cdf(_HOUR_CDF[pop.hours[acct]], rng.random(m))
    second = ((local_hour - pop.tz_offset[acct]) % 24) * 3600 + rng.random(m) * 3600
    automated = _arch_attr("automated")[arch]
    burst = _arch_attr("burst")[arch]
    rank, size = _rank_within(acct)
    phase = (pop.variant_bias[acct] * 7919 + day.toordinal() * 104_729) % 86_400
    span = np.where(burst, 4 * 3600.0, 86_400.0)
    cadence = phase + rank * (span / np.maximum(size, 1)) + rng.normal(0, 1.5, m)
    second = np.where(automated, cadence % 86_400, second)
    day_ms = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
    ts_ms = day_ms + (second * 1000).astype(np.int64)

    # What: template family and paraphrase variant, model, parameters.
    family = _inverse_cdf(_CUM_FAMILIES[arch], rng.random(m))
    paraphrase = _arch_attr("paraphrase")[arch]
    own_variant = (pop.variant_bias[acct] % VARIANT_COUNT[family])
    any_variant = rng.integers(0, 1 << 16, m) % VARIANT_COUNT[family]
    variant = VARIANT_BASE[family] + np.where(rng.random(m) < 0.2 + paraphrase, any_variant, own_variant)
    prefix_id = np.where(rng.random(m) < paraphrase, rng.integers(1, 8, m), 0)
    text = render(variant, prefix_id, rng)
    zdr = pop.zdr[acct]
    model = _inverse_cdf(_MODEL_CDF[arch], rng.random(m))
    batch = rng.random(m) < _arch_attr("batch_share")[arch]
    endpoint = np.where(batch, 2, np.where(rng.random(m) < 0.1, 1, 0))
    status = np.select([rng.random(m) < 0.01, rng.random(m) < 0.005], [429, 500], 200)
    max_tokens = _pick([a.max_tokens for a in ARCHETYPES], arch, rng).astype(np.int64)
    temperature = _pick([a.temperature for a in ARCHETYPES], arch, rng)
    logprobs = rng.random(m) < _arch_attr("logprobs_share")[arch]
    n_choices = np.where(rng.random(m) < _arch_attr("n_gt1_share")[arch], rng.integers(2, 5, m), 1)
    tools = np.where((family == _AGENT_FAMILY) | (rng.random(m) < _arch_attr("tools_share")[arch]),
                     rng.integers(3, 9, m), 0)

    # How much: tokens, finish reason, cost.
    length_hit = rng.random(m) < _arch_attr("length_share")[arch]
    completion = rng.lognormal(np.log(_arch_attr("completion_median")[arch]), 0.6).astype(np.int64)
    completion = np.where(length_hit, max_tokens, np.minimum(completion, max_tokens - 1))
    finish = np.where(length_hit, 1, np.where((tools > 0) & (rng.random(m) < 0.4), 2, 0))
    finish = np.where(rng.random(m) < 0.002, 3, finish)
    failed = status != 200
    completion = np.where(failed, 0, completion)
    finish = np.where(failed, 4, finish)
    has_system = pop.system_prompt[acct] >= 0
    text_len = pc.utf8_length(text).to_numpy()
    prompt_tokens = (text_len // 4 + 1 + np.where(has_system, 350, 0)
                     + rng.lognormal(4.5, 1.0, m).astype(np.int64))
    reasoning = np.where(model == _REASONING_MODEL, (completion * rng.uniform(0.3, 0.7, m)).astype(np.int64), -1)
    cost = (prompt_tokens * _PRICE_IN[model] + completion * n_choices * _PRICE_OUT[model]) / 1e6
    cost = np.round(np.where(batch, cost * 0.5, cost), 6)
    latency = (250 + completion * rng.uniform(8, 20, m)).astype(np.int64)

    # Where from: prefixes from the account's pool, rotating per request for proxy users.
    prefix = pop.prefix_start[acct] + rng.integers(0, 1 << 30, m) % pop.prefix_count[acct]
    rotating = _arch_attr("rotate_ips")[arch] & is_attack
    host = np.where(rotating, rng.integers(2, 254, m), pop.host[acct] + rng.integers(0, 2, m))
    pool = _POOL_ORDER[np.searchsorted(_POOL_STARTS[_POOL_ORDER], prefix, side="right") - 1]
    asn_kind = _POOL_KIND[pool]
    asn = 1000 + pool * 10_000 + (prefix - _POOL_STARTS[pool]) // 50
    country = np.where(rotating, rng.integers(0, len(COUNTRIES), m), pop.country[acct])
    geo_known = rng.random(m) > 0.02

    # Multi-turn: send back our own earlier reasoning block; hydras replay another account's.
    request_id = pc.binary_join_element_wise(
        f"req_{day:%Y%m%d}", pc.utf8_lpad(pa.array(first_row + np.arange(m)).cast(pa.string()), 10, "0"),
        pa.array(rng.integers(0, 1 << 16, m)).cast(pa.string()), "_")
    issued = _nullable(pc.binary_join_element_wise("rs", request_id, "_"),
                       (model == _REASONING_MODEL) & ~failed)
    own_ref = _previous_in_group(issued, acct, ts_ms, acct, same_account=True)
    replay_ref = _previous_in_group(issued, pop.campaign[acct], ts_ms, acct, same_account=False)
    wants_replay = is_attack & (rng.random(m) < _arch_attr("replay_share")[arch])
    wants_own = rng.random(m) < _arch_attr("continuation_share")[arch]
    sent = pc.if_else(pa.array(wants_replay), replay_ref,
                      pc.if_else(pa.array(wants_own), own_ref, pa.scalar(None, pa.string())))

    account_id = pa.array(pop.account_id).take(pa.array(acct))
    key_index = pa.array(rng.integers(0, 1 << 20, m) % pop.keys[acct]).cast(pa.string())
    table = pa.table({
        "request_id": request_id,
        "ts_ms": pa.array(ts_ms),
        "account_id": account_id,
        "api_key_id": pc.binary_join_element_wise(pc.replace_substring(account_id, "acct_", "key_"), key_index, "_"),
        "model": pa.array(MODELS).take(pa.array(model)),
        "endpoint": pa.array(["messages", "completions", "batch"]).take(pa.array(endpoint)),
        "status": pa.array(status),
        "prompt_tokens": pa.array(prompt_tokens),
        "completion_tokens": pa.array(completion),
        "cost_usd": pa.array(cost),
        "org_id": _nullable(pc.binary_join_element_wise("org", pa.array(pop.org[acct]).cast(pa.string()), "_"),
                            pop.org[acct] >= 0),
        "reasoning_tokens": _nullable(pa.array(reasoning), reasoning >= 0),
        "latency_ms": _nullable(pa.array(latency), ~failed),
        "client_ip": _nullable(_ip_strings(prefix, host, pop.ipv6[acct]), geo_known),
        "asn": _nullable(pa.array(asn), geo_known),
        "asn_kind": _nullable(pa.array(ASN_KINDS).take(pa.array(asn_kind)), geo_known),
        "country": _nullable(pa.array(COUNTRIES).take(pa.array(country)), geo_known),
        "user_agent": _nullable(pa.array(USER_AGENTS).take(pa.array(pop.user_agent[acct])), rng.random(m) > 0.02),
        "temperature": pa.array(temperature),
        "max_tokens": pa.array(max_tokens),
        "n": pa.array(n_choices),
        "logprobs": pa.array(logprobs),
        "tools": pa.array(tools),
        "stream": pa.array(rng.random(m) < 0.4),
        "has_params": pa.array(rng.random(m) > 0.05),
        "system_prompt_sha256": _nullable(_sha_hex(pop.system_prompt[acct]), has_system),
        "prompt_text": _nullable(text, ~zdr),
        "finish_reason": pa.array(["stop", "length", "tool_use", "content_filter", "error"]).take(pa.array(finish)),
        "reasoning_ref_issued": issued,
        "reasoning_refs_sent": sent,
    })
    return table.take(pa.array(np.argsort(ts_ms, kind="stable")))
