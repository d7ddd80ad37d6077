"""Extraction intent of a prompt, scored on the engine in batches (the one Python step).

The scorer is learned (models/intent.py): hashed character n-grams and a linear model,
trained on the prompts of accounts in decided incidents, so it reads any language and
any wording the labelled campaigns used, and no phrase list lives in the code. It runs
through ``mapInPandas`` over (request_id, prompt_text) only, so Arrow carries two
columns, and works the same over Spark Connect on Sail and on Apache Spark. The text is
cut to ``text_chars`` characters on the engine before it crosses into Python.

Version rule: the features of day D use the newest intent model whose ``as_of`` (last
incident decision it could see) is on or before D; with none, the intent columns are
null (never zero: "not scored" is not "no intent").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SCORES_SCHEMA = "request_id string, intent_score double"


@dataclass(frozen=True)
class IntentScorer:
    """A fitted text pipeline (``predict_proba`` on a sequence of strings), its operating
    threshold, and which registered version it is."""

    pipeline: Any
    threshold: float
    version: str
    as_of: str
    text_chars: int


def prompt_scores(prompts: DataFrame, scorer: IntentScorer) -> DataFrame:
    """(request_id, prompt_text) -> (request_id, intent_score) for rows with text."""
    pipeline = scorer.pipeline

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch) == 0:
                continue
            probability = pipeline.predict_proba(batch["prompt_text"].astype(str).tolist())[:, 1]
            yield pd.DataFrame({"request_id": batch["request_id"].astype(str), "intent_score": probability})

    text = F.substring(F.col("prompt_text"), 1, scorer.text_chars)
    return (
        prompts.where(F.col("prompt_text").isNotNull())
        .select("request_id", text.alias("prompt_text"))
        .mapInPandas(score, SCORES_SCHEMA)
    )


def with_intent(signals: DataFrame, prompts: DataFrame, scorer: IntentScorer | None) -> DataFrame:
    """Signals plus ``intent_score``, ``intent_hit`` (score >= threshold) and
    ``intent_model_version``; all null without a scorer or without prompt text."""
    if scorer is None:
        return signals.select(
            "*",
            F.lit(None).cast("double").alias("intent_score"),
            F.lit(None).cast("boolean").alias("intent_hit"),
            F.lit(None).cast("string").alias("intent_model_version"),
        )
    scores = prompt_scores(prompts, scorer)
    return signals.join(scores, "request_id", "left").select(
        *signals.columns,
        "intent_score",
        (F.col("intent_score") >= F.lit(scorer.threshold)).alias("intent_hit"),
        F.when(F.col("intent_score").isNotNull(), F.lit(scorer.version)).alias("intent_model_version"),
    )
