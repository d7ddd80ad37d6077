"""Contract-shaped JSON lines for requests and account snapshots."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.synthetic.jsonl import as_json, field, obj, write_gzip
from distillguard.synthetic.population import EMAIL_DOMAINS, KYC_TIERS, PAYMENT_SALT, PLANS, Population, hash_hex
from distillguard.synthetic.scenario import COUNTRIES


def rfc3339(ts_ms: np.ndarray, plus_offset: np.ndarray | None = None) -> pa.Array:
    """Millisecond RFC 3339 in UTC: ``Z``, or ``+00:00`` where ``plus_offset`` (both valid)."""
    text = pc.replace_substring(pa.array(ts_ms).cast(pa.timestamp("ms")).cast(pa.string()), " ", "T")
    suffix = pa.array(np.where(plus_offset, "+00:00", "Z")) if plus_offset is not None else pa.scalar("Z")
    return pc.binary_join_element_wise(text, suffix, "")


def request_lines(table: pa.Table, rng: np.random.Generator) -> pa.Array:
    """One JSON object per request, optional keys absent when null."""
    col = table.column
    logprobs = col("logprobs").combine_chunks()
    tools = col("tools").combine_chunks()
    params = obj(
        [
            field("temperature", col("temperature"), first=True),
            field("max_tokens", col("max_tokens")),
            field("n", col("n")),
            field("logprobs", logprobs),
            field("top_logprobs", pc.if_else(logprobs, 5, pa.scalar(None, pa.int64()))),
            field("stream", col("stream")),
            field("tools", pc.if_else(pc.greater(tools, 0), tools, pa.scalar(None, pa.int64()))),
        ]
    )
    params = pc.if_else(col("has_params"), params, pa.scalar(None, pa.string()))
    refs = pc.binary_join_element_wise("[", as_json(col("reasoning_refs_sent").combine_chunks()), "]", "")
    ts = rfc3339(col("ts_ms").to_numpy(), rng.random(table.num_rows) < 0.03)
    fragments = [field("request_id", col("request_id"), first=True), field("ts", ts)]
    fragments += [
        field(name, col(name))
        for name in (
            "account_id",
            "api_key_id",
            "model",
            "endpoint",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "org_id",
            "reasoning_tokens",
            "latency_ms",
            "client_ip",
            "asn",
            "asn_kind",
            "country",
            "user_agent",
        )
    ]
    fragments += [
        pc.fill_null(pc.binary_join_element_wise(',"params":', params, ""), ""),
        field("system_prompt_sha256", col("system_prompt_sha256"), explicit_null=True),
        field("prompt_text", col("prompt_text"), explicit_null=True),
        field("finish_reason", col("finish_reason")),
        field("reasoning_ref_issued", col("reasoning_ref_issued")),
        pc.fill_null(pc.binary_join_element_wise(',"reasoning_refs_sent":', refs, ""), ""),
    ]
    return obj([f.combine_chunks() if isinstance(f, pa.ChunkedArray) else f for f in fragments])


def _strings(pool: tuple[str, ...], index: np.ndarray, keep: np.ndarray | None = None) -> pa.Array:
    values = pa.array(pool).take(pa.array(index))
    return values if keep is None else pc.if_else(pa.array(keep), values, pa.scalar(None, pa.string()))


def account_table(pop: Population, start: date, day: int) -> tuple[pa.Table, np.ndarray]:
    """Snapshot of every account signed up by the end of ``day``; returns rows and their indices."""
    rows = np.flatnonzero(pop.created_day <= day)
    day0_ms = int(np.datetime64(start, "ms").astype(np.int64))
    created_ms = day0_ms + (pop.created_day[rows] * 86_400 + pop.created_second[rows]) * 1000
    payment = pop.payment[rows]
    return pa.table(
        {
            "account_id": pa.array(pop.account_id[rows]),
            "org_id": pc.if_else(
                pa.array(pop.org[rows] >= 0),
                pc.binary_join_element_wise("org", pa.array(pop.org[rows]).cast(pa.string()), "_"),
                pa.scalar(None, pa.string()),
            ),
            "created_at": rfc3339(created_ms),
            "signup_country": _strings(COUNTRIES, pop.country[rows]),
            "billing_country": _strings(COUNTRIES, pop.billing_country[rows], payment >= 0),
            "kyc_tier": _strings(KYC_TIERS, pop.kyc[rows]),
            "plan": _strings(PLANS, pop.plan[rows]),
            "payment_fingerprint": pc.if_else(
                pa.array(payment >= 0), hash_hex(payment, PAYMENT_SALT), pa.scalar(None, pa.string())
            ),
            "email_domain": _strings(EMAIL_DOMAINS, pop.email_domain[rows]),
            "zero_data_retention": pa.array(pop.zdr[rows]),
        }
    ), rows


def account_lines(table: pa.Table) -> pa.Array:
    names = table.column_names
    return obj(
        [
            field(name, table.column(name).combine_chunks(), first=(i == 0), explicit_null=True)
            for i, name in enumerate(names)
        ]
    )


def write_account_snapshot(path: Path, table: pa.Table) -> int:
    return write_gzip(path, account_lines(table))
