"""Per-request signals on both engines, values worked out by hand."""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import SparkSession

from distillguard.features.fingerprint import template_fingerprint
from distillguard.features.request_signals import request_signals
from tests.rows import raw_frame, request

KEY = b"k" * 32


def _signals(spark: SparkSession, rows: list[dict]) -> dict:
    return {r.request_id: r for r in request_signals(raw_frame(spark, rows), KEY).collect()}


def test_ip_prefix_and_keyed_hash(engine: SparkSession) -> None:
    got = _signals(engine, [
        request("r1", "a", "2026-11-03T10:00:00", client_ip="23.1.2.3"),
        request("r2", "a", "2026-11-03T10:00:01", client_ip="2A02:001a:2b::5"),
        request("r3", "a", "2026-11-03T10:00:02", client_ip="2a02:1a::7"),
        request("r4", "a", "2026-11-03T10:00:03", client_ip=None),
    ])
    assert [got[r].ip_prefix for r in ("r1", "r2", "r3", "r4")] == \
        ["23.1.2.0/24", "2a02:1a:2b::/48", "2a02:1a:0::/48", None]
    assert got["r1"].ip_hash == hmac.new(KEY, b"23.1.2.3", hashlib.sha256).hexdigest()
    assert got["r4"].ip_hash is None
    assert "client_ip" not in got["r1"].asDict() and "prompt_text" not in got["r1"].asDict()


def test_content_signals(engine: SparkSession) -> None:
    cot = "Solve the following problem. Show your complete reasoning step by step: 12 * 7 - 5"
    got = _signals(engine, [
        request("r1", "a", "2026-11-03T10:00:00", prompt_text=cot),
        request("r2", "a", "2026-11-03T10:00:01", prompt_text="Implement a trie in rust with unit tests."),
        request("r3", "a", "2026-11-03T10:00:02", prompt_text="Plan the trip", tools=3),
        request("r4", "a", "2026-11-03T10:00:03", prompt_text="what is game theory in plain words"),
        request("r5", "a", "2026-11-03T10:00:04", prompt_text=None, finish_reason="length"),
        request("r6", "a", "2026-11-03T10:00:05", prompt_text="Question 4: what is 3 times 9? Let's think step by step."),
    ])
    assert got["r1"].template_fp == template_fingerprint(cot)
    assert [got[r].cot_elicitation for r in ("r1", "r2", "r4", "r5", "r6")] == [True, False, False, None, True]
    assert [got[r].capability for r in ("r1", "r2", "r3", "r4", "r5", "r6")] == \
        ["math_reasoning", "coding", "agentic_tool_use", "general_chat", None, "math_reasoning"]
    assert (got["r5"].has_prompt, got["r5"].template_fp, got["r5"].prompt_chars) == (False, None, None)
    assert got["r1"].prompt_chars == len(cot)
    assert [got[r].hit_max_tokens for r in ("r1", "r5")] == [False, True]
    assert got["r4"].prefix_fp == hashlib.sha256(b"what is game theory in plain words"[:40]).hexdigest()
