"""Extraction intent of a prompt, scored on the engine in batches (the one Python step).

The scorer is learned (models/intent.py): hashed character n-grams and a linear model,
trained on the prompts of accounts in decided incidents, so it reads any language and
any wording the labelled campaigns used, and no phrase list lives in the code. It runs
through ``mapInPandas`` over the distinct prompt texts only (one column through Arrow,
each text scored once), and works the same over Spark Connect on Sail and on Apache
Spark. The text is cut to ``text_chars`` characters on the engine before it crosses into
Python.

Version rule: the features of day D use the newest intent model whose ``as_of`` (last
incident decision it could see) is on or before D; with none, the intent columns are
null (never zero: "not scored" is not "no intent").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from sklearn.base import clone
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize

SCORES_SCHEMA = "scored_text string, intent_score double"


@dataclass(frozen=True)
class IntentScorer:
    """A fitted text pipeline (``predict_proba`` on a sequence of strings), its operating
    threshold, and which registered version it is."""

    pipeline: Any
    threshold: float
    version: str
    as_of: str
    text_chars: int


def _by_words(pipeline: Any) -> bool:
    """A hashed ``char_wb`` vectorizer and one classifier: n-grams never cross a word."""
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return False
    vectorizer = pipeline.steps[0][1]
    return (
        isinstance(vectorizer, HashingVectorizer)
        and vectorizer.analyzer == "char_wb"
        and vectorizer.input == "content"
        and vectorizer.preprocessor is None
        and vectorizer.strip_accents is None
        and not vectorizer.binary
    )


def hashed_features(pipeline: Any, texts: list[str]) -> Any:
    """What the pipeline's vectorizer makes of ``texts`` (its ``transform``), bit for bit,
    and faster for the intent pipeline (models/intent.py).

    ``char_wb`` cuts n-grams inside each whitespace-separated word (padded with a space), so
    a text's hashed counts are the sum of its words' counts. Each distinct word is hashed
    once (words repeat across prompts far more than prompts do), the per-text counts are a
    sparse product of exact integers, and the normalisation is the vectorizer's own.
    """
    vectorizer = pipeline.steps[0][1]
    if not _by_words(pipeline):
        return vectorizer.transform(texts)
    words: dict[str, int] = {}
    indptr, indices = [0], []
    for text in texts:
        indices.extend(
            words.setdefault(w, len(words)) for w in (text.lower() if vectorizer.lowercase else text).split()
        )
        indptr.append(len(indices))
    if not words:  # only blank texts: nothing to hash
        return vectorizer.transform(texts)
    per_text = sp.csr_matrix(
        (np.ones(len(indices)), np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(texts), len(words)),
    )
    per_word = clone(vectorizer).set_params(lowercase=False, norm=None).transform(list(words))
    counts = (per_text @ per_word).tocsr()
    counts.sum_duplicates()
    return normalize(counts, norm=vectorizer.norm, copy=False) if vectorizer.norm is not None else counts


def predict_scores(pipeline: Any, texts: list[str]) -> np.ndarray:
    """``pipeline.predict_proba(texts)[:, 1]``, bit for bit: the classifier of the intent
    pipeline on ``hashed_features`` (any other pipeline scores on its own)."""
    if not _by_words(pipeline):
        return pipeline.predict_proba(texts)[:, 1]
    return pipeline.steps[1][1].predict_proba(hashed_features(pipeline, texts))[:, 1]


def text_scores(texts: DataFrame, scorer: IntentScorer) -> DataFrame:
    """(scored_text) -> (scored_text, intent_score): each distinct text once.

    A prompt's score depends on its (cut) text alone, row by row, so scoring each distinct
    text once gives every request the value it would get scored on its own; common prompts
    and templates repeat, within a day and across the days of a backfill.
    """
    pipeline = scorer.pipeline

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch) == 0:
                continue
            text = batch["scored_text"].astype(str)
            probability = predict_scores(pipeline, text.tolist())
            yield pd.DataFrame({"scored_text": text, "intent_score": probability})

    return texts.distinct().mapInPandas(score, SCORES_SCHEMA)


def with_intent(signals: DataFrame, scorer: IntentScorer | None) -> DataFrame:
    """Signals (with their ``prompt_text``, dropped here) plus ``intent_score``,
    ``intent_hit`` (score >= threshold) and ``intent_model_version``; all null without a
    scorer or without prompt text. The text is cut to ``text_chars`` on the engine."""
    columns = [c for c in signals.columns if c != "prompt_text"]
    if scorer is None:
        return signals.select(
            *columns,
            F.lit(None).cast("double").alias("intent_score"),
            F.lit(None).cast("boolean").alias("intent_hit"),
            F.lit(None).cast("string").alias("intent_model_version"),
        )
    cut = signals.withColumn("scored_text", F.substring(F.col("prompt_text"), 1, scorer.text_chars))
    scores = text_scores(cut.where(F.col("scored_text").isNotNull()).select("scored_text"), scorer)
    return cut.join(scores, "scored_text", "left").select(
        *columns,
        "intent_score",
        (F.col("intent_score") >= F.lit(scorer.threshold)).alias("intent_hit"),
        F.when(F.col("intent_score").isNotNull(), F.lit(scorer.version)).alias("intent_model_version"),
    )
