"""Models reference from the logs, point in time, on both engines."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import SparkSession

from distillguard.config import FeatureSettings
from distillguard.features.models_reference import model_daily, models_as_of
from distillguard.features.request_signals import request_signals
from tests.rows import raw_frame, request

MODEL_DAILY = "feature_date date, model string, first_ts timestamp, requests long, reasoning_requests long"


def test_model_daily_counts_reasoning_requests(engine: SparkSession) -> None:
    signals = request_signals(
        raw_frame(
            engine,
            [
                request("r1", "a", "2026-11-03T10:00:00", model="m1", reasoning_tokens=10),
                request("r2", "b", "2026-11-03T09:00:00", model="m1", reasoning_tokens=0),
                request("r3", "b", "2026-11-03T11:00:00", model="m2", reasoning_tokens=None),
            ],
        ),
        b"key",
    )
    got = {r.model: r for r in model_daily(signals, date(2026, 11, 3)).collect()}
    assert (got["m1"].first_ts, got["m1"].requests, got["m1"].reasoning_requests) == (datetime(2026, 11, 3, 9), 2, 1)
    assert (got["m2"].requests, got["m2"].reasoning_requests, got["m2"].feature_date) == (1, 0, date(2026, 11, 3))


def test_reference_as_of_a_day(engine: SparkSession) -> None:
    daily = engine.createDataFrame(
        [
            (date(2026, 11, 1), "old", datetime(2026, 11, 1, 0, 1), 10, 0),  # present on the first day of data
            (date(2026, 11, 5), "old", datetime(2026, 11, 5, 3), 10, 2),
            (date(2026, 11, 4), "fresh", datetime(2026, 11, 4, 20), 3, 0),
            (date(2026, 11, 12), "fresh", datetime(2026, 11, 12, 1), 3, 3),  # after the day: unseen
            (date(2026, 11, 9), "future", datetime(2026, 11, 9), 1, 1),
        ],
        MODEL_DAILY,
    )
    settings = FeatureSettings(new_model_days=7)
    on_8 = {r.model: r for r in models_as_of(daily, date(2026, 11, 8), settings).collect()}
    assert set(on_8) == {"old", "fresh"}
    assert (
        on_8["old"].first_seen,
        on_8["old"].reasoning_capable,
        on_8["old"].new_model,
        on_8["old"].requests_to_date,
    ) == (datetime(2026, 11, 1, 0, 1), True, False, 20)
    assert (on_8["fresh"].first_seen, on_8["fresh"].reasoning_capable, on_8["fresh"].new_model) == (
        datetime(2026, 11, 4, 20),
        False,
        True,
    )
    # Seven days after 2026-11-04 the model is no longer new; by then it returned reasoning tokens.
    on_12 = {r.model: r for r in models_as_of(daily, date(2026, 11, 12), settings).collect()}
    assert (on_12["fresh"].new_model, on_12["fresh"].reasoning_capable, on_12["future"].new_model) == (
        False,
        True,
        True,
    )
    on_10 = {r.model: r for r in models_as_of(daily, date(2026, 11, 10), settings).collect()}
    assert on_10["fresh"].new_model is True
