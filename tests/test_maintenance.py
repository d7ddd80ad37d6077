"""Table upkeep through delta-rs on tables written by Sail."""

from __future__ import annotations

from pyspark.sql import SparkSession

from distillguard import maintenance
from distillguard.config import Lakehouse, Table


def test_compact_history_version_vacuum(sail: SparkSession, lakehouse: Lakehouse) -> None:
    path = lakehouse.table_path(Table.INGEST_RUNS)
    for start in (0, 10, 20):
        sail.range(start, start + 10).repartition(3).write.format("delta").mode("append").save(path)
    assert maintenance.version(lakehouse, Table.INGEST_RUNS) == 2
    metrics = maintenance.compact(lakehouse, Table.INGEST_RUNS)
    assert metrics["numFilesRemoved"] >= 3 and metrics["numFilesAdded"] == 1
    history = maintenance.history(lakehouse, Table.INGEST_RUNS)
    assert [h["version"] for h in history] == [3, 2, 1, 0]
    assert history[0]["operation"] == "OPTIMIZE"
    assert sail.read.format("delta").load(path).count() == 30
    assert maintenance.vacuum(lakehouse, Table.INGEST_RUNS, dry_run=True) == []
    assert sorted(r.id for r in sail.read.format("delta").option("versionAsOf", 0).load(path).collect()) == list(
        range(10)
    )
