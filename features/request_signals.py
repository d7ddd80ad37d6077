"""Per-request signals: the refined, PII-free view of a raw request.

Everything later in the pipeline reads this table, never the raw one: client_ip becomes an
IP prefix (IPv4 /24, IPv6 /48, in the CIDR form partners share) and a keyed hash
(HMAC-SHA256 under the pseudonym key, so it cannot be reversed by hashing candidate
addresses);
prompt_text becomes a template fingerprint, a prefix fingerprint and a learned
extraction-intent score (features/intent.py). No phrase list or regular expression
judges what a prompt asks for: wording, language and zero data retention would defeat
it. Native Spark functions except the batched intent scorer. Without prompt text (zero
data retention) the content signals are null, never a misleading false or zero; the
request metadata (tokens, parameters, finish reason, latency) is kept for every request.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillguard.features.fingerprint import normalized_column
from distillguard.features.intent import IntentScorer, with_intent
from distillguard.features.sketches import template_sketches
from distillguard.ingest.keyed_hash import hmac_sha256_hex

PREFIX_CHARS = 40
RAW_ONLY = ("client_ip", "prompt_text")
METADATA = (
    "request_id",
    "ts",
    "event_date",
    "account_id",
    "api_key_id",
    "org_id",
    "model",
    "endpoint",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_ms",
)
NETWORK_AND_PARAMETERS = (
    "asn",
    "asn_kind",
    "country",
    "user_agent",
    "temperature",
    "top_p",
    "max_tokens",
    "n",
    "logprobs",
    "top_logprobs",
    "stream",
    "tools",
    "system_prompt_sha256",
    "finish_reason",
    "reasoning_ref_issued",
    "reasoning_refs_sent",
)


def ip_prefix(ip: Column) -> Column:
    """``a.b.c.0/24`` for IPv4, ``x:y:z::/48`` for IPv6 (hextets without leading zeros)."""
    v4 = F.regexp_extract(ip, r"^([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3}$", 1)
    left = F.split(F.split(F.lower(ip), "::").getItem(0), ":")
    padded = F.slice(F.concat(left, F.array(F.lit("0"), F.lit("0"), F.lit("0"))), 1, 3)
    v6 = F.array_join(F.transform(padded, lambda g: F.lower(F.conv(g, 16, 16))), ":")
    return F.when(v4 != "", F.concat(v4, F.lit(".0/24"))).when(ip.contains(":"), F.concat(v6, F.lit("::/48")))


def request_signals(raw: DataFrame, ip_key: bytes, intent: IntentScorer | None = None) -> DataFrame:
    """Raw requests (one or more event dates) to the refined per-request table.

    ``intent``: the intent scorer in force for these dates (null intent columns without one).
    """
    text = F.col("prompt_text")
    normalized = normalized_column(text)
    signals = raw.select(
        *METADATA,
        ip_prefix(F.col("client_ip")).alias("ip_prefix"),
        hmac_sha256_hex(F.col("client_ip"), ip_key).alias("ip_hash"),
        *NETWORK_AND_PARAMETERS,
        text.isNotNull().alias("has_prompt"),
        F.length(text).alias("prompt_chars"),
        F.sha2(normalized, 256).alias("template_fp"),
        F.sha2(F.substring(normalized, 1, PREFIX_CHARS), 256).alias("prefix_fp"),
        ((F.col("finish_reason") == "length") | (F.col("completion_tokens") >= F.col("max_tokens"))).alias(
            "hit_max_tokens"
        ),
        text,
    )
    content = signals.join(_sketches(signals), "template_fp", "left").select(
        *signals.columns[: signals.columns.index("prefix_fp")],
        "template_sketch",
        *signals.columns[signals.columns.index("prefix_fp") :],
    )
    return with_intent(content, intent)


def _sketches(signals: DataFrame) -> DataFrame:
    """(template_fp, template_sketch) once per template.

    A sketch is a function of the normalised text alone (features/sketches.py cuts its
    shingles from it), and the template fingerprint is that text's SHA-256: any one prompt
    of a template gives every prompt of it the same sketch. Slot-filled prompts share a
    template, so the shingle hashing (the costly part) runs once per template instead of
    once per request.
    """
    representatives = (
        signals.where(F.col("template_fp").isNotNull())
        .groupBy("template_fp")
        .agg(F.min("prompt_text").alias("representative"))
    )
    return template_sketches(representatives, "template_fp", "representative")
