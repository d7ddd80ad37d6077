"""Reading and atomically replacing Delta tables by their ``Table`` name.

Writes go through the DataFrame writer so each one is a single Delta commit: a reader (or
a re-run after a crash) sees the table before or after it, never half of it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from distillguard.config import Lakehouse, Table


def exists(lakehouse: Lakehouse, table: Table) -> bool:
    return (Path(lakehouse.table_path(table)) / "_delta_log").is_dir()


def read(spark: SparkSession, lakehouse: Lakehouse, table: Table, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(lakehouse.table_path(table))


def replace(df: DataFrame, lakehouse: Lakehouse, table: Table, where: str,
            partition_by: tuple[str, ...] = ()) -> None:
    """Replace the rows matching ``where`` in one commit (creates the table if needed)."""
    writer = df.write.format("delta")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if exists(lakehouse, table):
        writer.mode("overwrite").option("replaceWhere", where).save(lakehouse.table_path(table))
    else:
        writer.mode("append").save(lakehouse.table_path(table))


def date_equals(column: str, day: date) -> str:
    """A replaceWhere predicate for one date partition."""
    return f"{column} = DATE'{day.isoformat()}'"
