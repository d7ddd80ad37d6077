"""The enforcement export on Delta (Sail): allow-list, incremental changes, idempotent re-runs.

The flagged table is written by hand in the scoring job's layout, so every exported row,
change and count below is known in advance.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import maintenance
from distillguard.cli import main
from distillguard.config import Lakehouse, Table
from distillguard.enforcement import export as handoff
from distillguard.jobs import export
from distillguard.quality import GateFailed
from tests.flagged_rows import FLAGGED_SCHEMA, D, flagged, write_flagged
from tests.pii import PREFIX_CHARS, landing_pii

FIRST = [
    flagged("acc_a", "suspend_recommended", 0.99),
    flagged("acc_c", "kyc_required", 0.41, cluster="c2"),
    flagged("acc_b", "review", 0.91),
]


def _version(lakehouse: Lakehouse, table: Table) -> int:
    return maintenance.version(lakehouse, table)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _manifest(result: dict) -> dict:
    return json.loads(result["manifest"].read_text())


@pytest.fixture
def exported(sail: SparkSession, lakehouse: Lakehouse) -> tuple[Lakehouse, dict]:
    write_flagged(sail, lakehouse, FIRST)
    write_flagged(sail, lakehouse, [flagged("acc_z", "review", 0.9, day=date(2026, 11, 2))], day=date(2026, 11, 2))
    return lakehouse, export.run(sail, lakehouse, D)


def test_first_export_sends_every_row_of_the_day(exported) -> None:
    lakehouse, result = exported
    assert result["status"] == "written" and result["export_id"] == "2026-11-03-0001"
    folder = lakehouse.exports / "date=2026-11-03" / "export-0001"
    assert result["folder"] == folder
    assert sorted(p.name for p in folder.iterdir()) == [
        "flagged_accounts.csv",
        "flagged_accounts.parquet",
        "manifest.json",
    ]
    table = pq.read_table(folder / "flagged_accounts.parquet")
    assert table.column_names == ["change", *handoff.EXPORT_COLUMNS]
    assert table.column("account_id").to_pylist() == ["acc_a", "acc_b", "acc_c"]
    assert table.column("change").to_pylist() == ["new", "new", "new"]
    assert table.column("top_reasons").to_pylist()[0] == [
        {"feature": "intent_share_28d", "value": 0.8, "contribution": 1.25}
    ]
    lines = list(csv.reader(io.StringIO((folder / "flagged_accounts.csv").read_text())))
    assert lines[0] == ["change", *handoff.EXPORT_COLUMNS]
    assert lines[1][:5] == ["new", "2026-11-03", "acc_a", "suspend_recommended", "0.99"]
    assert lines[1][5] == '[{"feature":"intent_share_28d","value":0.8,"contribution":1.25}]'
    assert len(lines) == 4

    manifest = _manifest(result)
    assert manifest["rows"] == 3 and manifest["kind"] == "incremental" and manifest["incremental_since"] is None
    assert manifest["changes_since_previous_export"] == {"new": 3, "changed": 0, "withdrawn": 0}
    assert manifest["by_tier"] == {"kyc_required": 1, "review": 1, "suspend_recommended": 1}
    assert manifest["models"] == [{"model_name": "distillguard_distillation", "model_version": "3"}]
    assert manifest["scoring_run_ids"] == ["run-1"]
    assert manifest["flagged_table"] == {
        "table": "enforcement/flagged_accounts",
        "delta_version": _version(lakehouse, Table.FLAGGED_ACCOUNTS),
    }
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry == {"sha256": handoff.sha256(data), "bytes": len(data)}

    ledger = DeltaTable(lakehouse.table_path(Table.EXPORTS)).to_pandas()
    assert sorted(ledger.account_id) == ["acc_a", "acc_b", "acc_c"] and set(ledger.export_id) == {"2026-11-03-0001"}
    runs = DeltaTable(lakehouse.table_path(Table.EXPORT_RUNS)).to_pandas()
    assert runs[["export_id", "kind", "rows", "new"]].values.tolist() == [["2026-11-03-0001", "incremental", 3, 3]]


def test_rerun_changes_nothing(exported, sail: SparkSession) -> None:
    lakehouse, first = exported
    before = _files(lakehouse.exports)
    versions = (_version(lakehouse, Table.EXPORTS), _version(lakehouse, Table.EXPORT_RUNS))
    again = export.run(sail, lakehouse, D)
    assert again["status"] == "unchanged" and again["export_id"] == first["export_id"]
    assert _files(lakehouse.exports) == before
    assert (_version(lakehouse, Table.EXPORTS), _version(lakehouse, Table.EXPORT_RUNS)) == versions
    assert handoff.done(sail, lakehouse, D) and not handoff.done(sail, lakehouse, date(2026, 11, 2))


def test_incremental_sends_only_what_changed(exported, sail: SparkSession) -> None:
    lakehouse, _ = exported
    # acc_a rescored by another run with the same exported values: not a change.
    write_flagged(
        sail,
        lakehouse,
        [
            flagged("acc_a", "suspend_recommended", 0.99, run="run-2"),
            flagged("acc_b", "suspend_recommended", 0.975, run="run-2", version="4"),
            flagged("acc_d", "review", 0.93, run="run-2"),
        ],
    )
    result = export.run(sail, lakehouse, D)
    assert result["status"] == "written" and result["export_id"] == "2026-11-03-0002"
    table = pq.read_table(result["folder"] / "flagged_accounts.parquet")
    assert list(
        zip(
            table.column("change").to_pylist(),
            table.column("account_id").to_pylist(),
            table.column("risk_tier").to_pylist(),
        )
    ) == [
        ("changed", "acc_b", "suspend_recommended"),
        ("withdrawn", "acc_c", "kyc_required"),
        ("new", "acc_d", "review"),
    ]
    manifest = _manifest(result)
    assert manifest["changes_since_previous_export"] == {"new": 1, "changed": 1, "withdrawn": 1}
    assert manifest["incremental_since"]["export_id"] == "2026-11-03-0001"
    assert manifest["by_tier"] == {"review": 1, "suspend_recommended": 1}
    assert manifest["models"] == [
        {"model_name": "distillguard_distillation", "model_version": "3"},
        {"model_name": "distillguard_distillation", "model_version": "4"},
    ]
    assert export.run(sail, lakehouse, D)["status"] == "unchanged"
    # acc_c flagged again after its withdrawal: new again.
    write_flagged(
        sail,
        lakehouse,
        [
            flagged("acc_a", "suspend_recommended", 0.99, run="run-2"),
            flagged("acc_b", "suspend_recommended", 0.975, run="run-2", version="4"),
            flagged("acc_c", "kyc_required", 0.41, cluster="c2"),
            flagged("acc_d", "review", 0.93, run="run-2"),
        ],
    )
    third = export.run(sail, lakehouse, D)
    assert pq.read_table(third["folder"] / "flagged_accounts.parquet").column("change").to_pylist() == ["new"]


def test_full_export_is_exact_and_byte_identical(exported, sail: SparkSession) -> None:
    lakehouse, _ = exported
    write_flagged(sail, lakehouse, [flagged("acc_a", "suspend_recommended", 0.99), flagged("acc_b", "review", 0.95)])
    full = export.run(sail, lakehouse, D, full=True)
    folder = lakehouse.exports / "date=2026-11-03" / "full"
    assert full["status"] == "written" and full["folder"] == folder and full["kind"] == "full"
    table = pq.read_table(folder / "flagged_accounts.parquet")
    assert table.column_names == list(handoff.EXPORT_COLUMNS)
    assert list(zip(table.column("account_id").to_pylist(), table.column("score").to_pylist())) == [
        ("acc_a", 0.99),
        ("acc_b", 0.95),
    ]
    manifest = _manifest(full)
    assert manifest["changes_since_previous_export"] == {"new": 0, "changed": 1, "withdrawn": 1}
    files = _files(folder)
    versions = (_version(lakehouse, Table.EXPORTS), _version(lakehouse, Table.EXPORT_RUNS))
    assert export.run(sail, lakehouse, D, full=True)["status"] == "unchanged"
    assert _files(folder) == files
    assert (_version(lakehouse, Table.EXPORTS), _version(lakehouse, Table.EXPORT_RUNS)) == versions
    # Lost files are re-dropped with the same bytes; only the manifest's generated_at differs.
    for name in ("flagged_accounts.parquet", "flagged_accounts.csv"):
        (folder / name).unlink()
    redo = export.run(sail, lakehouse, D, full=True)
    assert redo["status"] == "written"
    assert {k: v for k, v in _files(folder).items() if k != "manifest.json"} == {
        k: v for k, v in files.items() if k != "manifest.json"
    }
    assert _manifest(redo)["files"] == manifest["files"]
    assert _version(lakehouse, Table.EXPORTS) == versions[0]


def test_a_retry_removes_what_a_killed_write_left(sail: SparkSession, lakehouse: Lakehouse) -> None:
    write_flagged(sail, lakehouse, FIRST)
    folder = lakehouse.exports / "date=2026-11-03" / "export-0001"
    folder.mkdir(parents=True)
    (folder / ".flagged_accounts.csv.0123abcd.tmp").write_bytes(b"change,flag_")
    result = export.run(sail, lakehouse, D)
    assert result["folder"] == folder and result["rows"] == 3
    assert sorted(p.name for p in folder.iterdir()) == [
        "flagged_accounts.csv",
        "flagged_accounts.parquet",
        "manifest.json",
    ]


def test_an_empty_day_is_handed_off_once(sail: SparkSession, lakehouse: Lakehouse) -> None:
    write_flagged(sail, lakehouse, [flagged("acc_z", "review", 0.9, day=date(2026, 11, 2))], day=date(2026, 11, 2))
    result = export.run(sail, lakehouse, D)
    assert result["status"] == "written" and result["rows"] == 0
    assert (result["folder"] / "flagged_accounts.csv").read_text() == ",".join(
        ["change", *handoff.EXPORT_COLUMNS]
    ) + "\n"
    assert pq.read_table(result["folder"] / "flagged_accounts.parquet").num_rows == 0
    assert not Path(lakehouse.table_path(Table.EXPORTS)).exists()
    assert export.run(sail, lakehouse, D)["status"] == "unchanged" and handoff.done(sail, lakehouse, D)


def test_gate_failure_exports_nothing(sail: SparkSession, lakehouse: Lakehouse) -> None:
    write_flagged(sail, lakehouse, [flagged("acc_a", "review", 0.9), flagged("acc_a", "review", 0.92)])
    with pytest.raises(GateFailed, match=r"exports: expect_column_values_to_be_unique\(account_id\)"):
        export.run(sail, lakehouse, D)
    assert not lakehouse.exports.exists()
    assert not Path(lakehouse.table_path(Table.EXPORT_RUNS)).exists()


def _leaks(text: str, ips: set[str], prompts: set[str]) -> list[str]:
    found = [ip for ip in ips if ip in text]
    return found + [p for p in prompts if len(p) >= PREFIX_CHARS and p[:PREFIX_CHARS] in text]


def test_personal_data_in_the_flagged_table_never_leaves(
    sail: SparkSession, lakehouse: Lakehouse, tiny_landing: Lakehouse
) -> None:
    """Even columns holding real landing IPs and prompts next to the flags stay behind."""
    ips, prompts = landing_pii(tiny_landing.landing)
    ip, prompt = sorted(ips)[0], sorted(p for p in prompts if len(p) >= PREFIX_CHARS)[0]
    df = sail.createDataFrame([flagged("acc_a", "review", 0.9)], FLAGGED_SCHEMA)
    (
        df.withColumn("client_ip", F.lit(ip))
        .withColumn("prompt_text", F.lit(prompt))
        .write.format("delta")
        .partitionBy("flag_date")
        .save(lakehouse.table_path(Table.FLAGGED_ACCOUNTS))
    )
    assert ip in str(sail.read.format("delta").load(lakehouse.table_path(Table.FLAGGED_ACCOUNTS)).collect())
    export.run(sail, lakehouse, D)
    export.run(sail, lakehouse, D, full=True)
    assert not {"client_ip", "prompt_text"} & set(handoff.EXPORT_COLUMNS)
    texts = [p.read_bytes().decode("utf-8", "replace") for p in lakehouse.exports.rglob("*") if p.is_file()]
    texts += [str(pq.read_table(p).to_pylist()) for p in lakehouse.exports.rglob("*.parquet")]
    texts += [
        str(DeltaTable(lakehouse.table_path(t)).to_pyarrow_table().to_pylist())
        for t in (Table.EXPORTS, Table.EXPORT_RUNS)
    ]
    assert len(texts) == 2 * 3 + 2 + 2
    assert [leak for text in texts for leak in _leaks(text, ips, prompts)] == []


def test_cli_export(exported, capsys: pytest.CaptureFixture) -> None:
    lakehouse, _ = exported
    assert main(["--home", str(lakehouse.home), "export", "--date", "2026-11-03"]) == 0
    assert "export 2026-11-03-0001 (incremental) unchanged" in capsys.readouterr().out
    empty = lakehouse.home.parent / "empty"
    assert (
        pytest.raises(SystemExit, main, ["--home", str(empty), "export", "--date", "2026-11-03", "--full"]).value.code
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["distillguard: error: no flagged accounts yet; run `distillguard score --date 2026-11-03` first"]
