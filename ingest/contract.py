"""The landing-zone contract as Spark schemas, limits and quarantine reasons.

Every check that sends a line to quarantine is named here, so the reason codes stored in
the quarantine tables and the contract (/work/shared/contract/README.md) stay one list.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

REQUEST_LOGS = "request_logs"
ACCOUNTS = "accounts"
INCIDENTS = "incidents"
PARTNER_INDICATORS = "partner_indicators"
SOURCES = (REQUEST_LOGS, ACCOUNTS, INCIDENTS, PARTNER_INDICATORS)

# Quarantine reasons, in the order they are checked: a line gets the first that applies.
INVALID_UTF8 = "invalid_utf8"
MALFORMED_JSON = "malformed_json"
MALFORMED_CSV = "malformed_csv"
MISSING_REQUIRED = "missing_required"
WRONG_TYPE = "wrong_type"
FUTURE_TIMESTAMP = "future_timestamp"
PROMPT_TOO_LONG = "prompt_too_long"
REASONS = (INVALID_UTF8, MALFORMED_JSON, MALFORMED_CSV, MISSING_REQUIRED, WRONG_TYPE, FUTURE_TIMESTAMP, PROMPT_TOO_LONG)

MAX_PROMPT_CHARS = 4_000
MAX_REQUEST_ID_CHARS = 128
# A ts on or after the start of (folder date + FUTURE_DAYS) is a broken clock, not skew:
# skew of minutes into the next day is in the contract, a whole day beyond it is not.
FUTURE_DAYS = 2
ENDPOINTS = ("messages", "completions", "batch")
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

# request_logs: (key, type) in contract order; params and reasoning_refs_sent are parsed in
# a second step so a bad nested value cannot hide the top-level fields.
REQUIRED_REQUEST_FIELDS: tuple[tuple[str, DataType], ...] = (
    ("request_id", StringType()),
    ("ts", StringType()),
    ("account_id", StringType()),
    ("api_key_id", StringType()),
    ("model", StringType()),
    ("endpoint", StringType()),
    ("status", IntegerType()),
    ("prompt_tokens", LongType()),
    ("completion_tokens", LongType()),
    ("cost_usd", DoubleType()),
)
OPTIONAL_REQUEST_FIELDS: tuple[tuple[str, DataType], ...] = (
    ("org_id", StringType()),
    ("reasoning_tokens", LongType()),
    ("latency_ms", LongType()),
    ("client_ip", StringType()),
    ("asn", LongType()),
    ("asn_kind", StringType()),
    ("country", StringType()),
    ("user_agent", StringType()),
    ("params", StringType()),
    ("system_prompt_sha256", StringType()),
    ("prompt_text", StringType()),
    ("finish_reason", StringType()),
    ("reasoning_ref_issued", StringType()),
    ("reasoning_refs_sent", StringType()),
)
REQUEST_FIELDS = REQUIRED_REQUEST_FIELDS + OPTIONAL_REQUEST_FIELDS
NON_NEGATIVE_REQUEST_FIELDS = ("prompt_tokens", "completion_tokens", "cost_usd", "reasoning_tokens", "latency_ms")
PARAMS_FIELDS: tuple[tuple[str, DataType], ...] = (
    ("temperature", DoubleType()),
    ("top_p", DoubleType()),
    ("max_tokens", LongType()),
    ("n", LongType()),
    ("logprobs", BooleanType()),
    ("top_logprobs", LongType()),
    ("stream", BooleanType()),
    ("tools", LongType()),
)
REFS_TYPE = ArrayType(StringType())

ACCOUNT_FIELDS: tuple[tuple[str, DataType], ...] = (
    ("account_id", StringType()),
    ("org_id", StringType()),
    ("created_at", StringType()),
    ("signup_country", StringType()),
    ("billing_country", StringType()),
    ("kyc_tier", StringType()),
    ("plan", StringType()),
    ("payment_fingerprint", StringType()),
    ("email_domain", StringType()),
    ("zero_data_retention", BooleanType()),
)
REQUIRED_ACCOUNT_FIELDS = ("account_id", "created_at", "kyc_tier", "plan", "zero_data_retention")
KYC_TIERS = ("none", "basic", "verified", "enterprise")
PLANS = ("free", "payg", "scale", "enterprise")

INCIDENT_COLUMNS = ("incident_id", "account_id", "label", "window_start", "window_end", "decided_on", "source")
INCIDENT_LABELS = ("distillation", "benign", "other_abuse")
INCIDENT_SOURCES = ("enforcement_review", "partner_report", "red_team")
INDICATOR_COLUMNS = ("indicator_type", "value", "partner", "first_seen", "confidence")
INDICATOR_TYPES = ("payment_fingerprint_hmac", "ip_prefix", "prompt_template_hash")


def struct(fields: tuple[tuple[str, DataType], ...], as_strings: bool = False) -> StructType:
    """The contract's struct, or its all-string shadow (which never fails on a type)."""
    return StructType([StructField(name, StringType() if as_strings else kind) for name, kind in fields])
