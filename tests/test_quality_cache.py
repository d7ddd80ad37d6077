"""Gates rewrite a suite's GX objects only when its file changed, and build Data Docs once per run."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import SparkSession

from distillguard import quality
from distillguard.config import Lakehouse


def _flagged(spark: SparkSession):
    return spark.createDataFrame(
        [(date(2026, 11, 3), a, 0.9, "review", "m", "1", "run") for a in ("a", "b")],
        "flag_date date, account_id string, score double, risk_tier string, model_name string, "
        "model_version string, scoring_run_id string",
    )


def test_suite_objects_follow_the_file(
    sail: SparkSession, lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = quality.suite_json("flagged_accounts")
    first = quality.Gates(sail, lakehouse, "run-1")
    assert len(first.check("flagged_accounts", _flagged(sail)).rows) == len(spec["expectations"]) == 11
    stored = first.context.suites.get("flagged_accounts")
    assert stored.meta[quality.SPEC_KEY] == quality.spec_digest(spec)
    suite_file = lakehouse.gx_project / "expectations" / "flagged_accounts.json"
    written = suite_file.stat().st_mtime_ns
    first.close()
    # Same file: the stored checkpoint is reused, nothing is written again.
    again = quality.Gates(sail, lakehouse, "run-2")
    assert again._stored_checkpoint("flagged_accounts", quality.spec_digest(spec)) is not None
    again.check("flagged_accounts", _flagged(sail))
    assert suite_file.stat().st_mtime_ns == written
    # A changed file (one expectation fewer) replaces the stored suite.
    shorter = {**spec, "expectations": spec["expectations"][:-1]}
    monkeypatch.setattr(quality, "suite_json", lambda name: shorter)
    changed = quality.Gates(sail, lakehouse, "run-3")
    assert len(changed.check("flagged_accounts", _flagged(sail)).rows) == 10
    assert changed.context.suites.get("flagged_accounts").meta[quality.SPEC_KEY] == quality.spec_digest(shorter)


def test_data_docs_are_built_when_the_gates_close(sail: SparkSession, lakehouse: Lakehouse) -> None:
    gates = quality.Gates(sail, lakehouse, "run-docs")
    gates.check("flagged_accounts", _flagged(sail))
    pages = lakehouse.data_docs / "validations" / "flagged_accounts" / "run-docs"
    assert not pages.exists()
    gates.close()
    assert len(list(pages.rglob("*.html"))) == 1
    assert "validations/flagged_accounts/run-docs/" in (lakehouse.data_docs / "index.html").read_text()
