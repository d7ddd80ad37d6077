"""The run ledger: one row per pipeline step that finished with every effect in place.

A step's row is appended only after its Delta commits, its MLflow run (ended, status
FINISHED), its files and manifest are all written, so "done" never means "started".
``run daily`` consults it before skipping a step, next to the step's own evidence
(jobs/daily.py); a run killed at any point leaves no row and the step runs again, which
every job makes idempotent. Written with ``deltalake`` (one small commit, no Spark needed,
the same from any engine). It holds no personal data: step, date, timings, a JSON detail.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from distillguard.config import Lakehouse, Table

SCHEMA = pa.schema(
    [
        ("step", pa.string()),
        ("day", pa.date32()),
        ("finished_at", pa.timestamp("us")),
        ("seconds", pa.float64()),
        ("detail", pa.string()),
    ]
)


def record(lakehouse: Lakehouse, step: str, day: date, seconds: float, detail: dict[str, Any]) -> None:
    """Append the row that makes ``step`` of ``day`` count as done."""
    row = pa.table(
        {
            "step": [step],
            "day": [day],
            "finished_at": [datetime.now(timezone.utc).replace(tzinfo=None)],
            "seconds": [float(seconds)],
            "detail": [json.dumps(detail, default=str, sort_keys=True)],
        },
        schema=SCHEMA,
    )
    write_deltalake(lakehouse.table_path(Table.RUN_LEDGER), row, mode="append")


def done(lakehouse: Lakehouse, step: str, day: date) -> bool:
    path = lakehouse.table_path(Table.RUN_LEDGER)
    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        return False
    rows = table.to_pyarrow_table(filters=[("step", "=", step), ("day", "=", day)], columns=["step"])
    return rows.num_rows > 0
