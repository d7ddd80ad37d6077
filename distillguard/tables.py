"""Reading and atomically replacing Delta tables by their ``Table`` name.

Writes go through the DataFrame writer so each one is a single Delta commit: a reader (or
a re-run after a crash) sees the table before or after it, never half of it. Every call
addresses the table the way the lakehouse says (``distillguard.config``): a Delta folder
locally, ``catalog.schema.table`` in a catalog schema (Unity Catalog), so jobs are the same
code in both.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, DataFrameReader, DataFrameWriter, SparkSession
from pyspark.sql import functions as F

from distillguard.config import Lakehouse, Table
from distillguard.engine import write_barrier


def _session(spark: SparkSession | None) -> SparkSession:
    if spark is not None:
        return spark
    from distillguard.engine import get_spark

    return get_spark()


def exists(lakehouse: Lakehouse, table: Table, spark: SparkSession | None = None) -> bool:
    if lakehouse.addressed_by_name(table):
        return _session(spark).catalog.tableExists(lakehouse.table_name(table))
    # A run killed during a table's first commit leaves a _delta_log with no commit: not a table.
    log_dir = Path(lakehouse.table_path(table)) / "_delta_log"
    return log_dir.is_dir() and any(log_dir.glob("*.json"))


def _load(reader: DataFrameReader, lakehouse: Lakehouse, table: Table) -> DataFrame:
    if lakehouse.addressed_by_name(table):
        return reader.table(lakehouse.table_name(table))
    return reader.format("delta").load(lakehouse.table_path(table))


def read(spark: SparkSession, lakehouse: Lakehouse, table: Table, version: int | None = None) -> DataFrame:
    reader = spark.read
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return _load(reader, lakehouse, table)


def _writer(df: DataFrame, partition_by: tuple[str, ...]) -> DataFrameWriter:
    writer = write_barrier(df).write.format("delta")
    return writer.partitionBy(*partition_by) if partition_by else writer


def _save(writer: DataFrameWriter, lakehouse: Lakehouse, table: Table) -> None:
    if lakehouse.addressed_by_name(table):
        writer.saveAsTable(lakehouse.table_name(table))
    else:
        writer.save(lakehouse.table_path(table))


def append(df: DataFrame, lakehouse: Lakehouse, table: Table, partition_by: tuple[str, ...] = ()) -> None:
    """Add rows in one commit (creates the table if needed)."""
    _save(_writer(df, partition_by).mode("append"), lakehouse, table)


def overwrite(df: DataFrame, lakehouse: Lakehouse, table: Table, partition_by: tuple[str, ...] = ()) -> None:
    """Replace the whole table in one commit (creates it if needed)."""
    _save(_writer(df, partition_by).mode("overwrite"), lakehouse, table)


def replace(df: DataFrame, lakehouse: Lakehouse, table: Table, where: str, partition_by: tuple[str, ...] = ()) -> None:
    """Replace the rows matching ``where`` in one commit (creates the table if needed)."""
    if not exists(lakehouse, table, df.sparkSession):
        append(df, lakehouse, table, partition_by)
    elif lakehouse.addressed_by_name(table):
        # The v2 writer's conditional overwrite: Sail ignores replaceWhere on saveAsTable.
        df.writeTo(lakehouse.table_name(table)).overwrite(F.expr(where))
    else:
        _writer(df, partition_by).mode("overwrite").option("replaceWhere", where).save(lakehouse.table_path(table))


def date_equals(column: str, day: date) -> str:
    """A replaceWhere predicate for one date partition."""
    return f"{column} = DATE'{day.isoformat()}'"


def dates_in(column: str, days: list[date]) -> str:
    """A replaceWhere (or MERGE) predicate for a set of date partitions."""
    dates = ", ".join(f"DATE'{d.isoformat()}'" for d in days)
    return f"{column} IN ({dates})"


def sql_name(lakehouse: Lakehouse, table: Table) -> str:
    """The table as SQL names it: ``catalog.schema.table`` or ``delta.`<folder>```."""
    if lakehouse.addressed_by_name(table):
        return lakehouse.table_name(table)
    return f"delta.`{lakehouse.table_path(table)}`"


def merge(
    spark: SparkSession,
    lakehouse: Lakehouse,
    table: Table,
    rows: DataFrame,
    on: str,
    actions: str,
    partition_by: tuple[str, ...] = (),
) -> None:
    """``MERGE INTO`` the table (aliases ``t`` and ``s``) in one commit; a missing table is
    created with ``rows``."""
    if not exists(lakehouse, table, spark):
        append(rows, lakehouse, table, partition_by)
        return
    view = f"merge_source_{uuid.uuid4().hex}"
    rows.createOrReplaceTempView(view)
    try:
        spark.sql(f"MERGE INTO {sql_name(lakehouse, table)} AS t USING {view} AS s ON {on} {actions}").collect()
    finally:
        spark.catalog.dropTempView(view)


def version(spark: SparkSession, lakehouse: Lakehouse, table: Table) -> int:
    """The table's current Delta version (recorded as an input by the jobs that read it)."""
    if not lakehouse.addressed_by_name(table):
        from distillguard import maintenance

        return maintenance.version(lakehouse, table)
    name = lakehouse.table_name(table)
    try:
        return int(spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").first()["version"])
    except PySparkException:  # engines without DESCRIBE HISTORY (Sail): read the log at the table's location
        from deltalake import DeltaTable

        details = {row[0]: row[1] for row in spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()}
        return DeltaTable(details["Location"]).version()


def grant_select(spark: SparkSession, lakehouse: Lakehouse, table: Table, principal: str) -> str:
    """Let ``principal`` (a Unity Catalog group) read one table; returns the statement run."""
    statement = f"GRANT SELECT ON TABLE {lakehouse.table_name(table)} TO `{principal.replace('`', '')}`"
    spark.sql(statement).collect()
    return statement


# Scratch space of the current run: ``<scratch table>/<run>``, so two runs never share
# intermediates. ``scratch()`` gives a run its own folder and removes it at the end; outside
# one, each process has its own.
_SCRATCH_RUN: ContextVar[str] = ContextVar("scratch_run", default=f"pid-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def scratch(lakehouse: Lakehouse) -> Iterator[Path]:
    """A fresh scratch folder for the body's ``stage`` calls, removed afterwards."""
    token = _SCRATCH_RUN.set(f"run-{uuid.uuid4().hex[:12]}")
    folder = Path(lakehouse.table_path(Table.FEATURE_SCRATCH)) / _SCRATCH_RUN.get()
    try:
        yield folder
    finally:
        _SCRATCH_RUN.reset(token)
        shutil.rmtree(folder, ignore_errors=True)


def stage(spark: SparkSession, lakehouse: Lakehouse, name: str, df: DataFrame) -> DataFrame:
    """Write an intermediate result to a scratch Delta table and read it back, so later
    steps (gates, writes, iterations) scan it instead of recomputing its lineage."""
    path = f"{lakehouse.table_path(Table.FEATURE_SCRATCH)}/{_SCRATCH_RUN.get()}/{name}"
    write_barrier(df).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    return spark.read.format("delta").load(path)
