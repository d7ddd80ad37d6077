"""``distillguard maintain``: after it, no file anywhere under the lakehouse (tables and
their logs, quarantined files, Data Docs, MLflow) holds an expired client_ip or prompt,
while data inside the retention stays."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard.cli import main
from distillguard.config import Lakehouse, Table
from distillguard.jobs import ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from tests import landing as hand

OLD, KEPT = date(2026, 11, 1), date(2026, 11, 20)
TODAY = date(2026, 12, 5)  # retention 30 days: cutoff 2026-11-05


def _texts(path: Path) -> list[str]:
    """What a file says, decoded: parquet cells, gunzipped bytes, or the raw bytes."""
    data = path.read_bytes()
    if path.suffix == ".parquet" or data[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(data))
        return [str(v) for column in table.columns for v in column.to_pylist() if v is not None]
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompressobj(wbits=31).decompress(data)  # a truncated file yields what it holds
    return [data.decode("utf-8", "replace")]


def _holders(home: Path, needles: set[str]) -> list[str]:
    found = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        text = "\n".join(_texts(path))
        found += [f"{path.relative_to(home)}: {n}" for n in sorted(needles) if n in text]
    return found


def _needles(day: date, files: int, per_file: int) -> set[str]:
    return {
        value for f in range(files) for n in range(per_file) for value in (hand.ip(day, f, n), hand.prompt(day, f, n))
    }


@pytest.fixture
def maintained(tmp_path: Path, sail: SparkSession, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    monkeypatch.setenv(PARTNER_HMAC_KEY_ENV, "test-key")
    lakehouse = Lakehouse(home=tmp_path / "home", landing=tmp_path / "landing")
    hand.build(lakehouse.landing, [OLD, KEPT], files=2, per_file=4)
    old = lakehouse.landing / "request_logs" / f"date={OLD}"
    # an invalid line (kept with its text in raw quarantine) and a truncated file (kept whole)
    bad = json.loads(hand.request_line(OLD, 7, 0))
    bad["status"] = "two hundred"
    (old / "part-00007.jsonl.gz").write_bytes(gzip.compress(json.dumps(bad).encode() + b"\n"))
    (old / "part-00008.jsonl.gz").write_bytes(gzip.compress(hand.request_file(OLD, 8, 3))[:-12])
    for day in (OLD, KEPT):
        ingest.run(sail, lakehouse, day)
    before = _holders(lakehouse.home, {hand.ip(OLD, 7, 0), hand.prompt(OLD, 8, 0), hand.ip(OLD, 0, 0)})
    assert any(h.startswith("tables/raw/quarantine/") for h in before)
    assert any(h.startswith("tables/raw/quarantined_files/") for h in before)
    assert any(h.startswith("tables/raw/requests/") for h in before)
    assert (
        main(["maintain", "--today", str(TODAY), "--home", str(lakehouse.home), "--landing", str(lakehouse.landing)])
        == 0
    )
    return lakehouse


def test_no_file_holds_expired_personal_data(maintained: Lakehouse) -> None:
    expired = _needles(OLD, 2, 4) | {hand.ip(OLD, 7, 0), hand.prompt(OLD, 7, 0)} | _needles(OLD, 8, 3)
    assert _holders(maintained.home, expired) == []


def test_data_inside_the_retention_and_every_row_stay(maintained: Lakehouse, sail: SparkSession) -> None:
    raw = DeltaTable(maintained.table_path(Table.RAW_REQUESTS)).to_pandas()
    assert len(raw) == 16
    old, kept = raw[raw.event_date == OLD], raw[raw.event_date == KEPT]
    assert old.client_ip.isna().all() and old.prompt_text.isna().all() and old.account_id.notna().all()
    assert sorted(kept.client_ip) == sorted(hand.ip(KEPT, f, n) for f in range(2) for n in range(4))
    quarantine = DeltaTable(maintained.table_path(Table.RAW_QUARANTINE)).to_pandas()
    assert len(quarantine) == 1 and quarantine.raw_line.isna().all() and quarantine.line_sha256.notna().all()
    record = DeltaTable(maintained.table_path(Table.QUARANTINED_FILES)).to_pandas()
    assert list(record.reason) == ["truncated_gzip"]  # the record (no personal data) stays
    assert sail.read.format("delta").load(maintained.table_path(Table.RAW_REQUESTS)).count() == 16
    assert _holders(maintained.home, {hand.prompt(KEPT, 1, 3)})  # the scan does find what it looks for
