"""The run ledger: a step counts as done only once ``run daily`` saw it return with every
effect written; evidence alone (a run outside the ledger, or killed before it) reruns it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard import ledger
from distillguard.config import Lakehouse, Table
from distillguard.jobs import daily, ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from tests import landing as hand

D1 = date(2026, 11, 1)


def test_daily_skips_only_what_the_ledger_holds(
    tmp_path: Path, sail: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "test-key")
    home = Lakehouse(home=tmp_path / "home", landing=tmp_path / "landing")
    hand.build(home.landing, [D1])
    ingest.run(sail, home, D1)  # evidence (a succeeded run row), but no ledger row
    assert not ledger.done(home, "ingest", D1)
    first = daily.run(sail, home, D1, steps=("ingest",), echo=lambda line: None)
    assert [o["status"] for o in first] == ["ran"] and ledger.done(home, "ingest", D1)
    again = daily.run(sail, home, D1, steps=("ingest",), echo=lambda line: None)
    assert [o["status"] for o in again] == ["skipped"]
    rows = DeltaTable(home.table_path(Table.RUN_LEDGER)).to_pandas()
    assert list(zip(rows.step, rows.day)) == [("ingest", D1)] and "10 accepted" in rows.detail[0]
    assert not ledger.done(home, "features", D1) and not ledger.done(home, "ingest", date(2026, 11, 2))
