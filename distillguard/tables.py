"""Reading and atomically replacing Delta tables by their ``Table`` name.

Writes go through the DataFrame writer so each one is a single Delta commit: a reader (or
a re-run after a crash) sees the table before or after it, never half of it.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, DataFrameWriter, SparkSession

from distillguard.config import Lakehouse, Table
from distillguard.engine import write_barrier


def exists(lakehouse: Lakehouse, table: Table) -> bool:
    return (Path(lakehouse.table_path(table)) / "_delta_log").is_dir()


def read(spark: SparkSession, lakehouse: Lakehouse, table: Table, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(lakehouse.table_path(table))


def _writer(df: DataFrame, partition_by: tuple[str, ...]) -> DataFrameWriter:
    writer = write_barrier(df).write.format("delta")
    return writer.partitionBy(*partition_by) if partition_by else writer


def replace(df: DataFrame, lakehouse: Lakehouse, table: Table, where: str,
            partition_by: tuple[str, ...] = ()) -> None:
    """Replace the rows matching ``where`` in one commit (creates the table if needed)."""
    writer = _writer(df, partition_by)
    if exists(lakehouse, table):
        writer.mode("overwrite").option("replaceWhere", where).save(lakehouse.table_path(table))
    else:
        writer.mode("append").save(lakehouse.table_path(table))


def date_equals(column: str, day: date) -> str:
    """A replaceWhere predicate for one date partition."""
    return f"{column} = DATE'{day.isoformat()}'"


def merge(spark: SparkSession, lakehouse: Lakehouse, table: Table, rows: DataFrame, on: str, actions: str,
          partition_by: tuple[str, ...] = ()) -> None:
    """``MERGE INTO`` the table (aliases ``t`` and ``s``) in one commit; a missing table is
    created with ``rows``."""
    path = lakehouse.table_path(table)
    if not exists(lakehouse, table):
        _writer(rows, partition_by).mode("append").save(path)
        return
    view = f"merge_source_{uuid.uuid4().hex}"
    rows.createOrReplaceTempView(view)
    try:
        spark.sql(f"MERGE INTO delta.`{path}` AS t USING {view} AS s ON {on} {actions}").collect()
    finally:
        spark.catalog.dropTempView(view)


def stage(spark: SparkSession, lakehouse: Lakehouse, name: str, df: DataFrame) -> DataFrame:
    """Write an intermediate result to a scratch Delta table and read it back, so later
    steps (gates, writes, iterations) scan it instead of recomputing its lineage."""
    path = f"{lakehouse.table_path(Table.FEATURE_SCRATCH)}/{name}"
    write_barrier(df).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    return spark.read.format("delta").load(path)
