"""The allow-list: a versioned Delta table with history, its CSV and CLI, and what it does to flags.

Contracted accounts are scored and keep their flagged row (tier, score, ``allow_listed``
true) but never leave in an export; the daily report lists them with their entry.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard.cli import main
from distillguard.config import Lakehouse, Table
from distillguard.enforcement import allow_list, flags
from distillguard.errors import DistillguardError
from distillguard.jobs import export, report
from tests.flagged_rows import D, flagged, write_flagged

CSV = (
    "account_id,added_by,reason,added_on\n"
    "acc_vendor,legal@provider,synthetic-data agreement SD-14,2026-10-20\n"
    "acc_lab,partnerships,eval partnership,2026-11-05\n"
)


def _csv(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "allow_list.csv"
    path.write_text(text)
    return path


def _active(spark: SparkSession, lakehouse: Lakehouse, day: date) -> list[str]:
    return sorted(r.account_id for r in allow_list.active_on(spark, lakehouse, day).collect())


def test_csv_load_is_idempotent_and_dated(sail: SparkSession, lakehouse: Lakehouse, tmp_path: Path) -> None:
    added = allow_list.load_csv(sail, lakehouse, _csv(tmp_path))
    assert [(e.account_id, e.added_by, e.added_on, e.source) for e in added] == [
        ("acc_vendor", "legal@provider", date(2026, 10, 20), "csv:allow_list.csv"),
        ("acc_lab", "partnerships", date(2026, 11, 5), "csv:allow_list.csv"),
    ]
    assert allow_list.load_csv(sail, lakehouse, _csv(tmp_path)) == []
    table = DeltaTable(lakehouse.table_path(Table.ALLOW_LIST))
    assert table.version() == 0 and len(table.to_pandas()) == 2
    # acc_lab's agreement starts on 2026-11-05: not allow-listed on D (2026-11-03).
    assert _active(sail, lakehouse, D) == ["acc_vendor"]
    assert _active(sail, lakehouse, date(2026, 11, 5)) == ["acc_lab", "acc_vendor"]


def test_removal_is_kept_as_history(sail: SparkSession, lakehouse: Lakehouse, tmp_path: Path) -> None:
    allow_list.load_csv(sail, lakehouse, _csv(tmp_path))
    with pytest.raises(DistillguardError, match="cannot be removed on 2026-11-01"):
        allow_list.remove(sail, lakehouse, "acc_lab", "oncall", "too early", date(2026, 11, 1))
    allow_list.remove(sail, lakehouse, "acc_vendor", "trust-safety", "agreement ended", date(2026, 11, 10))
    with pytest.raises(DistillguardError, match="acc_vendor is not on the allow-list"):
        allow_list.remove(sail, lakehouse, "acc_vendor", "trust-safety", "again", date(2026, 11, 11))
    vendor = [e for e in allow_list.entries(sail, lakehouse) if e["account_id"] == "acc_vendor"]
    assert [(e["added_by"], e["removed_on"], e["removed_by"], e["removal_reason"]) for e in vendor] == [
        ("legal@provider", date(2026, 11, 10), "trust-safety", "agreement ended")
    ]
    # The list as it stood each day: re-scoring an old day sees the old list.
    assert _active(sail, lakehouse, date(2026, 11, 9)) == ["acc_lab", "acc_vendor"]
    assert _active(sail, lakehouse, date(2026, 11, 10)) == ["acc_lab"]
    # Re-adding opens a second entry; the closed one stays.
    allow_list.add(sail, lakehouse, [allow_list.Entry("acc_vendor", "legal@provider", "renewed", date(2026, 12, 1))])
    assert [
        (e["reason"], e["removed_on"]) for e in allow_list.entries(sail, lakehouse) if e["account_id"] == "acc_vendor"
    ] == [("synthetic-data agreement SD-14", date(2026, 11, 10)), ("renewed", None)]
    assert DeltaTable(lakehouse.table_path(Table.ALLOW_LIST)).version() == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("account,who,why,when\n", "header must be account_id,added_by,reason,added_on, got account,who,why,when"),
        (
            "account_id,added_by,reason,added_on\nacc_a,me,why,03/11/2026\n",
            ":2: added_on '03/11/2026' is not a YYYY-MM-DD",
        ),
        ("account_id,added_by,reason,added_on\nacc_a,me,,2026-11-01\n", ":2: account_id, added_by and reason must not"),
        ("account_id,added_by,reason,added_on\nacc_a,me,why\n", ":2: expected 4 fields, got 3"),
        ("account_id,added_by,reason,added_on\nacc_a,me,a,2026-11-01\nacc_a,you,b,2026-11-02\n", "acc_a appears twice"),
    ],
)
def test_bad_files_are_refused_whole(
    sail: SparkSession, lakehouse: Lakehouse, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(DistillguardError, match=re.escape(message)):
        allow_list.load_csv(sail, lakehouse, _csv(tmp_path, text))
    assert not Path(lakehouse.table_path(Table.ALLOW_LIST)).exists()


SCORED = "account_id string, score double, top_reasons array<struct<feature:string,value:double,contribution:double>>"
EVIDENCE = (
    "account_id string, cluster_id string, cluster_size long, link_types array<string>, cluster_spend_28d double, "
    "kyc_tier string, "
    "spend_28d double, requests_28d long, template_reuse_28d double, intent_share_28d double, "
    "partner_indicator_hits long"
)


def test_flagged_rows_keep_allow_listed_accounts_marked(engine: SparkSession) -> None:
    scores = engine.createDataFrame([("acc_vendor", 0.99, []), ("acc_a", 0.8, []), ("acc_low", 0.2, [])], SCORED)
    evidence = engine.createDataFrame(
        [(a, f"solo_{a}", 1, [], 10.0, "verified", 10.0, 5, 0.1, 0.2, 0) for a in ("acc_vendor", "acc_a", "acc_low")],
        EVIDENCE,
    )
    allowed = engine.createDataFrame([("acc_vendor",), ("acc_low",)], "account_id string")
    model = {"model_name": "m", "model_version": "1", "model_run_id": "r", "scoring_run_id": "s"}
    rows = flags.flagged_rows(scores, evidence, None, allowed, D, 0.7, model)
    assert tuple(rows.columns) == flags.FLAGGED_COLUMNS
    got = sorted((r.account_id, r.risk_tier, r.allow_listed) for r in rows.collect())
    # acc_low is allow-listed but under the threshold: not flagged at all.
    assert got == [("acc_a", "review", False), ("acc_vendor", "suspend_recommended", True)]


def test_exports_withhold_allow_listed_flags(sail: SparkSession, lakehouse: Lakehouse, no_mlflow: None) -> None:
    write_flagged(
        sail,
        lakehouse,
        [
            flagged("acc_a", "review", 0.9),
            flagged("acc_b", "review", 0.8),
            flagged("acc_vendor", "suspend_recommended", 0.99, allow_listed=True),
        ],
    )
    first = export.run(sail, lakehouse, D)
    table = pq.read_table(first["folder"] / "flagged_accounts.parquet")
    assert table.column("account_id").to_pylist() == ["acc_a", "acc_b"]
    manifest = first["manifest"].read_text()
    assert '"allow_listed_withheld": 1' in manifest and "acc_vendor" not in manifest
    # acc_b is allow-listed after it was exported: the next export withdraws it.
    write_flagged(
        sail,
        lakehouse,
        [
            flagged("acc_a", "review", 0.9),
            flagged("acc_b", "review", 0.8, allow_listed=True),
            flagged("acc_vendor", "suspend_recommended", 0.99, allow_listed=True),
        ],
    )
    second = export.run(sail, lakehouse, D)
    changes = pq.read_table(second["folder"] / "flagged_accounts.parquet")
    assert list(zip(changes.column("change").to_pylist(), changes.column("account_id").to_pylist())) == [
        ("withdrawn", "acc_b")
    ]
    full = export.run(sail, lakehouse, D, full=True)
    assert pq.read_table(full["folder"] / "flagged_accounts.parquet").column("account_id").to_pylist() == ["acc_a"]


@pytest.fixture
def no_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


def test_report_lists_allow_listed_accounts_that_would_be_flagged(
    sail: SparkSession, lakehouse: Lakehouse, tmp_path: Path, no_mlflow: None
) -> None:
    allow_list.load_csv(sail, lakehouse, _csv(tmp_path))
    write_flagged(
        sail,
        lakehouse,
        [flagged("acc_a", "review", 0.9), flagged("acc_vendor", "suspend_recommended", 0.99, allow_listed=True)],
    )
    result = report.run(sail, lakehouse, D)
    assert (result["flagged"], result["allow_listed"], result["by_tier"]) == (
        1,
        1,
        {"review": 1, "kyc_required": 0, "suspend_recommended": 0},
    )
    page = result["path"].read_text()
    assert "<td>allow-listed, not exported</td><td>1</td>" in page
    assert (
        "<tr><td>acc_vendor</td><td>suspend_recommended</td><td>0.99</td><td>legal@provider</td>"
        "<td>2026-10-20</td><td>synthetic-data agreement SD-14</td></tr>"
    ) in page


def test_cli_add_list_remove_load(lakehouse: Lakehouse, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    home = ["--home", str(lakehouse.home)]
    assert (
        main(
            [*home, "allow-list", "add", "acc_x", "--by", "ana", "--reason", "benchmark partner", "--on", "2026-11-01"]
        )
        == 0
    )
    assert main([*home, "allow-list", "load", str(_csv(tmp_path))]) == 0
    assert main([*home, "allow-list", "remove", "acc_x", "--by", "bo", "--reason", "ended", "--on", "2026-11-04"]) == 0
    capsys.readouterr()
    assert main([*home, "allow-list", "list", "--on", "2026-11-03"]) == 0
    # In force on 2026-11-03: acc_vendor and acc_x (removed from 2026-11-04); acc_lab starts 2026-11-05.
    assert capsys.readouterr().out.splitlines() == [
        "acc_vendor\tadded 2026-10-20 by legal@provider: synthetic-data agreement SD-14",
        "acc_x\tadded 2026-11-01 by ana: benchmark partner removed 2026-11-04 by bo: ended",
        "allow-list: 2 entries",
    ]
    assert main([*home, "allow-list", "list", "--all"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "allow-list: 3 entries"
    assert pytest.raises(SystemExit, main, [*home, "allow-list", "load", str(tmp_path / "missing.csv")]).value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"distillguard: error: no allow-list file {tmp_path / 'missing.csv'}"
    ]
