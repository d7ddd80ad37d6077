"""Delta table upkeep that Sail does not implement (OPTIMIZE, VACUUM, DESCRIBE HISTORY).

Done with the ``deltalake`` package (delta-rs) directly on the table folder, so it works
the same whichever Spark Connect engine wrote the table.
"""

from __future__ import annotations

from typing import Any

from deltalake import DeltaTable

from distillguard.config import Lakehouse, Table


def _open(lakehouse: Lakehouse, table: Table) -> DeltaTable:
    return DeltaTable(lakehouse.table_path(table))


def compact(lakehouse: Lakehouse, table: Table) -> dict[str, Any]:
    """Bin-pack small files (what OPTIMIZE does); returns delta-rs metrics."""
    return _open(lakehouse, table).optimize.compact()


def vacuum(lakehouse: Lakehouse, table: Table, retention_hours: int = 168,
           dry_run: bool = False) -> list[str]:
    """Remove files no version newer than the retention still needs."""
    return _open(lakehouse, table).vacuum(retention_hours=retention_hours, dry_run=dry_run,
                                          enforce_retention_duration=retention_hours >= 168)


def history(lakehouse: Lakehouse, table: Table, limit: int | None = None) -> list[dict[str, Any]]:
    """Commit log, newest first, as DESCRIBE HISTORY would show it."""
    return _open(lakehouse, table).history(limit)


def version(lakehouse: Lakehouse, table: Table) -> int:
    """Current version: recorded as an input by every job that reads the table."""
    return _open(lakehouse, table).version()
