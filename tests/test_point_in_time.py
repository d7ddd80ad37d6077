"""Incidents and partner indicators are appended with the date they were ingested: a
back-dated indicator never reaches a backfill of a day before its ingestion, and a landing
file removed later erases no label."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.jobs import features, ingest
from distillguard.models.training_set import labels_as_of
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, PSEUDONYM_KEY_ENV
from tests import landing as hand

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
BACK_DATED = "ip_prefix,203.1.0.0/24,lab-y,2026-11-01,0.8"


def _table(lakehouse: Lakehouse, table: Table):
    return DeltaTable(lakehouse.table_path(table)).to_pandas()


@pytest.fixture
def lakehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "partner-key")
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "pseudonym-key")
    home = Lakehouse(home=tmp_path / "home", landing=tmp_path / "landing")
    hand.build(home.landing, [D1, D2, D3])
    hand.write_csv(
        home.landing, "partner_indicators", "partner-001.csv", ["ip_prefix,198.51.100.0/24,lab-x,2026-11-01,0.9"]
    )
    return home


def test_back_dated_indicator_does_not_change_an_earlier_backfill(lakehouse: Lakehouse, sail: SparkSession) -> None:
    for day in (D1, D2):
        ingest.run(sail, lakehouse, day)
    features.backfill(sail, lakehouse, D1, D2)
    before = _table(lakehouse, Table.ACCOUNT_DAILY).sort_values(["feature_date", "account_id"]).reset_index(drop=True)
    assert before.partner_prefix_requests.sum() == 0

    hand.write_csv(lakehouse.landing, "partner_indicators", "partner-002.csv", [BACK_DATED])
    ingest.run(sail, lakehouse, D3)
    stored = _table(lakehouse, Table.PARTNER_INDICATORS).sort_values("value")
    assert list(zip(stored.value, stored.ingested_on)) == [("198.51.100.0/24", D1), ("203.1.0.0/24", D3)]
    assert [r.value for r in features.indicators_as_of(sail, lakehouse, D2).collect()] == ["198.51.100.0/24"]
    assert sorted(r.value for r in features.indicators_as_of(sail, lakehouse, D3).collect()) == [
        "198.51.100.0/24",
        "203.1.0.0/24",
    ]

    features.backfill(sail, lakehouse, D1, D2)
    after = _table(lakehouse, Table.ACCOUNT_DAILY)
    after = after[after.feature_date <= D2].sort_values(["feature_date", "account_id"]).reset_index(drop=True)
    assert after.equals(before)
    # Control: had the indicator been read by first_seen alone, D1 would have changed
    # (file 0 of D1 calls from 203.1.0.x: 5 requests, one or two per account).
    leaked = tables.read(sail, lakehouse, Table.PARTNER_INDICATORS)
    signals = tables.read(sail, lakehouse, Table.REQUEST_SIGNALS).where(f"event_date = DATE'{D1}'")
    from distillguard.features.account_daily import account_daily
    from distillguard.features.models_reference import models_as_of

    models = models_as_of(tables.read(sail, lakehouse, Table.MODEL_DAILY), D1)
    control = account_daily(signals, features.accounts_as_of(sail, lakehouse, D1), leaked, models, D1).toPandas()
    assert control.partner_prefix_requests.sum() == 5


def test_removed_landing_file_erases_no_label_and_revisions_keep_history(
    lakehouse: Lakehouse, sail: SparkSession
) -> None:
    ingest.run(sail, lakehouse, D1)
    (lakehouse.landing / "incidents" / "incidents-001.csv").unlink()
    hand.write_csv(
        lakehouse.landing,
        "incidents",
        "incidents-002.csv",
        ["inc-2,acct-b,benign,2026-11-01,2026-11-01,2026-11-01,red_team"],
    )
    ingest.run(sail, lakehouse, D2)
    ingest.run(sail, lakehouse, D2)  # a re-run appends nothing
    hand.write_csv(
        lakehouse.landing,
        "incidents",
        "incidents-003.csv",
        ["inc-2,acct-b,distillation,2026-11-01,2026-11-01,2026-11-01,red_team"],
    )
    ingest.run(sail, lakehouse, D3)
    stored = _table(lakehouse, Table.INCIDENTS).sort_values(["ingested_on", "incident_id"])
    assert list(zip(stored.incident_id, stored.label, stored.ingested_on)) == [
        ("inc-1", "distillation", D1),
        ("inc-2", "benign", D2),
        ("inc-2", "distillation", D3),
    ]
    incidents = tables.read(sail, lakehouse, Table.INCIDENTS)
    by_day = {
        day: sorted((r.incident_id, r.label) for r in labels_as_of(incidents, day).collect()) for day in (D1, D2, D3)
    }
    assert by_day == {
        D1: [],
        D2: [("inc-1", "distillation"), ("inc-2", "benign")],
        D3: [("inc-1", "distillation"), ("inc-2", "distillation")],
    }
