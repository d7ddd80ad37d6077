"""Training set builder and campaign-grouped time split, on both engines, values by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard.config import TRAINING
from distillguard.errors import DistillguardError
from distillguard.models.split import EXCLUDED, HOLDOUT, TRAIN, split
from distillguard.models.training_set import build, labelled_rows, sampling_rates, unlabelled_rows
from tests.training_rows import clusters_df, day, incidents_df, rolling_df

ALL = replace(TRAINING, unlabelled_sample_fraction=1.0, unlabelled_weight=0.5)


def _world(spark: SparkSession) -> tuple:
    accounts = ["A1", "A2", "A3", "A4", "A5", "A6"]
    rolling = rolling_df(
        spark,
        [
            {"account_id": a, "feature_date": day(n), "requests_7d": 100.0 * n + i}
            for i, a in enumerate(accounts, 1)
            for n in range(0, 10)
        ],
    )
    clusters = clusters_df(
        spark,
        [
            {"account_id": a, "feature_date": day(n), "cluster_id": f"c{a}", "cluster_size": float(n)}
            for a in accounts
            for n in range(0, 10)
        ],
    )
    incidents = incidents_df(
        spark,
        [
            ("I1", "A1", "distillation", day(0), day(2), day(4), "enforcement_review"),
            ("I2", "A2", "benign", day(1), day(3), day(5), "enforcement_review"),
            ("I3", "A3", "distillation", day(0), day(1), day(7), "red_team"),  # decided after as_of
            ("I4", "A4", "other_abuse", day(0), day(1), day(2), "enforcement_review"),
            ("I6", "A6", "distillation", day(2), day(9), day(3), "partner_report"),  # window runs past as_of
        ],
    )
    return rolling, clusters, incidents


def test_labels_only_from_decided_on_and_window_days_weighted(engine: SparkSession) -> None:
    rolling, _, incidents = _world(engine)
    rows = {(r.incident_id, r.feature_date): r for r in labelled_rows(incidents, rolling, day(5)).collect()}
    # I3 is decided on day 7: invisible on day 5; I4 (other_abuse) is never a training label.
    assert sorted({i for i, _ in rows}) == ["I1", "I2", "I6"]
    assert sorted(d for i, d in rows if i == "I1") == [day(0), day(1), day(2)]
    assert sorted(d for i, d in rows if i == "I6") == [day(2), day(3), day(4), day(5)]  # capped at as_of
    assert rows[("I1", day(1))].weight == pytest.approx(1 / 3) and rows[("I6", day(3))].weight == pytest.approx(0.25)
    # Training weight spreads over the window days; the population weight is the account's: 1.
    assert {r.population_weight for r in rows.values()} == {1.0}
    assert {key for key, r in rows.items() if r.last_day} == {("I1", day(2)), ("I2", day(3)), ("I6", day(5))}
    assert {(r.label, r.label_name) for (i, _), r in rows.items() if i == "I2"} == {(0, "benign")}
    assert all(r.decided_on <= day(5) for r in rows.values())
    # One day earlier, I2 (decided day 5) is not known yet either.
    assert {r.incident_id for r in labelled_rows(incidents, rolling, day(4)).collect()} == {"I1", "I6"}


def test_unlabelled_sample_ignores_future_incidents(engine: SparkSession) -> None:
    rolling, _, incidents = _world(engine)
    rows = unlabelled_rows(incidents, rolling, day(5), ALL).collect()
    # A3's incident is decided on day 7, so on day 5 it is an unlabelled account like A5;
    # A4's other_abuse decision (day 2) is known, so A4 is not sampled as a negative.
    assert sorted(r.account_id for r in rows) == ["A3", "A5"]
    assert all(r.feature_date <= day(5) and r.weight == 0.5 and r.label == 0 and r.last_day for r in rows)
    assert unlabelled_rows(incidents, rolling, day(5), replace(ALL, unlabelled_sample_fraction=0.0)).count() == 0
    # Training and population weights stay apart: sampled at 75% (A3 is drawn), a row trains at
    # 0.5 but stands for 4/3 live accounts.
    sampled = unlabelled_rows(incidents, rolling, day(5), replace(ALL, unlabelled_sample_fraction=0.75)).collect()
    assert [(r.account_id, r.weight, r.population_weight) for r in sampled] == [("A3", 0.5, pytest.approx(4 / 3))]


def _strata(spark: SparkSession) -> DataFrame:
    """Six quiet accounts (5 requests in 28 days, stratum 0) and four heavy ones (5,000: stratum 3)."""
    return rolling_df(
        spark,
        [{"account_id": f"Q{i}", "feature_date": day(1), "requests_28d": 5.0} for i in range(6)]
        + [{"account_id": f"H{i}", "feature_date": day(1), "requests_28d": 5000.0} for i in range(4)],
    )


def test_the_unlabelled_sample_is_capped_with_a_floor_per_stratum(engine: SparkSession) -> None:
    rolling, _, incidents = _world(engine)
    rolling = _strata(engine)
    capped = replace(ALL, unlabelled_max_rows=4, unlabelled_stratum_floor=3)
    picked = rolling.select("account_id", F.floor(F.log10("requests_28d")).cast("int").alias("stratum"))
    # 10 expected rows > cap 4: the fraction (1.0) scales to 0.4, raised to the floor (3 rows):
    # 3/6 in stratum 0, 3/4 in stratum 3.
    assert sorted(tuple(r) for r in sampling_rates(picked, capped).collect()) == [(0, 0.5), (3, 0.75)]
    assert sorted(tuple(r) for r in sampling_rates(picked, replace(ALL, unlabelled_max_rows=10)).collect()) == [
        (0, 1.0),
        (3, 1.0),
    ]
    rows = unlabelled_rows(incidents, rolling, day(5), capped).collect()
    weights = {r.account_id[0]: r.population_weight for r in rows}
    assert weights == {"Q": 2.0, "H": pytest.approx(4 / 3)}
    # The hashed draw (seed 7) is the same on every engine.
    assert sorted(r.account_id for r in rows) == ["H2", "H3", "Q0", "Q2", "Q4", "Q5"]


def test_build_joins_features_of_the_same_day(engine: SparkSession) -> None:
    rolling, clusters, incidents = _world(engine)
    rows = {r.row_key: r for r in build(incidents, rolling, clusters, day(5), ALL).collect()}
    first = rows[f"I1|A1|{day(1)}"]
    assert (first.requests_7d, first.cluster_size, first.cluster_id) == (101.0, 1.0, "cA1")
    assert rows[f"I6|A6|{day(5)}"].requests_7d == 506.0
    assert len([k for k in rows if k.startswith("-|")]) == 2 and len(rows) == 3 + 3 + 4 + 2


def _keys(spark: SparkSession):
    rows = [  # row_key, incident_id, account_id, cluster_id, label, decided_on, feature_date
        ("I1", "I1", "A1", "C1", 1, day(3), day(1)),
        ("I2", "I2", "A2", "C2", 0, day(4), day(2)),
        ("I3a", "I3", "A3", "C3", 1, day(10), day(7)),
        ("I3b", "I3", "A3", "C3", 1, day(10), day(8)),
        ("I4", "I4", "A4", "C4", 0, day(10), day(8)),
        ("I5", "I5", "A5", "C1", 1, day(11), day(9)),  # shares cluster C1 with I1 (an old campaign)
        ("I6", "I6", "A6", "C6", 1, day(12), day(11)),  # same account as I7, decided earlier
        ("I7", "I7", "A6", "C6", 0, day(2), day(1)),
        ("I8", "I8", "A8", "C8", 0, day(11), day(9)),
        ("U1", None, "U1", "C9", 0, None, day(5)),
        ("U2", None, "U2", "C10", 0, None, day(11)),
        ("U3", None, "U3", "C3", 0, None, day(1)),  # in I3's cluster: follows it to the holdout
        ("U4", None, "U4", "C1", 0, None, day(12)),  # in I1's cluster, after the cutoff
    ]
    return spark.createDataFrame(
        rows,
        "row_key string, incident_id string, account_id string, cluster_id string, "
        "label int, decided_on date, feature_date date",
    )


def _stage(_: str, df: DataFrame) -> DataFrame:
    """Test stage: cut the lineage by collecting the (tiny) frame."""
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def test_split_by_time_and_campaign_group(engine: SparkSession) -> None:
    settings = replace(TRAINING, holdout_min_per_class=1, holdout_min_share=0.25)
    df, info = split(engine, _keys(engine), _stage, settings)
    rows = df.collect()
    sides = {r.row_key: r.split for r in rows}
    assert info.cutoff == day(10)
    # Components: A5 reaches A1 through cluster C1, and U4 with them; A3 and U3 share C3;
    # A6 holds I6 and I7. A group is named after its smallest account.
    groups = {r.row_key: r.group_id for r in rows}
    assert {k: groups[k] for k in ("I1", "I5", "U4", "I3a", "I3b", "U3", "I6", "I7", "U1")} == {
        "I1": "a:A1",
        "I5": "a:A1",
        "U4": "a:A1",
        "I3a": "a:A3",
        "I3b": "a:A3",
        "U3": "a:A3",
        "I6": "a:A6",
        "I7": "a:A6",
        "U1": "a:U1",
    }
    assert sides == {
        "I1": TRAIN,
        "I2": TRAIN,
        "I3a": HOLDOUT,
        "I3b": HOLDOUT,
        "I4": HOLDOUT,
        "I5": EXCLUDED,
        "I6": EXCLUDED,
        "I7": TRAIN,
        "I8": HOLDOUT,
        "U1": TRAIN,
        "U2": HOLDOUT,
        "U3": HOLDOUT,
        "U4": EXCLUDED,
    }
    assert (info.groups, info.holdout_positive, info.holdout_benign, info.train_positive, info.train_benign) == (
        8,
        1,
        2,
        1,
        2,
    )
    used = [r for r in rows if r.split != EXCLUDED]
    for key in ("group_id", "incident_id", "cluster_id", "account_id"):
        by_value: dict = {}
        for r in used:
            if getattr(r, key) is not None:
                by_value.setdefault(getattr(r, key), set()).add(r.split)
        assert all(len(s) == 1 for s in by_value.values()), key
    assert all(r.decided_on < info.cutoff for r in rows if r.split == TRAIN and r.decided_on)


def test_split_refuses_a_holdout_without_both_classes(engine: SparkSession) -> None:
    with pytest.raises(DistillguardError, match="cannot hold out 5 incidents of each class"):
        split(engine, _keys(engine), _stage, replace(TRAINING, holdout_min_per_class=5))


def test_split_refuses_a_training_side_without_both_classes(engine: SparkSession) -> None:
    with pytest.raises(DistillguardError, match="training side would miss a class"):
        split(engine, _keys(engine), _stage, replace(TRAINING, holdout_min_per_class=3))
