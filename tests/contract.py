"""An independent, plain-Python reading of the landing-zone contract, for tests only.

It classifies a request_logs line the way the generator's fault classes are named, so a
test can check that every line satisfies the contract except the injected faults.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

REQUIRED = {
    "request_id": str,
    "ts": str,
    "account_id": str,
    "api_key_id": str,
    "model": str,
    "endpoint": str,
    "status": int,
    "prompt_tokens": int,
    "completion_tokens": int,
    "cost_usd": (int, float),
}
OPTIONAL = {
    "org_id": str,
    "reasoning_tokens": int,
    "latency_ms": int,
    "client_ip": str,
    "asn": int,
    "asn_kind": str,
    "country": str,
    "user_agent": str,
    "params": dict,
    "system_prompt_sha256": str,
    "prompt_text": str,
    "finish_reason": str,
    "reasoning_ref_issued": str,
    "reasoning_refs_sent": list,
}
NON_NEGATIVE = ("prompt_tokens", "completion_tokens", "cost_usd", "reasoning_tokens", "latency_ms")
ENUMS = {
    "endpoint": {"messages", "completions", "batch"},
    "asn_kind": {"residential", "mobile", "hosting", "proxy_vpn", "unknown"},
    "finish_reason": {"stop", "length", "tool_use", "content_filter", "error"},
}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
PROMPT_LIMIT = 4_000
FUTURE_TOLERANCE = timedelta(days=1)


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _type_ok(value: object, expected: type | tuple) -> bool:
    if isinstance(value, bool) and expected is not bool:
        return False
    return isinstance(value, expected)


def classify(raw: bytes, folder: date) -> tuple[str | None, dict | None]:
    """(fault class or None, parsed record) for one request_logs line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return "malformed_json", None
    if not isinstance(record, dict):
        return "malformed_json", None
    if any(key not in record or record[key] is None for key in REQUIRED):
        return "missing_required", None
    for key, expected in {**REQUIRED, **OPTIONAL}.items():
        value = record.get(key)
        if value is not None and not _type_ok(value, expected):
            return "wrong_type", None
    if any((record.get(key) or 0) < 0 for key in NON_NEGATIVE):
        return "wrong_type", None
    if any(record.get(key) is not None and record[key] not in allowed for key, allowed in ENUMS.items()):
        return "wrong_type", None
    if not RFC3339.match(record["ts"]) or not 1 <= len(record["request_id"]) <= 128:
        return "wrong_type", None
    if parse_ts(record["ts"]).date() > folder + FUTURE_TOLERANCE:
        return "future_timestamp", None
    if len(record.get("prompt_text") or "") > PROMPT_LIMIT:
        return "huge_prompt", None
    return None, record
