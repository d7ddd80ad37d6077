"""The local daily DAG on the generated tiny landing zone: order, skipping, --force, stopping.

Ingest and features run for real; the steps after them are exercised as far as a
lakehouse without a champion model allows (scoring stops the DAG with one line).
"""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard import locks, maintenance
from distillguard.cli import main
from distillguard.config import Lakehouse, Table
from distillguard.errors import DistillguardError
from distillguard.jobs import daily, demo
from distillguard.models import registry
from distillguard.secrets import DEMO_MARKER, PARTNER_HMAC_KEY_ENV

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
BUILT = (Table.INGEST_RUNS, Table.RAW_REQUESTS, Table.ACCOUNT_DAILY, Table.ACCOUNT_CLUSTERS)


@pytest.fixture
def home(tiny_landing: Lakehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    """A private copy of the generated tiny lakehouse (landing, demo keys, marker)."""
    shutil.copytree(tiny_landing.home, tmp_path / "lakehouse")
    lakehouse = Lakehouse.resolve(tmp_path / "lakehouse")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{lakehouse.mlflow_dir / 'mlflow.db'}")
    monkeypatch.delenv(registry.REGISTRY_ENV, raising=False)
    return lakehouse


def _versions(lakehouse: Lakehouse) -> dict[Table, int]:
    return {table: maintenance.version(lakehouse, table) for table in BUILT}


def test_steps_run_in_order_then_skip_then_force(
    sail: SparkSession, home: Lakehouse, capsys: pytest.CaptureFixture
) -> None:
    lines: list[str] = []
    first = daily.run(sail, home, D1, steps=("features", "ingest"), echo=lines.append)
    assert [(o["step"], o["status"]) for o in first] == [("ingest", "ran"), ("features", "ran")]
    assert [line.split()[2] for line in lines] == ["ingest", "ingest", "features", "features"]
    assert list(first[1]["result"]["daily_dates"]) == ["2026-11-01"]
    built = _versions(home)

    again = daily.run(sail, home, D1, steps=("ingest", "features"), echo=lines.append)
    assert [(o["step"], o["status"]) for o in again] == [("ingest", "skipped"), ("features", "skipped")]
    assert _versions(home) == built

    forced = daily.run(sail, home, D1, force=True, steps=("ingest", "features"), echo=lines.append)
    assert [(o["step"], o["status"]) for o in forced] == [("ingest", "ran"), ("features", "ran")]
    runs = DeltaTable(home.table_path(Table.INGEST_RUNS)).to_pandas()
    assert list(runs.status) == ["succeeded", "succeeded"]
    assert _versions(home)[Table.ACCOUNT_CLUSTERS] > built[Table.ACCOUNT_CLUSTERS]

    # Day 2 ingested alone: the next run skips ingest and builds only its features.
    assert [o["status"] for o in daily.run(sail, home, D2, steps=("ingest",), echo=lines.append)] == ["ran"]
    assert [
        (o["step"], o["status"]) for o in daily.run(sail, home, D2, steps=("ingest", "features"), echo=lines.append)
    ] == [("ingest", "skipped"), ("features", "ran")]

    # The whole DAG through the CLI: done steps skipped, scoring without a champion stops it.
    built = _versions(home)
    capsys.readouterr()
    assert (
        pytest.raises(SystemExit, main, ["--home", str(home.home), "run", "daily", "--date", "2026-11-02"]).value.code
        == 1
    )
    out, err = capsys.readouterr()
    assert "ingest   skipped" in out and "features skipped" in out and "score    running" in out
    assert err.strip().splitlines()[-1] == (
        "distillguard: error: daily 2026-11-02 stopped at score: no champion for distillguard_distillation; run "
        "`distillguard train` or `distillguard promote` (later steps not run)"
    )
    assert _versions(home) == built
    assert not home.exports.exists() and not home.reports.exists()
    assert not Path(home.table_path(Table.FLAGGED_ACCOUNTS)).exists()


def test_a_failed_gate_stops_the_dag(sail: SparkSession, home: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Day 2's accounts snapshot truncated to 10 accounts: the ingest gate refuses it.
    (An edited landing file ends demo status, so the keys come from the environment.)"""
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, (home.home / "secrets" / PARTNER_HMAC_KEY_ENV.lower()).read_text().strip())
    daily.run(sail, home, D1, steps=("ingest",), echo=lambda line: None)
    snapshot = home.landing_dir("accounts") / f"date={D2}" / "accounts.jsonl.gz"
    snapshot.write_bytes(gzip.compress(b"\n".join(gzip.decompress(snapshot.read_bytes()).splitlines()[:10]) + b"\n"))
    with pytest.raises(
        daily.StepFailed,
        match=r"^daily 2026-11-02 stopped at ingest: quality gate failed .*"
        r"accounts: expect_table_row_count_to_be_between",
    ):
        daily.run(sail, home, D2, steps=("ingest", "features"), echo=lambda line: None)
    assert not Path(home.table_path(Table.ACCOUNT_DAILY)).exists()
    runs = DeltaTable(home.table_path(Table.INGEST_RUNS)).to_pandas()
    assert sorted(zip(runs.landing_date.astype(str), runs.status)) == [
        ("2026-11-01", "succeeded"),
        ("2026-11-02", "failed_gate"),
    ]


def test_unknown_step_is_refused(sail: SparkSession, home: Lakehouse) -> None:
    with pytest.raises(DistillguardError, match="unknown step"):
        daily.run(sail, home, D1, steps=("ingest", "validate"))


def test_demo_refuses_a_lakehouse_with_other_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    real = tmp_path / "real"
    (real / "tables" / "raw" / "requests" / "_delta_log").mkdir(parents=True)
    assert pytest.raises(SystemExit, main, ["--home", str(real), "demo"]).value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"distillguard: error: {real} holds data and is not a demo lakehouse (no {DEMO_MARKER} marker); the demo "
        "only runs in an empty folder or an earlier demo: pass --home NEW_DIR"
    ]
    assert sorted(p.name for p in real.iterdir()) == ["tables"] and not (real / "landing").exists()

    landing = tmp_path / "landing" / "request_logs"
    landing.mkdir(parents=True)
    (landing / "x").write_text("x")
    with pytest.raises(DistillguardError, match="do not pass --landing to the demo"):
        demo.check_lakehouse(Lakehouse.resolve(tmp_path / "fresh", tmp_path / "landing"))
    demo.check_lakehouse(Lakehouse.resolve(tmp_path / "fresh"))
    # Only a lock file (a job refused on this home): no data, the demo may run there.
    locked = Lakehouse.resolve(tmp_path / "locked")
    lock = Path(locks.lock_path(locked, "ingest", None))
    lock.parent.mkdir(parents=True)
    lock.write_text("{}")
    demo.check_lakehouse(locked)
