"""``ingest --start --end``: several folder dates in one run equal the same dates ingested
one by one in date order, table by table; a critical gate failure stops at its date."""

from __future__ import annotations

import gzip
import json
import re
import signal
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard.config import Lakehouse, Table
from distillguard.ingest.accounts import dedupe_snapshot, parse_account_lines
from distillguard.ingest.requests import classify_days, folder_date
from distillguard.jobs import ingest
from distillguard.quality import GateFailed
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from tests import landing as hand
from tests.processes import kill_when

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
# Columns that name a run (its id, clock, message, the table version it wrote): the only
# ones allowed to differ between the two ways of ingesting.
RUN_COLUMNS = {
    Table.RAW_REQUESTS: {"ingest_run_id"},
    Table.RAW_QUARANTINE: {"ingest_run_id"},
    Table.QUARANTINE: {"ingest_run_id"},
    Table.QUARANTINED_FILES: {"run_id"},
    Table.RAW_ACCOUNTS: set(),
    Table.ACCOUNTS: set(),
    Table.INCIDENTS: set(),
    Table.PARTNER_INDICATORS: set(),
    Table.INGEST_RUNS: {"run_id", "started_at", "finished_at", "message", "raw_requests_version"},
}


def _line(request_id: str, ts: str) -> bytes:
    record = json.loads(hand.request_line(D1, 0, 0))
    return json.dumps({**record, "request_id": request_id, "ts": ts}).encode() + b"\n"


def _landing(root: Path) -> Path:
    """Three dates of ``tests/landing.py`` (2 files x 5 lines each) plus, by hand:
    D2: a re-delivery of a D1 request, a late event of D1, a line that is not JSON;
    D3: a late event of D2, a request twice in the same file, a truncated gzip file (kept
    whole in quarantine); a 4th account in D3's snapshot."""
    landing = root / "landing"
    hand.build(landing, [D1, D2, D3])
    extra = {
        D2: hand.request_line(D1, 0, 0) + _line("late-1", f"{D1}T22:00:00Z") + b"not json\n",
        D3: _line("late-2", f"{D2}T23:30:00Z") + hand.request_line(D3, 0, 1),
    }
    for day, lines in extra.items():
        (landing / "request_logs" / f"date={day}" / "part-00002.jsonl.gz").write_bytes(gzip.compress(lines))
    truncated = gzip.compress(hand.request_file(D3, 3, 50))
    (landing / "request_logs" / f"date={D3}" / "part-00003.jsonl.gz").write_bytes(truncated[: len(truncated) // 2])
    snapshot = landing / "accounts" / f"date={D3}" / "accounts.jsonl.gz"
    account = json.loads(hand.accounts_file(D3).splitlines()[0])
    snapshot.write_bytes(
        gzip.compress(hand.accounts_file(D3) + json.dumps({**account, "account_id": "acct-d"}).encode() + b"\n")
    )
    return landing


def _contents(lakehouse: Lakehouse, table: Table) -> list[tuple] | None:
    if not (Path(lakehouse.table_path(table)) / "_delta_log").is_dir():
        return None
    frame = DeltaTable(lakehouse.table_path(table)).to_pandas()
    frame = frame[sorted(set(frame.columns) - RUN_COLUMNS[table])]
    return sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))


def _runs(lakehouse: Lakehouse) -> dict[date, list[dict]]:
    frame = DeltaTable(lakehouse.table_path(Table.INGEST_RUNS)).to_pandas().sort_values("finished_at")
    found: dict[date, list[dict]] = {}
    for row in frame.to_dict("records"):
        found.setdefault(row["landing_date"], []).append(row)
    return found


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "partner-key")


def test_classify_days_gives_each_date_its_one_by_one_outcome(engine: SparkSession) -> None:
    """The transformation behind the range run, on both engines: first copy within a date,
    earliest date across dates, stored rows first."""
    rows = [
        ("a", D1, "f1"),
        ("b", D1, "f1"),
        ("b", D2, "f1"),
        ("c", D2, "f2"),
        ("c", D2, "f1"),
        ("d", D1, "f1"),
        ("d", D2, "f1"),
        ("e", D2, "f1"),
    ]
    valid = engine.createDataFrame(
        [(D1, rid, f"request_logs/date={day}/{name}", f"{D1} 10:00:00", "acct", "run") for rid, day, name in rows],
        "event_date date, request_id string, source_file string, ts string, account_id string, ingest_run_id string",
    ).select("*", folder_date("request_logs").alias("landing_date"))
    prior = engine.createDataFrame(
        [(D1, "d", D1), (D1, "e", D3)], "event_date date, request_id string, landing_date date"
    )
    got = sorted(
        (r.request_id, r.landing_date, r.source_file.rsplit("/", 1)[1], r.outcome)
        for r in classify_days(valid, prior).collect()
    )
    assert got == [
        ("a", D1, "f1", "new"),
        ("b", D1, "f1", "new"),
        ("b", D2, "f1", "duplicate"),
        ("c", D2, "f1", "new"),
        ("d", D1, "f1", "accepted_before"),
        ("d", D2, "f1", "duplicate"),
        ("e", D2, "f1", "duplicate"),
    ]


def test_accounts_of_several_snapshots_dedupe_per_snapshot(engine: SparkSession) -> None:
    lines = [
        (line.decode(), f"accounts/date={day}/accounts.jsonl")
        for day in (D1, D2)
        for line in hand.accounts_file(day).splitlines()
    ]
    lines.append((lines[0][0], f"accounts/date={D2}/accounts.jsonl"))
    parsed = parse_account_lines(
        engine.createDataFrame(lines, "value string, source_file string"), folder_date("accounts")
    )
    snapshot = dedupe_snapshot(parsed.filter("reason IS NULL"))
    assert sorted((r.snapshot_date, r.account_id) for r in snapshot.collect()) == [
        (day, account) for day in (D1, D2) for account in hand.ACCOUNTS
    ]


# The jobs below write Delta: Sail only (the Apache Spark test server has no Delta).
def test_range_equals_one_by_one(sail: SparkSession, tmp_path: Path) -> None:
    engine = sail
    landing = _landing(tmp_path)
    one, whole = Lakehouse(tmp_path / "one", landing), Lakehouse(tmp_path / "whole", landing)
    loop = [ingest.run(engine, one, day) for day in (D1, D2, D3)]
    result = ingest.run_range(engine, whole, D1, D3)
    assert result["skipped"] == []
    figures = (
        "landing_date",
        "files",
        "lines_read",
        "accepted",
        "duplicates_in_batch",
        "duplicates_of_stored",
        "quarantined",
        "changed_event_dates",
        "accounts_accepted",
        "incidents_accepted",
        "indicators_accepted",
    )
    expected = [
        (D1, 2, 10, 10, 0, 0, 0, [D1], 3, 1, 1),
        # 10 own + the late event; the D1 request was stored by D1; "not json" quarantined
        (D2, 3, 13, 11, 0, 1, 1, [D1, D2], 3, 1, 1),
        # 10 own + the late event of D2; the second copy of r-D3-0-1 dropped in the batch
        (D3, 3, 12, 11, 1, 0, 0, [D2, D3], 4, 1, 1),
    ]
    assert [tuple(row[k] for k in figures) for row in loop] == expected
    assert [tuple(row[k] for k in figures) for row in result["runs"]] == expected
    assert [row["gate_warnings"] for row in result["runs"]] == [row["gate_warnings"] for row in loop]
    for table in RUN_COLUMNS:
        assert _contents(whole, table) == _contents(one, table), table
    raw = DeltaTable(whole.table_path(Table.RAW_REQUESTS)).to_pandas()
    assert len(raw) == 32
    assert raw.groupby("event_date").size().to_dict() == {D1: 11, D2: 11, D3: 10}
    assert set(raw[raw.request_id == "r-2026-11-01-0-0"].landing_date) == {D1}
    # Each date's rows name its own run, as one run per date would.
    runs = {row["landing_date"]: row["run_id"] for row in result["runs"]}
    assert {(r.landing_date, r.ingest_run_id) for r in raw.itertuples()} == set(runs.items())
    quarantined = DeltaTable(whole.table_path(Table.RAW_QUARANTINE)).to_pandas()
    assert list(zip(quarantined.landing_date, quarantined.reason, quarantined.ingest_run_id)) == [
        (D2, "malformed_json", runs[D2])
    ]
    accounts = DeltaTable(whole.table_path(Table.ACCOUNTS)).to_pandas()
    assert accounts.groupby("snapshot_date").size().to_dict() == {D1: 3, D2: 3, D3: 4}
    incidents = DeltaTable(whole.table_path(Table.INCIDENTS)).to_pandas()
    assert list(incidents.ingested_on) == [D1]
    files = DeltaTable(whole.table_path(Table.QUARANTINED_FILES)).to_pandas()
    assert list(zip(files.landing_date, files.path, files.run_id)) == [
        (D3, f"request_logs/date={D3}/part-00003.jsonl.gz", runs[D3])
    ]


def test_gate_failure_on_day_two_commits_day_one_then_rerun_skips_it(sail: SparkSession, tmp_path: Path) -> None:
    """D2's snapshot cut to one account (D1 had three: fewer than 90% is a truncated file):
    the accounts gate fails critically on D2."""
    engine = sail
    landing = _landing(tmp_path)
    snapshot = landing / "accounts" / f"date={D2}" / "accounts.jsonl.gz"
    full = snapshot.read_bytes()
    snapshot.write_bytes(gzip.compress(gzip.decompress(full).splitlines(keepends=True)[0]))
    one, whole = Lakehouse(tmp_path / "one", landing), Lakehouse(tmp_path / "whole", landing)
    ingest.run(engine, one, D1)
    with pytest.raises(GateFailed) as by_date:
        ingest.run(engine, one, D2)
    with pytest.raises(GateFailed) as by_range:
        ingest.run_range(engine, whole, D1, D3)
    message = str(by_range.value)
    assert "\n" not in message
    assert re.match(rf"quality gate failed \(run ingest-{D2}-[0-9a-f]{{12}}\): accounts: ", message)
    assert "observed 1" in message
    run_id = re.compile(r"ingest-\d{4}-\d\d-\d\d-[0-9a-f]{12}")
    home = re.compile(r"Details: .*$")
    assert home.sub("", run_id.sub("RUN", message)) == home.sub("", run_id.sub("RUN", str(by_date.value)))
    runs = _runs(whole)
    assert {day: [r["status"] for r in rows] for day, rows in runs.items()} == {
        D1: ["succeeded"],
        D2: ["failed_gate"],
    }
    raw = DeltaTable(whole.table_path(Table.RAW_REQUESTS)).to_pandas()
    assert (len(raw), set(raw.landing_date)) == (10, {D1})
    accounts = DeltaTable(whole.table_path(Table.ACCOUNTS)).to_pandas()
    assert set(accounts.snapshot_date) == {D1}
    for table in RUN_COLUMNS:
        assert _contents(whole, table) == _contents(one, table), table

    snapshot.write_bytes(full)
    result = ingest.run_range(engine, whole, D1, D3)
    assert result["skipped"] == [D1]
    assert [(r["landing_date"], r["accepted"]) for r in result["runs"]] == [(D2, 11), (D3, 11)]
    runs = _runs(whole)
    assert {day: [r["status"] for r in rows] for day, rows in runs.items()} == {
        D1: ["succeeded"],
        D2: ["failed_gate", "succeeded"],
        D3: ["succeeded"],
    }
    assert len(DeltaTable(whole.table_path(Table.RAW_REQUESTS)).to_pandas()) == 32


@pytest.mark.parametrize("killed_in", [Table.RAW_REQUESTS, Table.RAW_QUARANTINE])
def test_sigkill_mid_range_then_rerun_equals_an_uninterrupted_run(
    killed_in: Table, sail: SparkSession, tmp_path: Path
) -> None:
    landing = _landing(tmp_path)
    killed, whole = Lakehouse(tmp_path / "killed", landing), Lakehouse(tmp_path / "whole", landing)
    ingest_range = ["ingest", "--start", str(D1), "--end", str(D3)]
    marker = Path(killed.table_path(killed_in))
    assert kill_when(killed, ingest_range, marker, {PARTNER_HMAC_KEY_ENV: "partner-key"}) == -signal.SIGKILL
    assert not (Path(killed.table_path(Table.INGEST_RUNS)) / "_delta_log").exists()
    rerun = ingest.run_range(sail, killed, D1, D3)
    uninterrupted = ingest.run_range(sail, whole, D1, D3)
    assert [r["accepted"] for r in rerun["runs"]] == [r["accepted"] for r in uninterrupted["runs"]] == [10, 11, 11]
    for table in RUN_COLUMNS:
        if table is Table.INGEST_RUNS:
            continue
        assert _contents(killed, table) == _contents(whole, table), table
    runs = [{k: v for k, v in r.items() if k not in RUN_COLUMNS[Table.INGEST_RUNS]} for r in rerun["runs"]]
    plain = [{k: v for k, v in r.items() if k not in RUN_COLUMNS[Table.INGEST_RUNS]} for r in uninterrupted["runs"]]
    # A re-run counts the rows the killed attempt stored as accepted again (accepted_before),
    # and does not gate incidents and indicators the attempt already stored (as a re-run of
    # one date does not): fewer gate warnings.
    for row in (*runs, *plain):
        row.pop("accepted_before")
        row.pop("gate_warnings")
        row.pop("step_seconds", None)
    assert runs == plain
