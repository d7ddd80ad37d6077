"""Delta table upkeep that Sail does not implement (OPTIMIZE, VACUUM, DESCRIBE HISTORY),
and the retention of raw personal data (``distillguard maintain``).

Done with the ``deltalake`` package (delta-rs) directly on the table folder, so it works
the same whichever Spark Connect engine wrote the table.
"""

from __future__ import annotations

import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from distillguard.config import MAINTENANCE, Lakehouse, MaintenanceSettings, Table

# Raw request columns that are personal data (the contract): erased after the retention.
PII_COLUMNS = ("client_ip", "prompt_text")
# Scratch folders of runs killed before cleaning up are removed once this old.
SCRATCH_STALE_HOURS = 24


def _open(lakehouse: Lakehouse, table: Table) -> DeltaTable:
    return DeltaTable(lakehouse.table_path(table))


def compact(lakehouse: Lakehouse, table: Table) -> dict[str, Any]:
    """Bin-pack small files (what OPTIMIZE does); returns delta-rs metrics."""
    return _open(lakehouse, table).optimize.compact()


def vacuum(lakehouse: Lakehouse, table: Table, retention_hours: int = 168, dry_run: bool = False) -> list[str]:
    """Remove files no version newer than the retention still needs."""
    return _open(lakehouse, table).vacuum(
        retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=retention_hours >= 168
    )


def history(lakehouse: Lakehouse, table: Table, limit: int | None = None) -> list[dict[str, Any]]:
    """Commit log, newest first, as DESCRIBE HISTORY would show it."""
    return _open(lakehouse, table).history(limit)


def version(lakehouse: Lakehouse, table: Table) -> int:
    """Current version: recorded as an input by every job that reads the table."""
    return _open(lakehouse, table).version()


def tables_under(lakehouse: Lakehouse) -> list[Path]:
    """Every Delta table folder under the tables root (scratch tables included)."""
    root = lakehouse.tables_root
    return sorted(log.parent for log in root.rglob("_delta_log")) if root.is_dir() else []


def _erase(path: Path, predicate: str, columns: tuple[str, ...]) -> int:
    """Set ``columns`` to null where ``predicate`` holds and any of them is set; returns rows."""
    if not (path / "_delta_log").is_dir():
        return 0
    held = " OR ".join(f"{name} IS NOT NULL" for name in columns)
    metrics = DeltaTable(str(path)).update(
        updates={name: "NULL" for name in columns}, predicate=f"({predicate}) AND ({held})"
    )
    return int(metrics.get("num_updated_rows", 0))


def _forget_history(path: Path) -> None:
    """Old files and old commits of a table that held personal data: both go, since a
    commit's statistics (min/max per column) hold values too. Time travel ends here."""
    table = DeltaTable(str(path))
    table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    table.create_checkpoint()
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 days"}, raise_if_not_exists=False)
    table.create_checkpoint()
    table.cleanup_metadata()


def _expired_folders(root: Path, cutoff: date) -> list[Path]:
    """``landing_date=YYYY-MM-DD`` folders (at any depth) before ``cutoff``."""
    found = []
    for folder in root.rglob("landing_date=*") if root.is_dir() else []:
        try:
            day = date.fromisoformat(folder.name.split("=", 1)[1])
        except ValueError:
            continue
        if folder.is_dir() and day < cutoff:
            found.append(folder)
    return found


def maintain(lakehouse: Lakehouse, today: date, settings: MaintenanceSettings = MAINTENANCE) -> dict[str, Any]:
    """Compact and vacuum every table, then erase raw personal data older than the retention.

    Erased: ``client_ip`` and ``prompt_text`` of raw requests whose event date is before
    ``today - pii_retention_days``, the text of raw quarantine lines landed before then,
    corrupt landing files kept whole from then and leftover staging of killed runs. Tables
    outside ``raw/`` never hold either (tests/pii.py checks every job), so only the raw
    tables lose their history. The landing zone belongs to upstream and is not touched.
    """
    cutoff = today - timedelta(days=settings.pii_retention_days)
    summary: dict[str, Any] = {
        "cutoff": cutoff.isoformat(),
        "tables": 0,
        "files_compacted": 0,
        "files_vacuumed": 0,
        "requests_erased": 0,
        "quarantine_erased": 0,
        "folders_removed": 0,
    }
    for path in tables_under(lakehouse):
        table = DeltaTable(str(path))
        summary["files_compacted"] += int(table.optimize.compact().get("numFilesRemoved", 0))
        summary["files_vacuumed"] += len(
            table.vacuum(
                retention_hours=settings.vacuum_retention_hours, dry_run=False, enforce_retention_duration=False
            )
        )
        summary["tables"] += 1
    requests = Path(lakehouse.table_path(Table.RAW_REQUESTS))
    quarantine = Path(lakehouse.table_path(Table.RAW_QUARANTINE))
    summary["requests_erased"] = _erase(requests, f"event_date < '{cutoff}'", PII_COLUMNS)
    summary["quarantine_erased"] = _erase(quarantine, f"landing_date < '{cutoff}'", ("raw_line",))
    for path in (requests, quarantine):
        if (path / "_delta_log").is_dir():
            _forget_history(path)
    scratch = Path(lakehouse.table_path(Table.FEATURE_SCRATCH))
    stale = time.time() - SCRATCH_STALE_HOURS * 3600
    for folder in (p for p in scratch.iterdir() if p.is_dir()) if scratch.is_dir() else []:
        if folder.stat().st_mtime < stale:  # left by a killed run (a live one is never this old)
            shutil.rmtree(folder, ignore_errors=True)
            summary["folders_removed"] += 1
    for root in (
        Path(lakehouse.table_path(Table.RAW_QUARANTINED_FILES)),
        Path(lakehouse.table_path(Table.RAW_STAGING)),
    ):
        for folder in _expired_folders(root, cutoff):
            shutil.rmtree(folder)
            summary["folders_removed"] += 1
    return summary
