"""The flagged-accounts and export suites stop what must not reach enforcement: a score
outside [0, 1], a tier outside the documented set, no model version or run, no reasons, or
two rows for one (flag_date, account_id)."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import SparkSession

from distillguard import quality
from distillguard.config import Lakehouse
from distillguard.scoring.policy import TIERS

SCHEMA = (
    "flag_date date, account_id string, score double, risk_tier string, model_name string, "
    "model_version string, scoring_run_id string, reason_count int"
)
D = date(2026, 11, 28)
GOOD = [
    (D, "a", 0.99, "suspend_recommended", "m", "3", "run-1", 3),
    (D, "b", 0.0, "review", "m", "3", "run-1", 1),
    (D, "c", 1.0, "kyc_required", "m", "3", "run-1", 2),
]
BAD = {
    "score above 1": ((D, "x", 1.2, "review", "m", "3", "run-1", 1), "expect_column_values_to_be_between(score)"),
    "score below 0": ((D, "x", -0.1, "review", "m", "3", "run-1", 1), "expect_column_values_to_be_between(score)"),
    "no score": ((D, "x", None, "review", "m", "3", "run-1", 1), "expect_column_values_to_not_be_null(score)"),
    "unknown tier": ((D, "x", 0.5, "ban", "m", "3", "run-1", 1), "expect_column_values_to_be_in_set(risk_tier)"),
    "no model version": (
        (D, "x", 0.5, "review", "m", None, "run-1", 1),
        "expect_column_values_to_not_be_null(model_version)",
    ),
    "no run": ((D, "x", 0.5, "review", "m", "3", None, 1), "expect_column_values_to_not_be_null(scoring_run_id)"),
    "duplicate": (
        (D, "a", 0.5, "review", "m", "3", "run-1", 1),
        "expect_column_values_to_be_unique(account_id)",
        'expect_compound_columns_to_be_unique(["flag_date", "account_id"])',
    ),
}


def test_the_tier_set_is_the_policys() -> None:
    for suite in ("flagged_accounts", "exports"):
        tiers = [
            e["kwargs"]["value_set"]
            for e in quality.suite_json(suite)["expectations"]
            if e["kwargs"].get("column") == "risk_tier" and "value_set" in e["kwargs"]
        ]
        assert tiers == [list(TIERS)]
        assert len(quality.load_suite(suite).expectations) == len(quality.suite_json(suite)["expectations"])


def _failures(sail: SparkSession, lakehouse: Lakehouse, suite: str, rows: list[tuple]) -> list[str]:
    gates = quality.Gates(sail, lakehouse, "test")
    outcome = gates.check(suite, sail.createDataFrame(rows, SCHEMA))
    return [f"{r['expectation_type']}({r['column_name'] or 'table'})" for r in outcome.critical_failures]


@pytest.mark.parametrize("suite", ["flagged_accounts", "exports"])
def test_good_rows_pass_and_each_bad_row_fails_its_expectation(
    sail: SparkSession, lakehouse: Lakehouse, suite: str
) -> None:
    assert _failures(sail, lakehouse, suite, GOOD) == []
    for name, (row, *expectations) in BAD.items():
        assert _failures(sail, lakehouse, suite, GOOD + [row]) == expectations, name


def test_export_needs_a_reason(sail: SparkSession, lakehouse: Lakehouse) -> None:
    no_reason = (D, "x", 0.5, "review", "m", "3", "run-1", 0)
    assert _failures(sail, lakehouse, "exports", GOOD + [no_reason]) == [
        "expect_column_values_to_be_between(reason_count)"
    ]
