"""The allow-list: contracted accounts (e.g. a synthetic-data vendor under an agreement) that are
scored but never exported as flags.

One Delta table, one row per entry: who added the account, on which date it takes effect,
why, and when it was recorded; a removal fills the entry's ``removed_*`` columns instead of
deleting it, so the table itself is the history (Delta versions add the commit trail). An
account is allow-listed on day D when an entry has ``added_on <= D`` and no ``removed_on``
at or before D: re-scoring an old day uses the list as it stood that day.

Entries come from the CLI (``distillguard allow-list add|remove|list|load``) or from an
agreements CSV with the header ``account_id,added_by,reason,added_on``; loading the same
file twice adds nothing (an account with an open entry is skipped).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.errors import DistillguardError

CSV_HEADER = ("account_id", "added_by", "reason", "added_on")
SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("added_on", pa.date32()),
        ("added_by", pa.string()),
        ("reason", pa.string()),
        ("source", pa.string()),
        ("added_at", pa.timestamp("us")),
        ("removed_on", pa.date32()),
        ("removed_by", pa.string()),
        ("removal_reason", pa.string()),
        ("removed_at", pa.timestamp("us")),
    ]
)
REMOVAL_SCHEMA = "account_id string, removed_on date, removed_by string, removal_reason string, removed_at timestamp"


@dataclass(frozen=True)
class Entry:
    account_id: str
    added_by: str
    reason: str
    added_on: date
    source: str = "cli"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def entries(spark: SparkSession, lakehouse: Lakehouse) -> list[dict[str, Any]]:
    """Every entry, removed ones included, by account then date added."""
    if not tables.exists(lakehouse, Table.ALLOW_LIST):
        return []
    rows = tables.read(spark, lakehouse, Table.ALLOW_LIST).toArrow().to_pylist()
    return sorted(rows, key=lambda r: (r["account_id"], r["added_on"], r["added_at"]))


def is_active(entry: dict[str, Any], day: date) -> bool:
    return entry["added_on"] <= day and (entry["removed_on"] is None or entry["removed_on"] > day)


def active_on(spark: SparkSession, lakehouse: Lakehouse, day: date) -> DataFrame:
    """The entries in force on ``day`` (``account_id``, ``added_by``, ``added_on``, ``reason``)."""
    if not tables.exists(lakehouse, Table.ALLOW_LIST):
        return spark.createDataFrame([], "account_id string, added_by string, added_on date, reason string")
    return (
        tables.read(spark, lakehouse, Table.ALLOW_LIST)
        .where((F.col("added_on") <= F.lit(day)) & (F.col("removed_on").isNull() | (F.col("removed_on") > F.lit(day))))
        .select("account_id", "added_by", "added_on", "reason")
    )


def _require(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise DistillguardError(f"allow-list entry needs a non-empty {what}")
    return value


def add(spark: SparkSession, lakehouse: Lakehouse, new: list[Entry]) -> list[Entry]:
    """Record ``new`` entries; accounts that already have an open entry are skipped. Returns those added."""
    open_accounts = {e["account_id"] for e in entries(spark, lakehouse) if e["removed_on"] is None}
    seen: set[str] = set()
    added = []
    for entry in new:
        account = _require(entry.account_id, "account_id")
        if account in seen:
            raise DistillguardError(f"account {account} appears twice in one allow-list load")
        seen.add(account)
        if account not in open_accounts:
            added.append(
                Entry(
                    account,
                    _require(entry.added_by, "added_by"),
                    _require(entry.reason, "reason"),
                    entry.added_on,
                    entry.source,
                )
            )
    if added:
        recorded = _now()
        rows = [
            {
                "account_id": e.account_id,
                "added_on": e.added_on,
                "added_by": e.added_by,
                "reason": e.reason,
                "source": e.source,
                "added_at": recorded,
                "removed_on": None,
                "removed_by": None,
                "removal_reason": None,
                "removed_at": None,
            }
            for e in added
        ]
        tables.append(spark.createDataFrame(pa.Table.from_pylist(rows, schema=SCHEMA)), lakehouse, Table.ALLOW_LIST)
    return added


def remove(
    spark: SparkSession, lakehouse: Lakehouse, account_id: str, removed_by: str, reason: str, removed_on: date
) -> dict[str, Any]:
    """Close the account's open entry (kept, with who removed it, when and why); returns the entry."""
    current = [e for e in entries(spark, lakehouse) if e["account_id"] == account_id and e["removed_on"] is None]
    if not current:
        raise DistillguardError(f"account {account_id} is not on the allow-list")
    if removed_on < current[0]["added_on"]:
        raise DistillguardError(
            f"account {account_id} was allow-listed on {current[0]['added_on']}; it cannot be removed on {removed_on}"
        )
    removal = spark.createDataFrame(
        [(account_id, removed_on, _require(removed_by, "removed_by"), _require(reason, "reason"), _now())],
        REMOVAL_SCHEMA,
    )
    tables.merge(
        spark,
        lakehouse,
        Table.ALLOW_LIST,
        removal,
        "t.account_id = s.account_id AND t.removed_on IS NULL",
        "WHEN MATCHED THEN UPDATE SET t.removed_on = s.removed_on, t.removed_by = s.removed_by, "
        "t.removal_reason = s.removal_reason, t.removed_at = s.removed_at",
    )
    return {**current[0], "removed_on": removed_on, "removed_by": removed_by, "removal_reason": reason}


def read_csv(path: Path) -> list[Entry]:
    """Entries of an agreements file (header ``account_id,added_by,reason,added_on``)."""
    if not path.is_file():
        raise DistillguardError(f"no allow-list file {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != CSV_HEADER:
            raise DistillguardError(
                f"{path}: header must be {','.join(CSV_HEADER)}, got {','.join(header) or 'nothing'}"
            )
        out = []
        for line, row in enumerate(reader, start=2):
            if len(row) != len(CSV_HEADER):
                raise DistillguardError(f"{path}:{line}: expected {len(CSV_HEADER)} fields, got {len(row)}")
            try:
                added_on = date.fromisoformat(row[3].strip())
            except ValueError:
                raise DistillguardError(f"{path}:{line}: added_on {row[3]!r} is not a YYYY-MM-DD date") from None
            if not all(value.strip() for value in row[:3]):
                raise DistillguardError(f"{path}:{line}: account_id, added_by and reason must not be empty")
            out.append(Entry(row[0].strip(), row[1].strip(), row[2].strip(), added_on, f"csv:{path.name}"))
    return out


def load_csv(spark: SparkSession, lakehouse: Lakehouse, path: Path) -> list[Entry]:
    """Add the entries of an agreements file; returns those that were new."""
    return add(spark, lakehouse, read_csv(path))
