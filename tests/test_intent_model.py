"""The prompt-level intent scorer: point-in-time training prompts (both engines), a fit on
non-Latin scripts, and the MLflow registry rule "newest as_of <= D" (Sail, Delta)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession

from distillguard import tables
from distillguard.config import INTENT, Lakehouse, Table
from distillguard.models import intent
from tests.rows import raw_frame, request

INCIDENTS = (
    "incident_id string, account_id string, label string, window_start date, window_end date, "
    "decided_on date, source string"
)
AS_OF = date(2026, 11, 10)


def _incidents(spark: SparkSession) -> DataFrame:
    d = lambda day: date(2026, 11, day)  # noqa: E731
    return spark.createDataFrame(
        [
            ("I1", "P", "distillation", d(2), d(5), d(8), "enforcement_review"),
            ("I2", "Q", "distillation", d(1), d(9), d(12), "partner_report"),  # decided after as_of
            ("I3", "Bn", "benign", d(1), d(20), d(9), "enforcement_review"),  # window capped at as_of
            ("I4", "O", "other_abuse", d(1), d(9), d(5), "enforcement_review"),
        ],
        INCIDENTS,
    )


def _raw(spark: SparkSession) -> DataFrame:
    return raw_frame(
        spark,
        [
            request("p0", "P", "2026-11-01T10:00:00", prompt_text="before the window"),
            request("p1", "P", "2026-11-03T10:00:00", prompt_text="alpha one"),
            request("p2", "P", "2026-11-04T10:00:00", prompt_text="alpha two"),
            request("p3", "P", "2026-11-05T10:00:00", prompt_text="alpha three"),
            request("p4", "P", "2026-11-06T10:00:00", prompt_text="after the window"),
            request("q1", "Q", "2026-11-04T10:00:00", prompt_text="quiet one"),
            request("b1", "Bn", "2026-11-09T10:00:00", prompt_text="benign one"),
            request("b2", "Bn", "2026-11-11T10:00:00", prompt_text="after as_of"),
            request("u1", "U", "2026-11-09T10:00:00", prompt_text="unlabelled"),
            request("u2", "U", "2026-10-01T10:00:00", prompt_text="too old"),
            request("u3", "U", "2026-11-09T11:00:00", prompt_text=None),
            request("o1", "O", "2026-11-04T10:00:00", prompt_text="other abuse"),
        ],
    )


SETTINGS = replace(INTENT, prompts_per_account=2, prompt_chars=5, unlabelled_sample_fraction=1.0)


def test_training_prompts_are_point_in_time(engine: SparkSession) -> None:
    got = intent.training_prompts(_raw(engine), _incidents(engine), AS_OF, SETTINGS).collect()
    by_account: dict[str, list] = {}
    for row in got:
        by_account.setdefault(row.account_id, []).append(row)
    assert sorted(by_account) == ["Bn", "P", "Q", "U"]
    # P: three prompts inside its window, two kept (hashed pick), labelled 1, cut to 5 characters.
    assert len(by_account["P"]) == 2 and {r.label for r in by_account["P"]} == {1}
    assert {r.request_id for r in by_account["P"]} <= {"p1", "p2", "p3"}
    assert {r.prompt_text for r in by_account["P"]} <= {"alpha"}
    # Q's incident is decided after as_of: on as_of Q is an unlabelled account.
    assert [(r.request_id, r.label) for r in by_account["Q"]] == [("q1", 0)]
    assert [(r.request_id, r.label, r.prompt_text) for r in by_account["Bn"]] == [("b1", 0, "benig")]
    assert [(r.request_id, r.label) for r in by_account["U"]] == [("u1", 0)]


POSITIVE = [
    "请详细写出你的完整推理过程，一步一步解释：{}",
    "把你的思考过程全部展示出来，每一步都要写：{}",
    "Покажи весь ход своих рассуждений шаг за шагом: {}",
    "Распиши подробно каждый шаг рассуждения для {}",
]
NEGATIVE = [
    "帮我写一封给房东的邮件，关于{}号公寓的维修",
    "今天北京天气怎么样，适合去{}公园吗",
    "Напиши письмо арендодателю о ремонте квартиры {}",
    "Какая погода будет в Москве в {} день",
]


def _prompts(accounts_per_class: int) -> pd.DataFrame:
    rows = []
    for label, templates in ((1, POSITIVE), (0, NEGATIVE)):
        for a in range(accounts_per_class):
            for i in range(12):
                rows.append(
                    {
                        "account_id": f"{label}-{a}",
                        "label": label,
                        "prompt_text": templates[(a + i) % len(templates)].format(17 * a + i),
                    }
                )
    return pd.DataFrame(rows)


def test_fit_reads_any_script_and_holds_out_whole_accounts() -> None:
    settings = replace(INTENT, calibration_every=2)
    fitted = intent.fit(_prompts(4), settings)
    assert fitted is not None
    # Two accounts per class held out: every held-out prompt ranks by class.
    assert fitted.metrics["holdout_prompt_roc_auc"] == 1.0
    assert (fitted.metrics["holdout_accounts"], fitted.metrics["train_accounts"]) == (4.0, 4.0)
    assert fitted.metrics["holdout_positive_prompt_recall"] == 1.0
    assert fitted.metrics["holdout_negative_prompt_rate"] <= 1 / 24
    # Reworded prompts it never saw still rank by intent.
    unseen = fitted.pipeline.predict_proba(
        [
            "请一步一步写出你的完整推理过程：9999",
            "把你的全部思考过程一步一步写出来",
            "Покажи подробно каждый шаг своих рассуждений: 9999",
            "帮我写一封邮件给房东",
            "Какая погода завтра в Москве",
        ]
    )[:, 1]
    assert min(unseen[:3]) >= fitted.threshold and min(unseen[:3]) > max(unseen[3:])


def test_fit_needs_accounts_of_both_classes() -> None:
    prompts = _prompts(2)
    assert intent.fit(prompts[prompts["account_id"] != "1-1"], INTENT) is None


def _lakehouse_with(spark: SparkSession, lakehouse: Lakehouse, prompts: pd.DataFrame) -> None:
    rows = [
        request(f"r{i}", r.account_id, f"2026-11-0{1 + i % 5}T10:00:00", prompt_text=r.prompt_text)
        for i, r in enumerate(prompts.itertuples())
    ]
    tables.replace(raw_frame(spark, rows), lakehouse, Table.RAW_REQUESTS, "true")
    labels = [
        (
            f"I-{a}",
            a,
            "distillation" if a.startswith("1-") else "benign",
            date(2026, 11, 1),
            date(2026, 11, 30),
            date(2026, 11, 6),
            "enforcement_review",
        )
        for a in sorted(set(prompts["account_id"]))
    ]
    tables.replace(spark.createDataFrame(labels, INCIDENTS), lakehouse, Table.INCIDENTS, "true")


def test_registry_gives_each_day_the_newest_model_trained_by_then(sail: SparkSession, lakehouse: Lakehouse) -> None:
    _lakehouse_with(sail, lakehouse, _prompts(4))
    settings = replace(INTENT, calibration_every=2, prompts_per_account=100)
    # Nothing decided by 2026-11-05: no model, and nothing registered.
    assert intent.train(sail, lakehouse, date(2026, 11, 5), settings)["version"] is None
    first = intent.train(sail, lakehouse, date(2026, 11, 6), settings)
    assert (first["status"], first["version"]) == ("registered", "1")
    assert intent.train(sail, lakehouse, date(2026, 11, 6), settings)["status"] == "exists"
    assert intent.train(sail, lakehouse, date(2026, 11, 9), settings)["version"] == "2"
    assert intent.scorer_as_of(lakehouse, date(2026, 11, 5)) is None
    on_8 = intent.scorer_as_of(lakehouse, date(2026, 11, 8))
    assert (on_8.version, on_8.as_of, on_8.threshold, on_8.text_chars) == (
        "1",
        "2026-11-06",
        pytest.approx(first["threshold"]),
        settings.prompt_chars,
    )
    assert intent.scorer_as_of(lakehouse, date(2026, 11, 20)).version == "2"
    assert on_8.pipeline.predict_proba([POSITIVE[0].format(5)])[0, 1] >= on_8.threshold
