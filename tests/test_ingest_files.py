"""Corrupt landing files: each is quarantined whole with its evidence, the rest of the day
ingests, and a corrupt snapshot or CSV keeps the last good state."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard.cli import main
from distillguard.config import Lakehouse, Table
from distillguard.ingest import files
from distillguard.jobs import ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from tests import landing as hand

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def _table(lakehouse: Lakehouse, table: Table):
    return DeltaTable(lakehouse.table_path(table)).to_pandas()


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def test_inspect_names_each_fault_and_counts_lines_before_it(tmp_path: Path) -> None:
    body = hand.request_file(D1, 0, 200)
    whole = gzip.compress(body)
    cases = {
        "good.jsonl.gz": whole,
        "cut.jsonl.gz": whole[: len(whole) // 2],
        "plain.jsonl.gz": body,
        "empty.jsonl.gz": b"",
        "nul.jsonl.gz": gzip.compress(hand.request_line(D1, 0, 0) + b"x\x00y\n"),
        "gz-named-plain.jsonl": whole,
        "crc.jsonl.gz": whole[:-8] + b"\x00\x00\x00\x00" + whole[-4:],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    readable, corrupt = files.inspect(sorted(tmp_path.iterdir()), tmp_path, "request_logs")
    assert [p.name for p in readable] == ["good.jsonl.gz"]
    found = {item.path: (item.reason, item.size_bytes, item.sha256) for item in corrupt}
    assert found == {
        name: (reason, len(cases[name]), hashlib.sha256(cases[name]).hexdigest())
        for name, reason in {
            "cut.jsonl.gz": "truncated_gzip",
            "plain.jsonl.gz": "not_gzip",
            "empty.jsonl.gz": "truncated_gzip",
            "nul.jsonl.gz": "nul_byte",
            "gz-named-plain.jsonl": "gzip_not_named_gz",
            "crc.jsonl.gz": "corrupt_gzip",
        }.items()
    }
    recovered = {item.path: item.lines_recovered for item in corrupt}
    decompressed = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2])
    assert recovered["cut.jsonl.gz"] == decompressed.count(b"\n") and 0 < recovered["cut.jsonl.gz"] < 200
    assert recovered["nul.jsonl.gz"] == 1 and recovered["plain.jsonl.gz"] == 0


def test_csv_without_the_contract_header_is_corrupt(tmp_path: Path) -> None:
    good = hand.write_csv(
        tmp_path, "incidents", "a.csv", ["inc-1,acct-a,benign,2026-11-01,2026-11-01,2026-11-02,red_team"]
    )
    bad = tmp_path / "incidents" / "b.csv"
    bad.write_bytes(b"\xff\xfe garbage,,\n1,2\n")
    readable, corrupt = files.inspect([good, bad], tmp_path, "incidents", header=hand.INCIDENT_HEADER)
    assert readable == [good]
    assert [(c.path, c.reason) for c in corrupt] == [("incidents/b.csv", "csv_header")]


@pytest.fixture
def broken_day(tmp_path: Path, sail: SparkSession, monkeypatch: pytest.MonkeyPatch) -> tuple[Lakehouse, dict]:
    """D1 ingested clean; then D2 lands with one truncated request file (of 3), a non-gzip
    accounts snapshot, and a corrupt incidents file next to the good one."""
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "test-key")
    lakehouse = Lakehouse(home=tmp_path / "home", landing=tmp_path / "landing")
    hand.build(lakehouse.landing, [D1, D2], files=3, per_file=6)
    ingest.run(sail, lakehouse, D1)
    cut = lakehouse.landing / "request_logs" / f"date={D2}" / "part-00001.jsonl.gz"
    _truncate(cut, 60)
    (lakehouse.landing / "accounts" / f"date={D2}" / "accounts.jsonl.gz").write_bytes(hand.accounts_file(D2))
    (lakehouse.landing / "incidents" / "incidents-002.csv").write_bytes(b"\x1f\x8b\x08 not a csv\n")
    return lakehouse, ingest.run(sail, lakehouse, D2)


def test_the_rest_of_the_day_ingests_and_the_run_says_so(broken_day: tuple[Lakehouse, dict]) -> None:
    lakehouse, row = broken_day
    assert (row["files"], row["accepted"], row["quarantined"], row["files_quarantined"]) == (2, 12, 0, 3)
    raw = _table(lakehouse, Table.RAW_REQUESTS)
    mine = raw[raw.landing_date == D2]
    assert sorted(mine.request_id) == sorted(f"r-{D2}-{f}-{n}" for f in (0, 2) for n in range(6))
    record = _table(lakehouse, Table.QUARANTINED_FILES).sort_values("path")
    assert list(record.path) == [
        f"accounts/date={D2}/accounts.jsonl.gz",
        "incidents/incidents-002.csv",
        f"request_logs/date={D2}/part-00001.jsonl.gz",
    ]
    assert list(record.reason) == ["not_gzip", "gzip_not_named_gz", "truncated_gzip"]
    assert record.size_bytes.iloc[2] == 60
    cut = lakehouse.landing / record.path.iloc[2]
    assert record.sha256.iloc[2] == hashlib.sha256(cut.read_bytes()).hexdigest()
    assert (lakehouse.home / record.kept_at.iloc[2]).read_bytes() == cut.read_bytes()
    assert Path(lakehouse.table_path(Table.RAW_QUARANTINED_FILES)) in (lakehouse.home / record.kept_at.iloc[2]).parents
    runs = _table(lakehouse, Table.INGEST_RUNS)
    stored = runs[runs.landing_date == D2].iloc[0]
    assert stored.status == "succeeded" and "3 unreadable file(s) quarantined whole" in stored.message
    assert {item["reason"] for item in json.loads(stored.quarantined_files)} == {
        "not_gzip",
        "gzip_not_named_gz",
        "truncated_gzip",
    }


def test_last_good_snapshot_and_labels_are_kept(broken_day: tuple[Lakehouse, dict]) -> None:
    lakehouse, row = broken_day
    accounts = _table(lakehouse, Table.ACCOUNTS)
    assert accounts.groupby("snapshot_date").size().to_dict() == {D1: 3}
    assert row["accounts_accepted"] is None
    incidents = _table(lakehouse, Table.INCIDENTS)
    assert list(incidents.incident_id) == ["inc-1"] and list(incidents.ingested_on) == [D1]


def test_redelivery_clears_the_record(broken_day: tuple[Lakehouse, dict], sail: SparkSession) -> None:
    lakehouse, _ = broken_day
    (lakehouse.landing / "request_logs" / f"date={D2}" / "part-00001.jsonl.gz").write_bytes(
        gzip.compress(hand.request_file(D2, 1, 6))
    )
    (lakehouse.landing / "accounts" / f"date={D2}" / "accounts.jsonl.gz").write_bytes(
        gzip.compress(hand.accounts_file(D2))
    )
    (lakehouse.landing / "incidents" / "incidents-002.csv").unlink()
    row = ingest.run(sail, lakehouse, D2)
    assert (row["accepted"], row["accepted_before"], row["files_quarantined"]) == (18, 12, 0)
    record = _table(lakehouse, Table.QUARANTINED_FILES)
    assert list(record.landing_date) == []
    assert _table(lakehouse, Table.ACCOUNTS).groupby("snapshot_date").size().to_dict() == {D1: 3, D2: 3}


def test_every_file_corrupt_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "test-key")
    landing = tmp_path / "landing"
    hand.build(landing, [D1], files=1, per_file=3)
    (landing / "request_logs" / f"date={D1}" / "part-00000.jsonl.gz").write_bytes(b"<html>not found</html>")
    argv = ["ingest", "--date", str(D1), "--home", str(tmp_path / "home"), "--landing", str(landing)]
    code = pytest.raises(SystemExit, main, argv).value.code
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "every request log file" in err and "part-00000.jsonl.gz (not_gzip" in err
