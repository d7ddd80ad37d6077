"""The ingest job end to end on Sail and Delta: reconciliation against the generator's
fault counts, idempotent re-runs, gates that stop a run, a SIGKILL mid-write, and no
personal data outside the raw layer."""

from __future__ import annotations

import gzip
import json
import shutil
import signal
from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard.config import Lakehouse, Table
from distillguard.jobs import ingest
from distillguard.maintenance import version
from distillguard.quality import GateFailed
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from tests.pii import find_pii, scanned_tables
from tests.processes import kill_when

DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
INVALID = ("malformed_json", "wrong_type", "missing_required", "invalid_utf8", "future_timestamp", "huge_prompt")
REASON = {"huge_prompt": "prompt_too_long"}


def _lines(landing: Path, day: date) -> int:
    folder = landing / "request_logs" / f"date={day}"
    return sum(gzip.decompress(p.read_bytes()).count(b"\n") for p in folder.glob("*.jsonl.gz"))


def _table(lakehouse: Lakehouse, table: Table):
    return DeltaTable(lakehouse.table_path(table)).to_pandas()


@pytest.fixture(scope="module")
def partner_key(tiny_landing: Lakehouse) -> str:
    """The key the generator used for partner HMACs, so accounts match partner indicators."""
    return (tiny_landing.home / "secrets" / PARTNER_HMAC_KEY_ENV.lower()).read_text().strip()


@pytest.fixture(scope="module")
def ingested(sail: SparkSession, tiny_landing: Lakehouse, partner_key: str, tmp_path_factory: pytest.TempPathFactory):
    """Three folder dates ingested in order into a fresh lakehouse over the tiny landing zone."""
    patch = pytest.MonkeyPatch()
    patch.setenv(PARTNER_HMAC_KEY_ENV, partner_key)
    lakehouse = Lakehouse(home=tmp_path_factory.mktemp("ingest") / "lakehouse", landing=tiny_landing.landing)
    runs = [ingest.run(sail, lakehouse, day) for day in DAYS]
    yield lakehouse, runs
    patch.undo()


@pytest.fixture(scope="module")
def truth(tiny_landing: Lakehouse) -> dict:
    return json.loads((tiny_landing.truth / "faults.json").read_text())


def test_counts_reconcile_with_every_fault_class(ingested, truth: dict, tiny_landing: Lakehouse) -> None:
    lakehouse, runs = ingested
    for day, row in zip(DAYS, runs):
        faults = truth["by_folder"][str(day)]
        quarantined = {REASON.get(name, name): faults.get(name, 0) for name in INVALID}
        duplicates = sum(
            faults.get(n, 0) for n in ("duplicate_same_file", "duplicate_other_file", "duplicate_other_day")
        )
        assert row["lines_read"] == _lines(tiny_landing.landing, day)
        assert json.loads(row["quarantined_by_reason"]) == quarantined
        assert row["quarantined"] == sum(quarantined.values())
        assert row["duplicates_in_batch"] == faults["duplicate_same_file"] + faults["duplicate_other_file"]
        assert row["duplicates_of_stored"] == faults.get("duplicate_other_day", 0)
        assert row["duplicates_dropped"] == duplicates
        assert row["lines_read"] == row["accepted"] + row["duplicates_dropped"] + row["quarantined"]
    stored = _table(lakehouse, Table.INGEST_RUNS)
    assert sorted(stored.accepted) == sorted(r["accepted"] for r in runs)
    raw = _table(lakehouse, Table.RAW_REQUESTS)
    assert len(raw) == raw.request_id.nunique() == sum(r["accepted"] for r in runs)
    assert len(raw) == truth["lines_written"] - truth["invalid_lines"] - sum(
        truth["faults"][n] for n in ("duplicate_same_file", "duplicate_other_file", "duplicate_other_day")
    )


def test_quarantine_keeps_raw_text_in_raw_layer_and_reason_in_quality(ingested, truth: dict) -> None:
    lakehouse, _ = ingested
    raw_q = _table(lakehouse, Table.RAW_QUARANTINE)
    expected = {REASON.get(n, n): truth["faults"][n] for n in INVALID}
    assert raw_q.groupby("reason").size().to_dict() == expected
    assert set(raw_q.source) == {"request_logs"}
    huge = raw_q[raw_q.reason == "prompt_too_long"]
    assert all(len(text) > 20_000 for text in huge.raw_line)
    assert all("\ufffd" in text for text in raw_q[raw_q.reason == "invalid_utf8"].raw_line)
    assert set(raw_q.source_file.str.split("/").str[0]) == {"request_logs"}
    summary = _table(lakehouse, Table.QUARANTINE)
    assert "raw_line" not in summary.columns and len(summary) == len(raw_q)
    assert set(summary.line_sha256) == set(raw_q.line_sha256)


def test_late_and_skewed_events_land_in_their_event_date(ingested, truth: dict, sail: SparkSession) -> None:
    lakehouse, runs = ingested
    raw = _table(lakehouse, Table.RAW_REQUESTS)
    for day, row in zip(DAYS, runs):
        faults = truth["by_folder"][str(day)]
        mine = raw[raw.landing_date == day]
        assert (mine.event_date < day).sum() == faults.get("late", 0)
        assert (mine.event_date == day + timedelta(days=1)).sum() == faults["clock_skew_next_day"]
        assert row["changed_event_dates"] == sorted(set(mine.event_date))
        assert ingest.changed_event_dates(sail, lakehouse, day) == sorted(set(mine.event_date))
    assert runs[2]["changed_event_dates"] == [date(2026, 11, d) for d in (1, 2, 3, 4)]
    assert ingest.changed_event_dates(sail, lakehouse, date(2026, 12, 1)) == []


def test_rerun_leaves_tables_unchanged(ingested, sail: SparkSession) -> None:
    lakehouse, runs = ingested
    before = {t: _table(lakehouse, t) for t in (Table.RAW_REQUESTS, Table.RAW_QUARANTINE, Table.ACCOUNTS)}
    again = ingest.run(sail, lakehouse, DAYS[1])
    keys = ("lines_read", "accepted", "duplicates_dropped", "quarantined", "changed_event_dates")
    assert {k: again[k] for k in keys} == {k: runs[1][k] for k in keys}
    assert again["accepted_before"] == runs[1]["accepted"]
    for table, frame in before.items():
        after = _table(lakehouse, table)
        columns = [c for c in frame.columns if c != "ingest_run_id"]
        assert len(after) == len(frame), table
        key = (
            ["request_id"]
            if table == Table.RAW_REQUESTS
            else (["snapshot_date", "account_id"] if table == Table.ACCOUNTS else ["line_sha256"])
        )
        left = frame[columns].sort_values(key).reset_index(drop=True)
        right = after[columns].sort_values(key).reset_index(drop=True)
        assert left.astype(str).equals(right.astype(str)), table


def test_accounts_incidents_and_indicators(ingested, tiny_landing: Lakehouse, partner_key: str) -> None:
    lakehouse, runs = ingested
    accounts = _table(lakehouse, Table.ACCOUNTS)
    assert accounts.groupby("snapshot_date").size().to_dict() == {d: 354 for d in DAYS}
    assert "payment_fingerprint_hmac" in accounts.columns
    indicators = _table(lakehouse, Table.PARTNER_INDICATORS)
    shared = set(indicators[indicators.indicator_type == "payment_fingerprint_hmac"].value)
    assert len(shared & set(accounts.payment_fingerprint_hmac.dropna())) >= 1
    incidents = _table(lakehouse, Table.INCIDENTS)
    assert (len(incidents), len(indicators)) == (runs[-1]["incidents_accepted"], runs[-1]["indicators_accepted"])
    assert len(incidents) == sum(
        1 for p in (tiny_landing.landing / "incidents").glob("*.csv") for _ in p.read_text().splitlines()[1:]
    )
    assert runs[-1]["accounts_quarantined"] == runs[-1]["incidents_quarantined"] == 0
    assert (len(_table(lakehouse, Table.RAW_ACCOUNTS)), runs[0]["accounts_duplicates"]) == (3 * 354, 0)


def test_gate_results_and_data_docs(ingested) -> None:
    lakehouse, runs = ingested
    results = _table(lakehouse, Table.GATE_RESULTS)
    assert set(results.suite) == {"raw_requests", "accounts", "incidents", "partner_indicators"}
    assert results[results.severity == "critical"].success.all()
    assert (lakehouse.data_docs / "index.html").is_file()


def test_no_personal_data_outside_the_raw_layer(ingested) -> None:
    lakehouse, _ = ingested
    assert {
        "quality/quarantine",
        "quality/ingest_runs",
        "quality/gate_results",
        "refined/accounts",
        "refined/incidents",
        "refined/partner_indicators",
    } <= set(scanned_tables(lakehouse))
    assert find_pii(lakehouse) == []


def test_pii_scan_finds_a_planted_leak(sail: SparkSession, tiny_landing: Lakehouse, lakehouse: Lakehouse) -> None:
    probe = Lakehouse(home=lakehouse.home, landing=tiny_landing.landing)
    lines = gzip.decompress(next((tiny_landing.landing / "request_logs").rglob("part-*.gz")).read_bytes())
    first = next(r for r in map(json.loads, lines.splitlines()[:50]) if r.get("client_ip") and r.get("prompt_text"))
    sail.createDataFrame(
        [(first["client_ip"], "note: " + first["prompt_text"][:40])], "ip string, note string"
    ).write.format("delta").save(str(probe.tables_root / "refined" / "probe"))
    assert sorted(hit.split(":")[1].strip().split(" ")[0] for hit in find_pii(probe)) == ["client_ip", "prompt_text"]


def test_critical_gate_failure_writes_nothing(ingested, sail: SparkSession, tmp_path: Path) -> None:
    """A folder holding only re-delivered lines: accepted volume 0 against a trailing
    median of thousands fails the critical volume bound."""
    lakehouse, _ = ingested
    landing = tmp_path / "landing"
    shutil.copytree(lakehouse.landing, landing)
    day = date(2026, 11, 4)
    source = landing / "request_logs" / "date=2026-11-03" / "part-00000.jsonl.gz"
    target = landing / "request_logs" / f"date={day}" / "part-00000.jsonl.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress(b"\n".join(gzip.decompress(source.read_bytes()).splitlines()[:20]) + b"\n"))
    broken = Lakehouse(home=lakehouse.home, landing=landing)
    versions = {t: version(broken, t) for t in (Table.RAW_REQUESTS, Table.RAW_QUARANTINE, Table.ACCOUNTS)}
    with pytest.raises(GateFailed, match=r"raw_requests: expect_column_sum_to_be_between\(from_this_run\) observed 0"):
        ingest.run(sail, broken, day)
    assert {t: version(broken, t) for t in versions} == versions
    runs = _table(broken, Table.INGEST_RUNS)
    assert list(runs[runs.landing_date == day].status) == ["failed_gate"]
    assert ingest.changed_event_dates(sail, broken, day) == []


@pytest.mark.parametrize("killed_in", ["staging", "raw_requests", "raw_quarantine"])
def test_sigkill_mid_write_then_rerun_is_correct(
    killed_in: str,
    sail: SparkSession,
    tiny_landing: Lakehouse,
    partner_key: str,
    truth: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = DAYS[1]
    lakehouse = Lakehouse(home=tmp_path / "lakehouse", landing=tiny_landing.landing)
    marker = {
        "staging": Path(lakehouse.table_path(Table.RAW_STAGING)),
        "raw_requests": Path(lakehouse.table_path(Table.RAW_REQUESTS)),
        "raw_quarantine": Path(lakehouse.table_path(Table.RAW_QUARANTINE)),
    }[killed_in]
    ingest_day = ["ingest", "--date", str(day)]
    assert kill_when(lakehouse, ingest_day, marker, {PARTNER_HMAC_KEY_ENV: partner_key}, timeout=120) == -signal.SIGKILL
    runs_path = Path(lakehouse.table_path(Table.INGEST_RUNS))
    assert not runs_path.exists()
    faults = truth["by_folder"][str(day)]
    expected_accepted = (
        _lines(tiny_landing.landing, day)
        - sum(faults[n] for n in INVALID)
        - faults["duplicate_same_file"]
        - faults["duplicate_other_file"]
    )
    if (Path(lakehouse.table_path(Table.RAW_REQUESTS)) / "_delta_log").exists():
        visible = len(_table(lakehouse, Table.RAW_REQUESTS))
        assert visible in (0, expected_accepted)
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, partner_key)
    row = ingest.run(sail, lakehouse, day)
    assert (row["accepted"], row["quarantined"]) == (expected_accepted, sum(faults[n] for n in INVALID))
    raw = _table(lakehouse, Table.RAW_REQUESTS)
    assert len(raw) == raw.request_id.nunique() == expected_accepted
    assert len(_table(lakehouse, Table.RAW_QUARANTINE)) == row["quarantined"]
    assert list(_table(lakehouse, Table.INGEST_RUNS).status) == ["succeeded"]
