"""SIGKILL the features job at several points, re-run it: every table equals an
uninterrupted run's (in the style of the ingest SIGKILL tests)."""

from __future__ import annotations

import signal
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard.config import Lakehouse, Table
from distillguard.jobs import features, ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, PSEUDONYM_KEY_ENV
from tests import landing as hand
from tests.processes import kill_when

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
KEYS = {PARTNER_HMAC_KEY_ENV: "partner-key", PSEUDONYM_KEY_ENV: "pseudonym-key"}
FEATURE_TABLES = (
    Table.REQUEST_SIGNALS,
    Table.ACCOUNT_DAILY,
    Table.ACCOUNT_KEYS,
    Table.ACCOUNT_ROLLING,
    Table.ACCOUNT_CLUSTERS,
)


def _contents(lakehouse: Lakehouse, table: Table) -> list[tuple]:
    frame = DeltaTable(lakehouse.table_path(table)).to_pandas()
    frame = frame[sorted(frame.columns)]
    return sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))


def _ingested(root: Path, sail: SparkSession) -> Lakehouse:
    lakehouse = Lakehouse(home=root / "home", landing=root / "landing")
    hand.build(lakehouse.landing, [D1, D2], files=2, per_file=6)
    for day in (D1, D2):
        ingest.run(sail, lakehouse, day)
    return lakehouse


@pytest.fixture(scope="module")
def uninterrupted(sail: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[Table, list[tuple]]:
    patch = pytest.MonkeyPatch()
    for name, value in KEYS.items():
        patch.setenv(name, value)
    lakehouse = _ingested(tmp_path_factory.mktemp("whole"), sail)
    features.run(sail, lakehouse, D1)
    features.run(sail, lakehouse, D2)
    yield {table: _contents(lakehouse, table) for table in FEATURE_TABLES}
    patch.undo()


@pytest.mark.parametrize("killed_in", [Table.REQUEST_SIGNALS, Table.ACCOUNT_DAILY, Table.ACCOUNT_ROLLING])
def test_sigkill_features_then_rerun_equals_an_uninterrupted_run(
    killed_in: Table, uninterrupted: dict, sail: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    lakehouse = _ingested(tmp_path, sail)
    features.run(sail, lakehouse, D1)
    assert (
        kill_when(
            lakehouse,
            ["features", "--date", str(D2)],
            Path(lakehouse.table_path(killed_in)) / "feature_date=2026-11-02"
            if killed_in != Table.REQUEST_SIGNALS
            else Path(lakehouse.table_path(killed_in)) / "event_date=2026-11-02",
            KEYS,
            pattern="*.parquet",
        )
        == -signal.SIGKILL
    )
    features.run(sail, lakehouse, D2)
    for table in FEATURE_TABLES:
        assert _contents(lakehouse, table) == uninterrupted[table], table
