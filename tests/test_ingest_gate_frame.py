"""The raw_requests gate checks its one-row summary as a pandas frame with the results a
Spark frame gives; a day of few request files is parsed on every core."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard.config import Lakehouse
from distillguard.engine import PARALLELISM_ENV
from distillguard.ingest.requests import SUMMARY_SCHEMA, summary_frame
from distillguard.jobs.ingest import read_lines
from distillguard.quality import Gates

BOUNDS = {"volume_min_critical": 1, "volume_max_critical": 10**6, "volume_min_warning": 1, "volume_max_warning": 10**6}


def _summary() -> dict:
    """A summary valid but for three figures: status 99, a negative latency, a missing n."""
    names = [part.split(" ") for part in SUMMARY_SCHEMA.split(", ")]
    summary = {name: (0.5 if kind == "double" else 3) for name, kind in names}
    summary.update(from_this_run=1000, status_min=99, latency_ms_min=-5, n_max=None, temperature_min=None)
    return summary


def _results(outcome) -> dict[tuple[str, str], tuple]:
    """Each expectation's outcome by (type, column): the two volume sums share one key."""
    return {
        (r["expectation_type"], r["column_name"]): (r["success"], r["unexpected_count"], r["unexpected_percent"])
        for r in outcome.rows
    }


def test_a_pandas_summary_gives_the_results_of_a_spark_one(engine: SparkSession, lakehouse: Lakehouse) -> None:
    gates = Gates(engine, lakehouse, "run-gate-frame")
    summary = _summary()
    frame = summary_frame(summary)
    assert str(frame["status_min"].dtype) == "Int64" and str(frame["cost_usd_max"].dtype) == "float64"
    assert frame["n_max"].isna().all()
    on_pandas = gates.check("raw_requests", frame, BOUNDS)
    on_spark = gates.check("raw_requests", engine.createDataFrame([tuple(summary.values())], SUMMARY_SCHEMA), BOUNDS)
    got = _results(on_pandas)
    assert got == _results(on_spark)
    assert len(on_pandas.rows) == len(on_spark.rows) == 28
    assert got["expect_column_values_to_be_between", "status_min"] == (False, 1, 100.0)
    assert got["expect_column_values_to_be_between", "latency_ms_min"] == (False, 1, 100.0)
    # A null figure is skipped, as on Spark: nothing unexpected, no percentage.
    assert got["expect_column_values_to_be_between", "n_max"] == (True, 0, None)
    assert got["expect_column_values_to_be_between", "prompt_chars_max"] == (True, 0, 0.0)
    sums = [r["observed_value"] for r in on_pandas.rows if r["expectation_type"] == "expect_column_sum_to_be_between"]
    assert sums == ["1000", "1000"]  # plain Python numbers, not numpy's
    assert {type(r["unexpected_count"]) for r in on_pandas.rows} <= {int, type(None)}


# One file of 20,000 lines (more than one batch of the reader: Sail deals whole batches):
# fewer than 4 files per core, so spread over both; 8 files on 2 cores: one task each.
@pytest.mark.parametrize(("files", "size", "partitions"), [(1, 20_000, 2), (8, 40, 8)])
def test_few_files_are_spread_over_the_cores(
    engine: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int, size: int, partitions: int
) -> None:
    monkeypatch.setenv(PARALLELISM_ENV, "2")
    landing = tmp_path / "landing"
    folder = landing / "request_logs" / f"date={date(2026, 11, 2)}"
    folder.mkdir(parents=True)
    paths = []
    for number in range(files):
        path = folder / f"part-{number:05d}.jsonl.gz"
        path.write_bytes(gzip.compress("".join(f'{{"request_id":"{number}-{i}"}}\n' for i in range(size)).encode()))
        paths.append(path)
    lines = read_lines(engine, paths, landing)
    got = lines.select("value", "source_file", F.spark_partition_id().alias("part")).collect()
    assert sorted((r.value, r.source_file) for r in got) == sorted(
        (f'{{"request_id":"{n}-{i}"}}', f"request_logs/date=2026-11-02/part-{n:05d}.jsonl.gz")
        for n in range(files)
        for i in range(size)
    )
    assert len({r.part for r in got}) == partitions
