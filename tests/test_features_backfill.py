"""A backfill builds the daily tables of many dates in one pass: it must write exactly what
runs of each date alone write, including each date's own intent model.

The job runs on Delta (Sail, as tests/test_features_job.py): hand landing
(tests/landing.py), 4 days of 10 requests, 3 accounts, intent models registered with
``as_of`` 2026-11-02 (version 1) and 2026-11-04 (version 2), so the batch holds three
groups: no scorer, version 1, version 2. The signals transformation that scores and
sketches each distinct text once runs on both engines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import mlflow
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import INTENT, INTENT_MODEL_NAME, Lakehouse, Table
from distillguard.features.intent import IntentScorer, predict_scores
from distillguard.features.request_signals import request_signals
from distillguard.features.sketches import template_sketches
from distillguard.jobs import features, ingest
from distillguard.models import intent, registry
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, PSEUDONYM_KEY_ENV
from tests import landing as hand
from tests.rows import raw_frame, request

DAYS = [date(2026, 11, d) for d in (1, 2, 3, 4)]
BACK_DATED = "ip_prefix,203.2.0.0/24,lab-y,2026-11-01,0.8"
TEXT_CHARS = 40  # "secret prompt number <date> file <f> l": each cut text is shared by 5 requests
DAILY = (
    (Table.REQUEST_SIGNALS, "event_date"),
    (Table.MODEL_DAILY, "feature_date"),
    (Table.ACCOUNT_DAILY, "feature_date"),
    (Table.ACCOUNT_KEYS, "feature_date"),
)


def _register(lakehouse: Lakehouse, as_of: date, positive_file: int) -> None:
    """A tiny intent model (prompts of file ``positive_file`` are the positives)."""
    texts = [hand.prompt(d, f, line) for d in DAYS for f in (0, 1) for line in range(5)]
    labels = [int(f == positive_file) for d in DAYS for f in (0, 1) for line in range(5)]
    client = registry.client(lakehouse)
    with mlflow.start_run(experiment_id=registry.experiment_id(lakehouse, client, intent.EXPERIMENT_NAME)):
        info = mlflow.sklearn.log_model(
            intent.pipeline(INTENT).fit(texts, labels),
            name="model",
            pip_requirements=registry.pinned(*intent.PACKAGES),
        )
    mlflow.register_model(
        info.model_uri,
        INTENT_MODEL_NAME,
        tags={intent.AS_OF_TAG: as_of.isoformat(), intent.THRESHOLD_TAG: "0.5", intent.TEXT_CHARS_TAG: str(TEXT_CHARS)},
    )


@pytest.fixture
def own_mlflow_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lakehouse's own store, and none left behind: MLflow writes the URIs it is given
    into the environment, where ``registry.client`` of a later test would read them."""
    names = ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV)
    for name in names:
        monkeypatch.delenv(name, raising=False)
    yield
    for name in names:
        os.environ.pop(name, None)


@pytest.fixture
def ingested(sail: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_mlflow_store: None) -> Lakehouse:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "partner-key")
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "pseudonym-key")
    home = Lakehouse(home=tmp_path / "home", landing=tmp_path / "landing")
    hand.build(home.landing, DAYS)
    for day in DAYS:
        if day == DAYS[2]:
            # Ingested on day 3, back-dated to day 1: it covers day 2's file-0 addresses
            # (203.2.0.x), yet a backfill of day 2 must not see it.
            hand.write_csv(home.landing, "partner_indicators", "partner-002.csv", [BACK_DATED])
        ingest.run(sail, home, day)
    _register(home, DAYS[1], positive_file=0)
    _register(home, DAYS[3], positive_file=1)
    return home


def _sketch_of_each_request(raw: DataFrame) -> dict[str, list[int]]:
    """The sketch of each request's own prompt, computed request by request (the signals
    sketch each template once); requests without a sketch are absent."""
    return {r.request_id: r.template_sketch for r in template_sketches(raw, "request_id", "prompt_text").collect()}


def _snapshot(spark: SparkSession, lakehouse: Lakehouse) -> dict[Table, list[tuple]]:
    out = {}
    for table, column in DAILY:
        df = tables.read(spark, lakehouse, table).where(F.col(column).isin(*DAYS))
        out[table] = sorted(tuple(str(v) for v in r) for r in df.select(sorted(df.columns)).collect())
    return out


def test_backfill_batch_equals_day_by_day_runs(sail: SparkSession, ingested: Lakehouse) -> None:
    key = b"pseudonym-key"
    with tables.scratch(ingested):
        assert features.daily_batch(sail, ingested, DAYS, key) == {d.isoformat(): 3 for d in DAYS}
        batch = _snapshot(sail, ingested)
        for day in DAYS:
            assert features.daily_step(sail, ingested, day, key) == 3
        by_day = _snapshot(sail, ingested)
    for table, _ in DAILY:
        assert batch[table] == by_day[table], table
    assert [len(batch[table]) for table, _ in DAILY[:3]] == [40, 4, 12]
    # Point in time per date: day 1's file 0 (5 requests) is in the indicator ingested on
    # day 1; the indicator back-dated on day 3 reaches no date of the batch.
    daily = tables.read(sail, ingested, Table.ACCOUNT_DAILY).where(F.col("feature_date").isin(*DAYS))
    partner = {
        r.feature_date: r.hits
        for r in daily.groupBy("feature_date").agg(F.sum("partner_prefix_requests").alias("hits")).collect()
    }
    assert partner == {DAYS[0]: 5, DAYS[1]: 0, DAYS[2]: 0, DAYS[3]: 0}

    signals = tables.read(sail, ingested, Table.REQUEST_SIGNALS).where(F.col("event_date").isin(*DAYS)).collect()
    versions = {r.event_date: r.intent_model_version for r in signals}
    assert versions == {DAYS[0]: None, DAYS[1]: "1", DAYS[2]: "1", DAYS[3]: "2"}
    # Each request carries the score its own (cut) prompt gets from its date's model, and
    # the sketch of its own prompt, though each distinct text was scored and sketched once.
    models = {v: intent.scorer_as_of(ingested, d).pipeline for d, v in versions.items() if v}
    for r in signals:
        if r.intent_model_version is None:
            continue
        _, file, line = r.request_id.rsplit("-", 2)
        text = hand.prompt(r.event_date, int(file), int(line))[:TEXT_CHARS]
        assert r.intent_score == models[r.intent_model_version].predict_proba([text])[0, 1]
    raw = tables.read(sail, ingested, Table.RAW_REQUESTS)
    own = _sketch_of_each_request(raw)
    assert {r.request_id: r.template_sketch for r in signals if r.template_sketch is not None} == own


def test_signals_give_each_request_the_score_and_sketch_of_its_own_text(engine: SparkSession) -> None:
    texts = ["Explain step by step: 12 + 30", "Explain step by step: 7 + 5", "hello there", "hello there", None, ""]
    fitted = intent.pipeline(INTENT).fit(["explain step by step", "hello there", "step by step", "hi"], [1, 0, 1, 0])
    scorer = IntentScorer(fitted, 0.5, "7", "2026-11-01", 12)
    rows = [request(f"r{i}", "a", f"2026-11-0{1 + i % 2}T10:00:0{i}", prompt_text=text) for i, text in enumerate(texts)]
    raw = raw_frame(engine, rows)
    got = {r.request_id: r for r in request_signals(raw, b"key", scorer).collect()}
    own = _sketch_of_each_request(raw)
    for i, text in enumerate(texts):
        r = got[f"r{i}"]
        assert r.template_sketch == own.get(f"r{i}")
        if text is None:
            assert (r.intent_score, r.intent_hit, r.intent_model_version, r.template_sketch) == (None, None, None, None)
        else:
            # Scored on its first 12 characters: r0 and r1 share "explain step" and one score.
            assert r.intent_score == fitted.predict_proba([text[:12]])[0, 1]
            assert (r.intent_hit, r.intent_model_version) == (r.intent_score >= 0.5, "7")
    assert got["r0"].intent_score == got["r1"].intent_score
    assert got["r0"].template_sketch == got["r1"].template_sketch  # same template: numbers are slots
    assert got["r2"].template_sketch is not None and got["r5"].template_sketch is None


def test_word_by_word_scores_are_the_pipelines_bit_for_bit() -> None:
    fitted = intent.pipeline(INTENT).fit(["explain step by step", "hello there", "step by step", "hi"], [1, 0, 1, 0])
    texts = ["ΑΣ ΟΔΟΣ", "İstanbul ŞEHİR", "a\tb\nc  d\u2028e\x1cf", "x" * 3000, "Hello HELLO hello", "", "step by step"]
    assert predict_scores(fitted, texts).tolist() == fitted.predict_proba(texts)[:, 1].tolist()
    assert predict_scores(fitted, ["", " "]).tolist() == fitted.predict_proba(["", " "])[:, 1].tolist()
    # Repeated words count once per occurrence, as the pipeline counts them.
    repeated = predict_scores(fitted, ["hello hello there", "hello there"])
    assert repeated.tolist() == fitted.predict_proba(["hello hello there", "hello there"])[:, 1].tolist()
    assert repeated[0] != repeated[1]
