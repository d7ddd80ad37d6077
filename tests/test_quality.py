"""Quality gates: suite files load whole, critical failures stop, warnings are recorded."""

from __future__ import annotations

from datetime import date

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard.config import Lakehouse, Table
from distillguard.errors import DistillguardError
from distillguard.quality import SUITES, Gates, GateFailed, load_suite, suite_from_spec, suite_json


@pytest.mark.parametrize("name", sorted(SUITES))
def test_every_suite_file_loads_every_expectation(name: str) -> None:
    spec = suite_json(name)
    assert spec["name"] == name
    assert len(load_suite(name).expectations) == len(spec["expectations"]) > 0


def test_a_suite_with_an_invalid_expectation_is_refused() -> None:
    spec = {"name": "broken", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
        {"type": "expect_column_to_be_lovely", "kwargs": {"column": "a"}}]}
    with pytest.raises(DistillguardError, match="2 expectations in the file but GX loaded 1"):
        suite_from_spec(spec)


def test_critical_failure_raises_after_recording_everything(sail: SparkSession, lakehouse: Lakehouse) -> None:
    flagged = sail.createDataFrame([("a",), ("a",), ("b",)], "account_id string")
    indicators = sail.createDataFrame(
        [("ip_prefix", "51.21.25.0/24", "lab_z", date(2026, 11, 1), 0.3)],
        "indicator_type string, value string, partner string, first_seen date, confidence double")
    gates = Gates(sail, lakehouse, "run-1")
    gates.check("flagged_accounts", flagged)
    warned = gates.check("partner_indicators", indicators)
    assert [(r["expectation_type"], r["column_name"]) for r in warned.warnings] == \
        [("expect_column_values_to_be_in_set", "partner")]
    with pytest.raises(GateFailed, match=r"flagged_accounts: expect_column_values_to_be_unique\(account_id\)"):
        gates.close()
    results = DeltaTable(lakehouse.table_path(Table.GATE_RESULTS)).to_pandas()
    assert len(results) == 2 + 5
    failed = results[~results.success].sort_values("suite")
    assert list(zip(failed.suite, failed.severity, failed.unexpected_count)) == \
        [("flagged_accounts", "critical", 2), ("partner_indicators", "warning", 1)]
    assert (lakehouse.data_docs / "index.html").is_file()


def test_warnings_alone_do_not_stop(sail: SparkSession, lakehouse: Lakehouse) -> None:
    flagged = sail.createDataFrame([("a",), ("b",)], "account_id string")
    gates = Gates(sail, lakehouse, "run-2")
    outcome = gates.check("flagged_accounts", flagged)
    assert gates.close() == [outcome] and outcome.critical_failures == [] and outcome.warnings == []
