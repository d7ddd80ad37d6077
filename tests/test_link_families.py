"""Link families on both engines: template sketches, reasoning replay, lockstep, ban-evasion lineage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard.config import FEATURES
from distillguard.features.lineage import banned_as_of, lineage_edges, lineage_features, lineage_links
from distillguard.features.lockstep import lockstep_daily, lockstep_edges, lockstep_features, lockstep_pairs
from distillguard.features.replay import replay_daily, replay_daily_dates, replay_edges, replay_features
from distillguard.features.sketches import sketch_daily, sketch_features, sketch_text, template_sketches
from tests.rows import DAY

SKETCH_DAILY = "feature_date date, account_id string, band int, bucket long, hour int, requests long"
IDS = "account_id string, cluster_id string"


def _at(days_before: int, hh: int, mm: int = 0) -> datetime:
    d = DAY - timedelta(days=days_before)
    return datetime(d.year, d.month, d.day, hh, mm)


def test_sketches_collide_for_paraphrases_not_for_unrelated_prompts(engine: SparkSession) -> None:
    texts = [
        "Please solve the following problem step by step: what is 12 times 7? Show all of your reasoning.",
        # slot-filled
        "Please solve the following problem step by step: what is 31 times 9? Show all of your reasoning!",
        # reordered
        "Show all of your reasoning. Please solve the following problem step by step: what is 4 plus 5?",
        # lightly reworded
        "Please solve this problem step by step: what is 12 times 7? Show every bit of your reasoning.",
        "Write a haiku about autumn leaves falling in the quiet park near my house.",
        "What's the capital of Australia and why was it chosen over Sydney?",
        "",
        None,
    ]
    df = engine.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, t string")
    got = {i: None for i in range(len(texts))} | {
        r.i: r.template_sketch for r in template_sketches(df, "i", "t").collect()
    }
    assert all(len(got[i]) == FEATURES.sketch_bands for i in range(6))
    assert (got[6], got[7]) == (None, None)
    shares = {i: len(set(got[0]) & set(got[i])) for i in range(1, 6)}
    assert got[1] == got[0]  # the same template once numbers are masked
    assert shares[2] >= 1 and shares[3] >= 1
    assert (shares[4], shares[5], len(set(got[4]) & set(got[5]))) == (0, 0, 0)


def _reseeded(seed: int) -> Callable[[Column], Column]:
    """A one-argument lambda (``transform`` reads a second parameter as the element index)."""
    return lambda h: F.xxhash64(F.lit(seed), h)


def _sketch_of_each_row(text: Column) -> Column:
    """The sketch definition written row by row (the shingle array hashed with higher-order
    functions): what ``template_sketches`` must equal."""
    k, bands, rows = FEATURES.sketch_shingle_chars, FEATURES.sketch_bands, FEATURES.sketch_rows
    clean = sketch_text(text)
    length = F.length(clean)
    shingles = F.when(
        length > k, F.transform(F.sequence(F.lit(1), length - k + 1), lambda i: F.xxhash64(F.substring(clean, i, k)))
    ).otherwise(F.array(F.xxhash64(clean)))
    minima = [F.array_min(F.transform(shingles, _reseeded(seed))) for seed in range(bands * rows)]
    buckets = F.array(*[F.xxhash64(F.lit(band), *minima[band * rows : (band + 1) * rows]) for band in range(bands)])
    return F.when(length > 0, buckets)


def test_template_sketches_equal_the_row_by_row_definition(engine: SparkSession) -> None:
    texts = [
        "Please solve the following problem step by step: what is 12 times 7?",
        "Please solve the following problem step by step: what is 12 times 7?",  # a second key, same text
        "abcdef",  # two shingles
        "abcde",  # exactly one shingle long
        "ab",  # shorter than a shingle: the whole text is the shingle
        "ab!",  # the same once punctuation is removed
        "?!",  # nothing left once cleaned
        "",
        None,
    ]
    df = engine.createDataFrame(list(enumerate(texts)), "i int, t string")
    expected = {r.i: r.s for r in df.select("i", _sketch_of_each_row(F.col("t")).alias("s")).collect()}
    got = {r.i: r.template_sketch for r in template_sketches(df, "i", "t").collect()}
    assert sorted(got) == [0, 1, 2, 3, 4, 5]
    assert got == {i: s for i, s in expected.items() if s is not None}
    assert [expected[i] for i in (6, 7, 8)] == [None, None, None]
    assert got[0] == got[1] and got[4] == got[5] and got[2] != got[3]
    assert all(len(got[i]) == FEATURES.sketch_bands for i in got)


def test_sketch_daily_and_window_features(engine: SparkSession) -> None:
    signals = engine.createDataFrame(
        [("x", _at(0, 10, 15), [1, 2]), ("x", _at(0, 10, 45), [1, 3]), ("x", _at(0, 11), None)],
        "account_id string, ts timestamp, template_sketch array<bigint>",
    )
    assert sorted(tuple(r) for r in sketch_daily(signals, DAY).collect()) == [
        (DAY, "x", 0, 1, 10, 2),
        (DAY, "x", 1, 2, 10, 1),
        (DAY, "x", 1, 3, 10, 1),
    ]
    settings = replace(FEATURES, sketch_bands=2, sketch_hub_accounts=1)
    daily = engine.createDataFrame(
        [
            (DAY, "x", 0, 10, 1, 2),
            (DAY, "x", 0, 10, 2, 1),
            (DAY, "x", 0, 11, 1, 1),
            (DAY, "x", 1, 20, 1, 4),
            (DAY - timedelta(days=28), "x", 0, 99, 1, 7),  # outside the 28-day window
            (DAY, "y", 0, 10, 3, 5),
            (DAY, "y", 1, 21, 3, 5),
        ],
        SKETCH_DAILY,
    )
    apart = engine.createDataFrame([("x", "cx"), ("y", "cy")], IDS)
    got = {r.account_id: r.asDict() for r in sketch_features(daily, DAY, apart, settings).collect()}
    assert got["x"] == {
        "account_id": "x",
        "sketch_requests_28d": 4,
        "sketch_top_bucket_share_28d": 1.0,
        "sketch_distinct_buckets_28d": 1.5,
        "sketch_top_bucket_other_accounts_28d": 0,
        "sketch_popular_share_28d": pytest.approx(3 / 8),
        "weak_sketch_cluster_peers": 0,
        "weak_sketch_outside_accounts": 1,
    }
    # y's two top buckets tie on requests: the more popular one is reported.
    assert (got["y"]["sketch_top_bucket_other_accounts_28d"], got["y"]["sketch_popular_share_28d"]) == (1, 0.5)
    together = engine.createDataFrame([("x", "c1"), ("y", "c1")], IDS)
    got = {r.account_id: r.asDict() for r in sketch_features(daily, DAY, together, settings).collect()}
    assert [(got[a]["weak_sketch_cluster_peers"], got[a]["weak_sketch_outside_accounts"]) for a in "xy"] == [
        (1, 0),
        (1, 0),
    ]


def test_sketch_weak_links_count_the_own_cluster_and_outsiders_per_bucket(engine: SparkSession) -> None:
    """Bucket A (band 0): x, y (both of c1) and z; bucket B (band 1): x, z and w; v alone in its
    own bucket. The most peers and the most outsiders of x come from different buckets."""
    daily = engine.createDataFrame(
        [
            (DAY, "x", 0, 1, 9, 1),
            (DAY, "y", 0, 1, 9, 1),
            (DAY, "z", 0, 1, 9, 1),
            (DAY, "x", 1, 2, 9, 1),
            (DAY, "z", 1, 2, 9, 1),
            (DAY, "w", 1, 2, 9, 1),
            (DAY, "w", 0, 3, 9, 1),
            (DAY, "v", 0, 4, 9, 1),
        ],
        SKETCH_DAILY,
    )
    ids = engine.createDataFrame([("x", "c1"), ("y", "c1"), ("z", "cz"), ("w", "cw"), ("v", "cv")], IDS)
    got = {
        r.account_id: (r.weak_sketch_cluster_peers, r.weak_sketch_outside_accounts)
        for r in sketch_features(daily, DAY, ids).collect()
    }
    assert got == {"x": (1, 2), "y": (1, 1), "z": (0, 2), "w": (0, 2), "v": (0, 0)}


def test_replay_join_is_point_in_time(engine: SparkSession) -> None:
    history = engine.createDataFrame(
        [
            ("A", _at(2, 9), "ref1", None),
            ("A", _at(1, 10), "ref2", None),
            ("B", _at(0, 9), "ref3", None),
            ("A", _at(0, 12), "ref4", None),  # issued after C sent it: no source
            ("A", _at(1, 11), None, ["ref1"]),  # an earlier day's send: not in D's partition
            ("C", _at(0, 11), None, ["ref1", "ref2"]),
            ("C", _at(0, 11, 30), None, ["ref4"]),
            ("C", _at(0, 11, 45), None, ["ref3", "refX"]),  # refX never issued
            ("A", _at(0, 13), None, ["ref2"]),  # its own block
            ("C", _at(1, 12), None, ["ref5"]),  # sent the day before ref5 is issued
            ("B", _at(0, 8), "ref5", None),
        ],
        "account_id string, ts timestamp, reasoning_ref_issued string, reasoning_refs_sent array<string>",
    ).withColumn("event_date", F.to_date("ts"))
    got = sorted((r.account_id, r.source_account_id or "-", r.refs) for r in replay_daily(history, DAY).collect())
    assert got == [("A", "A", 1), ("C", "-", 2), ("C", "A", 2), ("C", "B", 1)]
    # Two dates in one join: each resolves its refs as a run of it alone does.
    days = [DAY - timedelta(days=1), DAY]

    def rows(df: DataFrame) -> list[tuple]:
        return sorted((r.feature_date, r.account_id, r.source_account_id or "-", r.refs) for r in df.collect())

    both = rows(replay_daily_dates(history, days))
    assert both == sorted(r for day in days for r in rows(replay_daily(history, day)))
    assert [r[1:] for r in both if r[0] == days[0]] == [("A", "A", 1), ("C", "-", 1)]
    daily = engine.createDataFrame(
        [
            (DAY, "C", "A", 2),
            (DAY, "C", None, 2),
            (DAY, "C", "B", 1),
            (DAY, "A", "A", 1),
            (DAY - timedelta(days=3), "C", "A", 1),
            (DAY - timedelta(days=40), "B", "C", 3),
        ],
        "feature_date date, account_id string, source_account_id string, refs long",
    )
    features = {r.account_id: r.asDict() for r in replay_features(daily, DAY).collect()}
    assert features["C"] == {
        "account_id": "C",
        "replay_refs_sent_28d": 6,
        "replay_foreign_refs_28d": 4,
        "replay_foreign_share_28d": pytest.approx(4 / 6),
        "replay_sources_28d": 2,
        "replay_replayers_28d": 0,
    }
    assert (features["A"]["replay_foreign_share_28d"], features["A"]["replay_replayers_28d"]) == (0.0, 1)
    assert (
        features["B"]["replay_refs_sent_28d"],
        features["B"]["replay_foreign_share_28d"],
        features["B"]["replay_replayers_28d"],
    ) == (0, None, 1)
    assert [tuple(r) for r in replay_edges(daily, DAY).collect()] == [("C", "A", 3)]


def test_lockstep_jaccard_over_buckets_below_the_hub_size(engine: SparkSession) -> None:
    settings = replace(FEATURES, lockstep_hub_accounts=2, lockstep_min_jaccard=0.5, lockstep_min_shared=3)
    day = engine.createDataFrame(
        [
            ("p", 1, 1),
            ("p", 1, 2),
            ("p", 2, 1),
            ("p", 3, 5),
            ("q", 1, 1),
            ("q", 1, 2),
            ("q", 2, 1),
            ("r", 1, 1),  # bucket 1 has three accounts: a hub, no element from it
            ("s", 3, 5),
            ("s", 4, 7),
        ],
        "account_id string, bucket long, hour int",
    )
    got = sorted(tuple(r)[1:] for r in lockstep_daily(day, DAY, settings).collect())
    assert got == [("p", "p", 2), ("p", "q", 1), ("p", "s", 1), ("q", "q", 1), ("s", "s", 2)]
    earlier = engine.createDataFrame(
        [
            (DAY - timedelta(days=1), "p", "p", 3),
            (DAY - timedelta(days=1), "q", "q", 3),
            (DAY - timedelta(days=1), "p", "q", 3),
            (DAY - timedelta(days=7), "p", "q", 100),
        ],
        "feature_date date, account_id string, peer_id string, shared long",
    )
    pairs = lockstep_pairs(lockstep_daily(day, DAY, settings).unionByName(earlier), DAY, settings)
    jaccard = {(r.account_id, r.peer_id): (r.shared, r.jaccard) for r in pairs.collect()}
    # p: 2 + 3 elements, q: 1 + 3, shared 1 + 3 -> 4 / (5 + 4 - 4); p, s: 1 / (5 + 2 - 1)
    assert jaccard == {("p", "q"): (4, pytest.approx(0.8)), ("p", "s"): (1, pytest.approx(1 / 6))}
    assert [(r.account_id, r.peer_id) for r in lockstep_edges(pairs, settings).collect()] == [("p", "q")]
    features = {
        r.account_id: (r.lockstep_peers_7d, r.lockstep_max_jaccard_7d)
        for r in lockstep_features(pairs, replace(settings, lockstep_min_shared=1)).collect()
    }
    assert features == {"p": (1, pytest.approx(0.8)), "q": (1, pytest.approx(0.8)), "s": (0, pytest.approx(1 / 6))}


def test_lineage_uses_verdicts_decided_before_the_day(engine: SparkSession) -> None:
    settings = replace(FEATURES, ip_prefix_max_accounts=3, lineage_lookback_days=90)
    incidents = engine.createDataFrame(
        [
            ("i1", "b1", "distillation", DAY - timedelta(days=5)),
            ("i2", "b2", "distillation", DAY),  # decided on D: not known yet
            ("i3", "b3", "benign", DAY - timedelta(days=10)),
        ],
        "incident_id string, account_id string, label string, decided_on date",
    )
    accounts = engine.createDataFrame(
        [
            ("b1", "pb1", "o1"),
            ("b2", "pb2", None),
            ("b3", "pb3", None),
            ("n1", "pb1", "o1"),
            ("n2", None, "o1"),
            ("n3", "pb2", None),
            ("n9", "pb3", None),
        ],
        "account_id string, payment_fingerprint string, org_id string",
    )
    keys = engine.createDataFrame(
        [
            (DAY - timedelta(days=30), "b1", "ip_prefix", "1.2.3.0/24"),
            (DAY, "n4", "ip_prefix", "1.2.3.0/24"),
            *[(DAY, a, "ip_prefix", "9.9.9.0/24") for a in ("b1", "n5", "x1", "x2")],  # a shared range: 4 > cap 3
            (DAY - timedelta(days=120), "b1", "ip_prefix", "5.5.5.0/24"),
            (DAY, "n8", "ip_prefix", "5.5.5.0/24"),
        ],
        "feature_date date, account_id string, key_type string, key string",
    )
    replays = engine.createDataFrame(
        [(DAY - timedelta(days=2), "n7", "b1", 3), (DAY, "n3", "b2", 3)],
        "feature_date date, account_id string, source_account_id string, refs long",
    )
    links = lineage_links(banned_as_of(incidents, DAY), accounts, keys, replays, DAY, settings)
    got = {r.account_id: tuple(r)[1:] for r in lineage_features(links, DAY).collect()}
    assert got == {"n1": (1, 1, 5), "n2": (0, 1, 5), "n4": (0, 1, 5), "n7": (1, 0, 5)}
    assert sorted(tuple(r) for r in lineage_edges(links).collect()) == [
        ("n1", "lineage", "i1"),
        ("n7", "lineage", "i1"),
    ]
