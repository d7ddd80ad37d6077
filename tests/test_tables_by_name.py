"""Catalog mode: the same jobs read and write tables by ``catalog.schema.table`` name.

On Databricks the names are Unity Catalog's; here they are Sail's catalog (``sail``), whose
schemas can live at a folder (``CREATE SCHEMA ... LOCATION``). Sail keeps its catalog in
memory, so a named table lasts as long as the engine: enough to run the DAG by name.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.connect.session import SparkSession as ConnectSession

from distillguard import tables
from distillguard.config import Lakehouse, Table, model_names
from distillguard.errors import DistillguardError
from distillguard.jobs import daily

D1 = date(2026, 11, 1)
CATALOG = "sail"


@pytest.fixture
def by_name(sail: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    """A lakehouse whose tables live in a fresh schema of Sail's catalog, stored under tmp_path."""
    # Jobs that do not pass a session ask the active one (one per job process in production).
    monkeypatch.setattr(ConnectSession._active_session, "session", sail, raising=False)
    schema = f"dg_{uuid.uuid4().hex[:8]}"
    sail.sql(f"CREATE SCHEMA {CATALOG}.{schema} LOCATION '{tmp_path / 'catalog'}'").collect()
    return Lakehouse.resolve(tmp_path / "home", catalog=CATALOG, schema=schema)


def test_names_come_from_one_layer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for env in ("DISTILLGUARD_CATALOG", "DISTILLGUARD_SCHEMA", "DISTILLGUARD_MODEL", "DISTILLGUARD_EXPERIMENT_DIR"):
        monkeypatch.delenv(env, raising=False)
    local = Lakehouse.resolve(tmp_path)
    assert local.table_path(Table.EXPORTS) == str(tmp_path / "tables" / "enforcement" / "exports")
    assert not local.by_name and not local.addressed_by_name(Table.EXPORTS)
    assert local.models.model == "distillguard_distillation" and local.models.registry_uri is None
    assert local.models.experiment("distillguard-train") == "distillguard-train"

    monkeypatch.setenv("DISTILLGUARD_CATALOG", "prod")
    monkeypatch.setenv("DISTILLGUARD_SCHEMA", "distillguard")
    monkeypatch.setenv("DISTILLGUARD_EXPERIMENT_DIR", "/Workspace/Shared/distillguard/")
    uc = Lakehouse.resolve(tmp_path)
    assert uc.table_name(Table.EXPORTS) == "prod.distillguard.enforcement_exports"
    assert uc.table_name(Table.RAW_REQUESTS) == "prod.distillguard.raw_requests"
    assert uc.models == model_names()
    assert (uc.models.model, uc.models.registry_uri) == ("prod.distillguard.distillguard_distillation", "databricks-uc")
    assert uc.models.experiment("distillguard-train") == "/Workspace/Shared/distillguard/distillguard-train"
    assert uc.models.experiment("/Users/a@b.c/x") == "/Users/a@b.c/x"
    # Scratch areas of one run stay folders in the lakehouse (a Volume on Databricks).
    assert not uc.addressed_by_name(Table.FEATURE_SCRATCH) and not uc.addressed_by_name(Table.RAW_STAGING)
    with pytest.raises(DistillguardError, match="not addressed by name"):
        uc.table_name(Table.RAW_STAGING)
    monkeypatch.setenv("DISTILLGUARD_MODEL", "dev_ann_distillguard_distillation")
    assert model_names().model == "prod.distillguard.dev_ann_distillguard_distillation"

    monkeypatch.delenv("DISTILLGUARD_SCHEMA")
    with pytest.raises(DistillguardError, match="a catalog \\(prod\\) needs a schema"):
        Lakehouse.resolve(tmp_path)
    with pytest.raises(DistillguardError, match="not a catalog or schema name"):
        Lakehouse.resolve(tmp_path, schema="x; DROP TABLE y")


def test_every_write_goes_to_the_named_table(sail: SparkSession, by_name: Lakehouse, tmp_path: Path) -> None:
    table = Table.INGEST_RUNS
    name = f"{CATALOG}.{by_name.schema}.quality_ingest_runs"
    assert by_name.table_name(table) == name and tables.sql_name(by_name, table) == name
    assert not tables.exists(by_name, table, sail)

    rows = sail.createDataFrame([(1, "a", D1), (2, "b", D1), (3, "c", date(2026, 11, 2))], "k int, v string, d date")
    tables.append(rows, by_name, table, ("d",))
    assert tables.exists(by_name, table, sail) and tables.exists(by_name, table)
    assert tables.version(sail, by_name, table) == 0
    tables.replace(
        sail.createDataFrame([(9, "z", D1)], "k int, v string, d date"),
        by_name,
        table,
        tables.date_equals("d", D1),
        ("d",),
    )
    assert sorted(tuple(r) for r in sail.table(name).select("k", "v").collect()) == [(3, "c"), (9, "z")]
    tables.merge(
        sail,
        by_name,
        table,
        sail.createDataFrame([(3, "C", date(2026, 11, 2)), (4, "d", D1)], "k int, v string, d date"),
        "t.k = s.k",
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    )
    assert sorted(tuple(r) for r in tables.read(sail, by_name, table).select("k", "v").collect()) == [
        (3, "C"),
        (4, "d"),
        (9, "z"),
    ]
    assert tables.version(sail, by_name, table) == 2
    assert sorted(r.k for r in tables.read(sail, by_name, table, version=0).collect()) == [1, 2, 3]
    tables.overwrite(sail.createDataFrame([(5, "e", D1)], "k int, v string, d date"), by_name, table, ("d",))
    assert [tuple(r) for r in tables.read(sail, by_name, table).select("k", "v").collect()] == [(5, "e")]
    # Stored where the schema lives, not as a folder of the lakehouse.
    assert (tmp_path / "catalog" / "quality_ingest_runs" / "_delta_log").is_dir()
    assert not Path(by_name.table_path(table)).exists()


def test_the_dag_runs_with_tables_addressed_by_name(
    sail: SparkSession, tiny_landing: Lakehouse, by_name: Lakehouse, tmp_path: Path
) -> None:
    """Ingest and features of day 1 by name give the same tables as by folder; done-checks
    find the named tables, so a second run skips."""
    shutil.copytree(tiny_landing.home, by_name.home)
    by_folder = Lakehouse.resolve(tmp_path / "folders")
    shutil.copytree(tiny_landing.home, by_folder.home)
    for lakehouse in (by_name, by_folder):
        outcomes = daily.run(sail, lakehouse, D1, steps=("ingest", "features"), echo=lambda line: None)
        assert [(o["step"], o["status"]) for o in outcomes] == [("ingest", "ran"), ("features", "ran")]

    def rows(lakehouse: Lakehouse, table: Table, *columns: str) -> list[tuple]:
        frame = tables.read(sail, lakehouse, table).select(*columns)
        return sorted(tuple(r) for r in frame.collect())

    assert rows(by_name, Table.ACCOUNT_DAILY, "account_id", "feature_date", "requests") == rows(
        by_folder, Table.ACCOUNT_DAILY, "account_id", "feature_date", "requests"
    )
    clusters = rows(by_name, Table.ACCOUNT_CLUSTERS, "account_id", "cluster_id", "cluster_size")
    assert clusters and clusters == rows(by_folder, Table.ACCOUNT_CLUSTERS, "account_id", "cluster_id", "cluster_size")
    assert rows(by_name, Table.INGEST_RUNS, "landing_date", "status", "accepted") == rows(
        by_folder, Table.INGEST_RUNS, "landing_date", "status", "accepted"
    )
    raw = tables.read(sail, by_name, Table.RAW_REQUESTS).where(F.col("event_date") == F.lit(D1)).count()
    assert (
        raw > 0
        and raw == tables.read(sail, by_folder, Table.RAW_REQUESTS).where(F.col("event_date") == F.lit(D1)).count()
    )
    assert (
        tables.read(sail, by_name, Table.GATE_RESULTS).count()
        == tables.read(sail, by_folder, Table.GATE_RESULTS).count()
    )

    # Only the per-run scratch areas and the run ledger are folders; every pipeline table is a catalog table.
    named = {t.name for t in sail.catalog.listTables(by_name.schema)}
    assert {
        "raw_requests",
        "quality_ingest_runs",
        "quality_gate_results",
        "features_account_daily",
        "features_account_clusters",
    } <= named
    folders = {str(p.relative_to(by_name.tables_root)) for p in by_name.tables_root.glob("*/*")}
    assert folders <= {Table.FEATURE_SCRATCH.value, Table.RAW_STAGING.value, Table.RUN_LEDGER.value}

    again = daily.run(sail, by_name, D1, steps=("ingest", "features"), echo=lambda line: None)
    assert [o["status"] for o in again] == ["skipped", "skipped"]
