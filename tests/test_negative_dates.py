"""Unlabelled negatives drawn at the positives' dates, and a champion scored on its own inputs."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from distillguard.config import TRAINING, Lakehouse, Table
from distillguard.errors import DistillguardError
from distillguard.jobs import train
from distillguard.models import classifier, registry
from distillguard.models.training_set import FEATURE_COLUMNS, positive_dates, unlabelled_rows
from tests.test_train_job import SETTINGS, world  # noqa: F401  (fixture)
from tests.training_rows import day, incidents_df, rolling_df

ALL = replace(TRAINING, unlabelled_sample_fraction=1.0, unlabelled_weight=0.5)


def test_unlabelled_rows_sit_at_the_positive_dates(engine: SparkSession) -> None:
    rows = [{"account_id": a, "feature_date": day(n)} for a in ("P1", "C1", "U1") for n in range(10)]
    rows += [{"account_id": "U2", "feature_date": day(n)} for n in range(6, 10)]  # joins after the positives
    incidents = incidents_df(
        engine,
        [
            ("I1", "P1", "distillation", day(3), day(3), day(5), "enforcement_review"),
            # A cleared account's window says nothing about where negatives are drawn.
            ("I2", "C1", "benign", day(8), day(8), day(9), "enforcement_review"),
        ],
    )
    rolling = rolling_df(engine, rows)
    assert [(r.feature_date, r.date_weight) for r in positive_dates(incidents, rolling, day(9)).collect()] == [
        (day(3), 1.0)
    ]
    got = {r.account_id: r for r in unlabelled_rows(incidents, rolling, day(9), ALL).collect()}
    assert sorted(got) == ["U1", "U2"]
    # U1 has a row on the only positive date: it is drawn there, never on another day.
    assert got["U1"].feature_date == day(3)
    # U2 has none: it keeps a day of its own, so every unlabelled account is still a candidate once
    # and the population weights add up to the 2 unlabelled accounts.
    assert day(6) <= got["U2"].feature_date <= day(9)
    assert sum(r.population_weight for r in got.values()) == 2.0


def test_the_day_is_drawn_in_proportion_to_the_positive_weight_of_each_date(engine: SparkSession) -> None:
    positives = [("P1", 2), ("P2", 4), ("P3", 4), ("P4", 4)]  # date weights: day 2 -> 1, day 4 -> 3
    rows = [{"account_id": a, "feature_date": day(n)} for a, _ in positives for n in range(6)]
    rows += [{"account_id": f"U{i:03d}", "feature_date": day(n)} for i in range(400) for n in range(6)]
    incidents = incidents_df(
        engine, [(f"I{a}", a, "distillation", day(n), day(n), day(5), "red_team") for a, n in positives]
    )
    picked = unlabelled_rows(incidents, rolling_df(engine, rows), day(5), ALL).toPandas()
    assert len(picked) == 400 and set(picked["feature_date"]) == {day(2), day(4)}
    # Expected share on day 4: 3/4 (binomial sd 0.022 over 400 accounts; the hash is fixed).
    assert 0.68 <= (picked["feature_date"] == day(4)).mean() <= 0.82


def test_champion_frame_reads_the_inputs_the_challenger_dropped(sail: SparkSession, lakehouse: Lakehouse) -> None:
    sail.createDataFrame(
        [("A", day(1), 5.0), ("A", day(2), 6.0), ("B", day(1), 7.0)],
        "account_id string, feature_date date, coverage_days_7d double",
    ).write.format("delta").save(lakehouse.table_path(Table.ACCOUNT_ROLLING))
    sail.createDataFrame(
        [("A", day(1), 2.0), ("B", day(1), 3.0)], "account_id string, feature_date date, cluster_size double"
    ).write.format("delta").save(lakehouse.table_path(Table.ACCOUNT_CLUSTERS))
    rows = pd.DataFrame({"account_id": ["B", "A"], "feature_date": [day(1), day(2)], "requests_7d": [1.0, 2.0]})
    # Nothing missing: the rows as they are.
    assert train.champion_frame(sail, lakehouse, rows, ["requests_7d"]) is rows
    got = train.champion_frame(sail, lakehouse, rows, ["requests_7d", "coverage_days_7d", "cluster_size"])
    # Same rows, same order; A has no cluster row on day 2.
    assert got["account_id"].tolist() == ["B", "A"] and got["requests_7d"].tolist() == [1.0, 2.0]
    assert got["coverage_days_7d"].tolist() == [7.0, 6.0]
    assert got["cluster_size"].iloc[0] == 3.0 and pd.isna(got["cluster_size"].iloc[1])
    with pytest.raises(DistillguardError, match=r"\['no_such_feature'\] are in no feature table"):
        train.champion_frame(sail, lakehouse, rows, ["no_such_feature"])


def test_a_champion_with_a_feature_fewer_is_compared_on_its_own_inputs(
    sail: SparkSession,
    world: Lakehouse,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The champion's model leaves one column of the (unchanged) training set out.
    fewer = tuple(c for c in FEATURE_COLUMNS if c != "night_share_7d")
    with monkeypatch.context() as patch:
        for module in (classifier, train):
            patch.setattr(module, "FEATURE_COLUMNS", fewer)
        first = train.run(sail, world, settings=SETTINGS)
    assert first["decision"] == "promoted", first["reason"]
    champion = registry.load_champion(world)
    assert champion.model.metadata.get_input_schema().input_names() == list(fewer)

    second = train.run(sail, world, day(15), SETTINGS, promote=False)
    assert second["decision"] == "not_promoted"
    compared = second["metrics"]
    assert set(compared) >= {"champion", "challenger_on_champion_rows"}
    assert 0.0 <= compared["champion"]["recall"] <= 1.0 and 0.0 < compared["champion"]["pr_auc"] <= 1.0
    # Both were scored on the same rows: the same benign / positive counts behind their figures.
    assert compared["champion"]["threshold"] == pytest.approx(float(champion.threshold))
