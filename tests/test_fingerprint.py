"""Template fingerprint: the Spark column equals the documented Python reference."""

from __future__ import annotations

import hashlib

from pyspark.sql import SparkSession

from distillguard.features.fingerprint import normalize, template_fingerprint, template_fingerprint_column

TEXTS = [
    "Solve: 3033 * 1245 - 4536. Show  your reasoning\tstep by step",
    "Solve: 12 * 7 - 5. Show your reasoning step by step",
    'Summarize this review: "great service, will buy again"',
    "Why does parse_row12 throw `KeyError` in Python?",
    None,
]


def test_reference_normalisation_by_hand() -> None:
    assert normalize(TEXTS[0]) == "solve: <v> * <v> - <v> . show your reasoning step by step"
    assert normalize(TEXTS[2]) == "summarize this review: <q>"
    assert normalize(TEXTS[3]) == "why does <v> throw <q> in python?"
    assert template_fingerprint(TEXTS[0]) == template_fingerprint(TEXTS[1])
    assert template_fingerprint(TEXTS[2]) == hashlib.sha256(b"summarize this review: <q>").hexdigest()
    assert template_fingerprint(None) is None


def test_spark_column_matches_reference(engine: SparkSession) -> None:
    df = engine.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "id int, text string")
    got = {r.id: r.fp for r in df.select("id", template_fingerprint_column(df.text).alias("fp")).collect()}
    assert got == {i: template_fingerprint(t) for i, t in enumerate(TEXTS)}
