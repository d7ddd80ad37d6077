"""Quality gates: suite files load whole, critical failures stop, warnings are recorded."""

from __future__ import annotations

import warnings
from datetime import date

import pytest
from deltalake import DeltaTable
from great_expectations.expectations.row_conditions import Condition
from pyspark.sql import SparkSession

from distillguard.config import Lakehouse, Table
from distillguard.errors import DistillguardError
from distillguard.quality import SUITES, GateFailed, Gates, load_suite, suite_from_spec, suite_json


@pytest.mark.parametrize("name", sorted(SUITES))
def test_every_suite_file_loads_every_expectation(name: str) -> None:
    spec = suite_json(name)
    assert spec["name"] == name
    assert len(load_suite(name).expectations) == len(spec["expectations"]) > 0


def test_a_suite_with_an_invalid_expectation_is_refused() -> None:
    spec = {
        "name": "broken",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
            {"type": "expect_column_to_be_lovely", "kwargs": {"column": "a"}},
        ],
    }
    with pytest.raises(DistillguardError, match="2 expectations in the file but GX loaded 1"):
        suite_from_spec(spec)


def _flagged(spark: SparkSession, accounts: list[str]):
    """Flagged rows valid on every column the suite checks but ``account_id``'s uniqueness."""
    return spark.createDataFrame(
        [(date(2026, 11, 3), a, 0.9, "review", "m", "1", "run") for a in accounts],
        "flag_date date, account_id string, score double, risk_tier string, model_name string, "
        "model_version string, scoring_run_id string",
    )


def test_critical_failure_raises_after_recording_everything(sail: SparkSession, lakehouse: Lakehouse) -> None:
    flagged = _flagged(sail, ["a", "a", "b"])
    indicators = sail.createDataFrame(
        [("ip_prefix", "51.21.25.0/24", "lab_z", date(2026, 11, 1), 0.3)],
        "indicator_type string, value string, partner string, first_seen date, confidence double",
    )
    gates = Gates(sail, lakehouse, "run-1")
    gates.check("flagged_accounts", flagged)
    warned = gates.check("partner_indicators", indicators)
    assert [(r["expectation_type"], r["column_name"]) for r in warned.warnings] == [
        ("expect_column_values_to_be_in_set", "partner")
    ]
    with pytest.raises(GateFailed, match=r"flagged_accounts: expect_column_values_to_be_unique\(account_id\)"):
        gates.close()
    results = DeltaTable(lakehouse.table_path(Table.GATE_RESULTS)).to_pandas()
    assert len(results) == 11 + 5  # every expectation of both suites is recorded
    failed = results[~results.success].sort_values("suite")
    assert list(zip(failed.suite, failed.severity, failed.unexpected_count)) == [
        ("flagged_accounts", "critical", 2),
        ("flagged_accounts", "critical", 2),
        ("partner_indicators", "warning", 1),
    ]
    assert (lakehouse.data_docs / "index.html").is_file()


def test_warnings_alone_do_not_stop(sail: SparkSession, lakehouse: Lakehouse) -> None:
    flagged = _flagged(sail, ["a", "b"])
    gates = Gates(sail, lakehouse, "run-2")
    outcome = gates.check("flagged_accounts", flagged)
    assert gates.close() == [outcome] and outcome.critical_failures == [] and outcome.warnings == []


def test_suites_use_condition_objects_not_deprecated_strings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        suites = {name: load_suite(name) for name in SUITES}
    conditions = [e.row_condition for s in suites.values() for e in s.expectations if e.row_condition is not None]
    assert len(conditions) == 4 and all(isinstance(c, Condition) for c in conditions)


def test_row_conditions_select_rows(sail: SparkSession, lakehouse: Lakehouse) -> None:
    """training_set: decided_on may be null only for unlabelled rows (one benign row breaks it)."""
    rows = sail.createDataFrame(
        [("benign", None), ("unlabelled", None), ("distillation", date(2026, 11, 2))],
        "label_name string, decided_on date",
    )
    outcome = Gates(sail, lakehouse, "run-c").check("training_set", rows)
    decided = [
        r
        for r in outcome.rows
        if r["column_name"] == "decided_on" and r["expectation_type"] == "expect_column_values_to_not_be_null"
    ]
    assert [(r["success"], r["unexpected_count"]) for r in decided] == [(False, 1)]


def test_every_validation_is_kept_and_listed_in_data_docs(sail: SparkSession, lakehouse: Lakehouse) -> None:
    for run_id, accounts in (("run-a", ["a", "b"]), ("run-b", ["a", "a"])):
        gates = Gates(sail, lakehouse, run_id)
        gates.check("flagged_accounts", _flagged(sail, accounts))
        if run_id == "run-a":
            gates.close()
        else:
            with pytest.raises(GateFailed):
                gates.close()
    stored = sorted(
        p.relative_to(lakehouse.gx_project / "uncommitted" / "validations" / "flagged_accounts").parts[0]
        for p in (lakehouse.gx_project / "uncommitted" / "validations" / "flagged_accounts").rglob("*.json")
    )
    assert stored == ["run-a", "run-b"]
    pages = sorted(
        p.relative_to(lakehouse.data_docs / "validations" / "flagged_accounts").parts[0]
        for p in (lakehouse.data_docs / "validations" / "flagged_accounts").rglob("*.html")
    )
    assert pages == ["run-a", "run-b"]
    index = (lakehouse.data_docs / "index.html").read_text()
    assert (
        index.count("validations/flagged_accounts/run-a/") >= 1
        and index.count("validations/flagged_accounts/run-b/") >= 1
    )
    checkpoints = sorted(p.name for p in (lakehouse.gx_project / "checkpoints").glob("*.json"))
    assert checkpoints == ["flagged_accounts.json"]
