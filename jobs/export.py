"""``distillguard export --date D [--full]``: hand the flagged accounts of a day to enforcement.

read (the day's flagged rows at a pinned Delta version, earlier exports of the day) ->
transform (changes since the last export, or every row with ``--full``) -> gate (the
flagged-accounts suite) -> write (files, then the manifest) -> record (ledger rows, then
the run row). What leaves, the file formats and why a crash converges on re-run are
enforcement/export.py's.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from pyspark.sql import SparkSession

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.enforcement import export as handoff
from distillguard.errors import DistillguardError


def run(spark: SparkSession, lakehouse: Lakehouse, day: date, full: bool = False) -> dict[str, Any]:
    """Export flag date ``day`` (changes since the last export, or every row with ``full``)."""
    if not tables.exists(lakehouse, Table.FLAGGED_ACCOUNTS):
        raise DistillguardError(f"no flagged accounts yet; run `distillguard score --date {day}` first")
    version = tables.version(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
    flagged, current, withheld = handoff.current(spark, lakehouse, day, version)
    runs = handoff.runs(spark, lakehouse, day)
    previous = runs[-1] if runs else None
    changes = handoff.changes(current, handoff.sent(spark, lakehouse, day, [r["export_id"] for r in runs]))
    seq = len(runs) + 1
    kind = "full" if full else "incremental"
    if full:
        folder, body, schema = handoff.day_folder(lakehouse, day) / "full", current, handoff.FULL_SCHEMA
    else:
        folder, body, schema = (
            handoff.day_folder(lakehouse, day) / f"export-{seq:04d}",
            changes,
            handoff.INCREMENTAL_SCHEMA,
        )
    handoff.discard_partial(folder)
    files = {handoff.PARQUET: handoff.parquet_bytes(body, schema), handoff.CSV: handoff.csv_bytes(body, schema)}
    if not changes:
        last_full = next((r for r in reversed(runs) if r["kind"] == "full"), None)
        if not full and previous is not None:
            return handoff.result("unchanged", previous, lakehouse)
        if (
            full
            and last_full is not None
            and last_full["parquet_sha256"] == handoff.sha256(files[handoff.PARQUET])
            and handoff.on_disk(folder, files)
        ):
            return handoff.result("unchanged", last_full, lakehouse)

    export_id = f"{day.isoformat()}-{seq:04d}"
    handoff.gate(spark, lakehouse, flagged, export_id)
    generated_at = datetime.now(timezone.utc)
    manifest = handoff.manifest(
        export_id, day, kind, generated_at, body, changes, current, files, version, previous, schema.names, withheld
    )
    manifest_data = (json.dumps(manifest, indent=2) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        handoff.atomic_write(folder / name, data)
    handoff.atomic_write(folder / handoff.MANIFEST, manifest_data)

    if changes:
        handoff.record_changes(
            spark,
            lakehouse,
            [{**row, "export_id": export_id, "exported_at": generated_at} for row in changes],
            day,
            export_id,
        )
    run_row = {
        "export_id": export_id,
        "flag_date": day,
        "kind": kind,
        "folder": str(folder.relative_to(lakehouse.exports)),
        "rows": len(body),
        **manifest["changes_since_previous_export"],
        "flagged_table_version": version,
        "since_export_id": previous["export_id"] if previous else None,
        "parquet_sha256": handoff.sha256(files[handoff.PARQUET]),
        "csv_sha256": handoff.sha256(files[handoff.CSV]),
        "manifest_sha256": handoff.sha256(manifest_data),
        "generated_at": generated_at,
    }
    handoff.record_run(spark, lakehouse, run_row)
    return handoff.result("written", run_row, lakehouse)
