"""Per-request signals on both engines, values worked out by hand."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pyspark.sql import SparkSession

from distillguard.features.fingerprint import template_fingerprint
from distillguard.features.intent import IntentScorer
from distillguard.features.request_signals import request_signals
from distillguard.models.intent import pipeline
from tests.rows import raw_frame, request

KEY = b"k" * 32


def _signals(spark: SparkSession, rows: list[dict], intent: IntentScorer | None = None) -> dict:
    return {r.request_id: r for r in request_signals(raw_frame(spark, rows), KEY, intent).collect()}


def test_ip_prefix_and_keyed_hash(engine: SparkSession) -> None:
    got = _signals(
        engine,
        [
            request("r1", "a", "2026-11-03T10:00:00", client_ip="23.1.2.3"),
            request("r2", "a", "2026-11-03T10:00:01", client_ip="2A02:001a:2b::5"),
            request("r3", "a", "2026-11-03T10:00:02", client_ip="2a02:1a::7"),
            request("r4", "a", "2026-11-03T10:00:03", client_ip=None),
        ],
    )
    assert [got[r].ip_prefix for r in ("r1", "r2", "r3", "r4")] == [
        "23.1.2.0/24",
        "2a02:1a:2b::/48",
        "2a02:1a:0::/48",
        None,
    ]
    assert got["r1"].ip_hash == hmac.new(KEY, b"23.1.2.3", hashlib.sha256).hexdigest()
    assert got["r4"].ip_hash is None
    assert "client_ip" not in got["r1"].asDict() and "prompt_text" not in got["r1"].asDict()


def test_content_signals_without_an_intent_model(engine: SparkSession) -> None:
    text = "Solve the following problem. Show your complete reasoning step by step: 12 * 7 - 5"
    got = _signals(
        engine,
        [
            request("r1", "a", "2026-11-03T10:00:00", prompt_text=text),
            request("r4", "a", "2026-11-03T10:00:03", prompt_text="what is game theory in plain words"),
            request("r5", "a", "2026-11-03T10:00:04", prompt_text=None, finish_reason="length"),
        ],
    )
    assert got["r1"].template_fp == template_fingerprint(text)
    assert (got["r5"].has_prompt, got["r5"].template_fp, got["r5"].prompt_chars) == (False, None, None)
    assert got["r1"].prompt_chars == len(text)
    assert [got[r].hit_max_tokens for r in ("r1", "r5")] == [False, True]
    assert got["r4"].prefix_fp == hashlib.sha256(b"what is game theory in plain words"[:40]).hexdigest()
    # No model in force: not scored (null), never "no intent" (false).
    assert {(got[r].intent_score, got[r].intent_hit, got[r].intent_model_version) for r in got} == {(None, None, None)}
    assert not {"cot_elicitation", "capability"} & set(got["r1"].asDict())


def _scorer(threshold: float) -> IntentScorer:
    """A real fitted pipeline (sklearn objects pickle by reference, so engine workers load them)."""
    fitted = pipeline().fit(["aaaa aaaa", "aaab aaab", "zzzz zzzz", "zzzy zzzy"], [1, 1, 0, 0])
    return IntentScorer(fitted, threshold, "3", "2026-11-02", 6)


def test_intent_scores_in_batches_on_the_engine(engine: SparkSession) -> None:
    scorer = _scorer(0.5)
    got = _signals(
        engine,
        [
            request("r1", "a", "2026-11-03T10:00:00", prompt_text="aaaa aaaa"),
            request("r2", "a", "2026-11-03T10:00:01", prompt_text="zzzz zzzz"),
            request("r3", "b", "2026-11-03T10:00:02", prompt_text=None),
            request("r4", "b", "2026-11-03T10:00:03", prompt_text="aaaa azzzzzzzzzzzzzzzzzzzz"),
        ],
        scorer,
    )
    # Every text is cut to text_chars (6) on the engine before it is scored.
    expected = scorer.pipeline.predict_proba(["aaaa a", "zzzz z", "aaaa a"])[:, 1]
    assert [got[r].intent_score for r in ("r1", "r2", "r4")] == pytest.approx(list(expected))
    assert expected[0] > 0.5 > expected[1] and expected[2] > 0.5
    assert [got[r].intent_hit for r in ("r1", "r2", "r3", "r4")] == [True, False, None, True]
    assert [got[r].intent_model_version for r in ("r1", "r2", "r3")] == ["3", "3", None]
