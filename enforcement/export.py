"""The daily hand-off of flagged accounts to enforcement: files, manifest, ledger (jobs/export.py runs it).

Only the columns in ``EXPORT_COLUMNS`` leave the lakehouse (an allow-list: a column added
to the flagged table is not exported until someone decides enforcement may see it). One
export of flag date D reads that partition at a pinned Delta version, compares it with
what earlier exports of D already sent, and drops, under ``<exports>/date=D/<folder>/``,
``flagged_accounts.parquet``, ``flagged_accounts.csv`` and ``manifest.json`` (row count,
SHA-256 of each file, models, flagged-table version, what it is incremental to).

* incremental (default): only rows that are new, changed or withdrawn (no longer flagged)
  since the last export of D, in ``export-NNNN/`` with a ``change`` column; the first
  export of a date sends every row (and an empty drop for a day with no flags, so the
  day reads as handed off); when nothing changed, nothing at all is written;
* ``--full``: every current row of D in ``full/``; the same rows give byte-identical
  files (rows sorted, fixed schema and encoding), so a re-run rewrites nothing.

Order, so a crash at any point converges on re-run: files (temp name, then rename),
manifest last in its folder (a reader trusts a file only when its hash matches the manifest), then the changed rows appended to the ledger
``Table.EXPORTS`` (replaceWhere on the export id), then the run row in
``Table.EXPORT_RUNS``. An export exists only once its run row does; ledger rows of an
export without a run row are ignored and replaced by the retry, which reuses its id.

Allow-listed accounts (enforcement/allow_list.py) never leave: their flagged rows are
withheld and the manifest gives only how many were. An account allow-listed after it was
exported is ``withdrawn`` by the next export of that day.

The flagged rows of one day are collected to the driver: a day's review queue is small
(thousands of accounts), and writing the files there is what makes them deterministic.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import Lakehouse, Table
from distillguard.enforcement.flags import CLUSTER_SPEND, INTENT_SHARE, REQUESTS, SPEND, TEMPLATE_REUSE
from distillguard.errors import DistillguardError

# What enforcement may see, in file column order. Never client_ip or prompt_text (the
# flagged table has neither); internal lineage (MLflow run ids, scored_at) goes to the
# manifest, not to each row.
EXPORT_COLUMNS = (
    "flag_date",
    "account_id",
    "risk_tier",
    "score",
    "top_reasons",
    "cluster_id",
    "cluster_size",
    CLUSTER_SPEND,
    SPEND,
    REQUESTS,
    TEMPLATE_REUSE,
    INTENT_SHARE,
    "partner_indicator_hits",
    "first_flagged_date",
    "last_flagged_date",
    "model_name",
    "model_version",
)
REASON = pa.struct([("feature", pa.string()), ("value", pa.float64()), ("contribution", pa.float64())])
TYPES = {
    "flag_date": pa.date32(),
    "account_id": pa.string(),
    "risk_tier": pa.string(),
    "score": pa.float64(),
    "top_reasons": pa.list_(REASON),
    "cluster_id": pa.string(),
    "cluster_size": pa.int64(),
    CLUSTER_SPEND: pa.float64(),
    SPEND: pa.float64(),
    REQUESTS: pa.int64(),
    TEMPLATE_REUSE: pa.float64(),
    INTENT_SHARE: pa.float64(),
    "partner_indicator_hits": pa.int64(),
    "first_flagged_date": pa.date32(),
    "last_flagged_date": pa.date32(),
    "model_name": pa.string(),
    "model_version": pa.string(),
}
FULL_SCHEMA = pa.schema([(name, TYPES[name]) for name in EXPORT_COLUMNS])
INCREMENTAL_SCHEMA = pa.schema([("change", pa.string()), *FULL_SCHEMA])
LEDGER_SCHEMA = pa.schema(
    [
        ("export_id", pa.string()),
        ("exported_at", pa.timestamp("us", tz="UTC")),
        ("row_sha256", pa.string()),
        *INCREMENTAL_SCHEMA,
    ]
)
RUN_SCHEMA = pa.schema(
    [
        ("export_id", pa.string()),
        ("flag_date", pa.date32()),
        ("kind", pa.string()),
        ("folder", pa.string()),
        ("rows", pa.int64()),
        ("new", pa.int64()),
        ("changed", pa.int64()),
        ("withdrawn", pa.int64()),
        ("flagged_table_version", pa.int64()),
        ("since_export_id", pa.string()),
        ("parquet_sha256", pa.string()),
        ("csv_sha256", pa.string()),
        ("manifest_sha256", pa.string()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
    ]
)
PARQUET, CSV, MANIFEST = "flagged_accounts.parquet", "flagged_accounts.csv", "manifest.json"
TEMP_SUFFIX = ".tmp"
NEW, CHANGED, WITHDRAWN = "new", "changed", "withdrawn"


def _canonical(value: Any) -> Any:
    """JSON-ready value with one spelling per value (dates ISO, floats by repr)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def row_sha256(row: dict[str, Any]) -> str:
    """Content hash of the exported columns of a row: what "changed" compares."""
    payload = json.dumps([_canonical(row[name]) for name in EXPORT_COLUMNS], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def parquet_bytes(rows: list[dict[str, Any]], schema: pa.Schema) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    return sink.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(_canonical(value), separators=(",", ":"))
    if isinstance(value, float):
        return repr(value)
    return str(_canonical(value))


def csv_bytes(rows: list[dict[str, Any]], schema: pa.Schema) -> bytes:
    """RFC 4180 CSV, header first; ``top_reasons`` as compact JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(schema.names)
    writer.writerows([_csv_cell(row[name]) for name in schema.names] for row in rows)
    return buffer.getvalue().encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """A reader sees the old file or the new one, never half of one."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
    temp.write_bytes(data)
    os.replace(temp, path)


def discard_partial(folder: Path) -> None:
    """Remove the temp files of a write that was killed before its rename.

    Safe because the job's lock admits one writer per lakehouse and date.
    """
    for temp in folder.glob(f".*{TEMP_SUFFIX}"):
        temp.unlink(missing_ok=True)


def day_folder(lakehouse: Lakehouse, day: date) -> Path:
    return lakehouse.exports / f"date={day.isoformat()}"


def runs(spark: SparkSession, lakehouse: Lakehouse, day: date) -> list[dict[str, Any]]:
    """Committed exports of ``day``, oldest first."""
    if not tables.exists(lakehouse, Table.EXPORT_RUNS):
        return []
    runs = tables.read(spark, lakehouse, Table.EXPORT_RUNS).where(F.col("flag_date") == F.lit(day))
    return sorted(runs.toArrow().to_pylist(), key=lambda r: r["export_id"])


def sent(spark: SparkSession, lakehouse: Lakehouse, day: date, export_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What enforcement holds for ``day``: each account's latest row over committed exports,
    minus withdrawn ones."""
    if not export_ids or not tables.exists(lakehouse, Table.EXPORTS):
        return {}
    ledger = tables.read(spark, lakehouse, Table.EXPORTS).where(
        (F.col("flag_date") == F.lit(day)) & F.col("export_id").isin(*export_ids)
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(ledger.toArrow().to_pylist(), key=lambda r: r["export_id"]):
        latest[row["account_id"]] = row
    return {account: row for account, row in latest.items() if row["change"] != WITHDRAWN}


def changes(current: list[dict[str, Any]], sent: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """New, changed and withdrawn rows (withdrawn ones carry what was last sent)."""
    out = []
    accounts = {row["account_id"] for row in current}
    for row in current:
        before = sent.get(row["account_id"])
        if before is None or before["row_sha256"] != row["row_sha256"]:
            out.append({**row, "change": NEW if before is None else CHANGED})
    out += [{**row, "change": WITHDRAWN} for account, row in sent.items() if account not in accounts]
    return sorted(out, key=lambda r: (r["account_id"], r["change"]))


def current(
    spark: SparkSession, lakehouse: Lakehouse, day: date, version: int
) -> tuple[DataFrame, list[dict[str, Any]], int]:
    """The exportable flagged rows of ``day`` at ``version`` (Spark frame for the gate, rows sorted)
    and how many allow-listed rows were withheld."""
    day_rows = tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS, version).where(F.col("flag_date") == F.lit(day))
    missing = [name for name in (*EXPORT_COLUMNS, "scoring_run_id", "allow_listed") if name not in day_rows.columns]
    if missing:
        raise DistillguardError(
            f"{Table.FLAGGED_ACCOUNTS.value} lacks column(s) {', '.join(missing)}; "
            "is it written by an older scoring job?"
        )
    marked = day_rows.select(*EXPORT_COLUMNS, "scoring_run_id", "allow_listed").toArrow().to_pylist()
    rows = [{k: v for k, v in row.items() if k != "allow_listed"} for row in marked if not row["allow_listed"]]
    for row in rows:
        row["row_sha256"] = row_sha256(row)
    exportable = day_rows.where(~F.coalesce(F.col("allow_listed"), F.lit(False)))
    return exportable, sorted(rows, key=lambda r: r["account_id"]), len(marked) - len(rows)


def gate(spark: SparkSession, lakehouse: Lakehouse, flagged: DataFrame, export_id: str) -> None:
    """Nothing leaves that fails the exports suite; the gate sees only what may leave (flat
    columns), the scoring run id and how many reasons each row carries (GX cannot size an array)."""
    gates = quality.Gates(spark, lakehouse, f"export-{export_id}")
    gates.check(
        "exports",
        flagged.select(
            *(c for c in EXPORT_COLUMNS if c != "top_reasons"),
            "scoring_run_id",
            F.size("top_reasons").alias("reason_count"),
        ),
    )
    gates.close()


def manifest(
    export_id: str,
    day: date,
    kind: str,
    generated_at: datetime,
    body: list[dict[str, Any]],
    changed: list[dict[str, Any]],
    current_rows: list[dict[str, Any]],
    files: dict[str, bytes],
    version: int,
    previous: dict[str, Any] | None,
    columns: list[str],
    withheld: int,
) -> dict[str, Any]:
    """What the drop holds, where it comes from, what it is incremental to and how many
    allow-listed rows it withholds."""
    counts = {change: sum(1 for r in changed if r["change"] == change) for change in (NEW, CHANGED, WITHDRAWN)}
    live = [r for r in body if r.get("change") != WITHDRAWN]
    return {
        "export_id": export_id,
        "flag_date": day.isoformat(),
        "kind": kind,
        "generated_at": generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "rows": len(body),
        "columns": columns,
        "files": {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in files.items()},
        "changes_since_previous_export": counts,
        "incremental_since": None
        if previous is None
        else {
            "export_id": previous["export_id"],
            "kind": previous["kind"],
            "generated_at": previous["generated_at"].isoformat(timespec="seconds").replace("+00:00", "Z"),
            "flagged_table_version": previous["flagged_table_version"],
        },
        "flagged_table": {"table": Table.FLAGGED_ACCOUNTS.value, "delta_version": version},
        "models": [
            {"model_name": n, "model_version": v}
            for n, v in sorted({(r["model_name"], r["model_version"]) for r in body})
        ],
        "scoring_run_ids": sorted({r["scoring_run_id"] for r in current_rows if r["scoring_run_id"]}),
        "allow_listed_withheld": withheld,
        "by_tier": {
            tier: sum(1 for r in live if r["risk_tier"] == tier) for tier in sorted({r["risk_tier"] for r in live})
        },
    }


def on_disk(folder: Path, files: dict[str, bytes]) -> bool:
    return (
        all(
            (folder / name).is_file() and sha256((folder / name).read_bytes()) == sha256(data)
            for name, data in files.items()
        )
        and (folder / MANIFEST).is_file()
    )


def record_changes(
    spark: SparkSession, lakehouse: Lakehouse, rows: list[dict[str, Any]], day: date, export_id: str
) -> None:
    """The ledger rows of ``export_id``, replacing any a crashed attempt left, in one commit.

    MERGE rather than replaceWhere: Sail's replaceWhere fails on array<struct> columns."""
    ledger = spark.createDataFrame(pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA))
    tables.merge(
        spark,
        lakehouse,
        Table.EXPORTS,
        ledger,
        "t.flag_date = s.flag_date AND t.export_id = s.export_id AND t.account_id = s.account_id",
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * "
        f"WHEN NOT MATCHED BY SOURCE AND {tables.date_equals('t.flag_date', day)} "
        f"AND t.export_id = '{export_id}' THEN DELETE",
        ("flag_date",),
    )


def result(status: str, run: dict[str, Any], lakehouse: Lakehouse) -> dict[str, Any]:
    return {
        "status": status,
        "export_id": run["export_id"],
        "flag_date": run["flag_date"].isoformat(),
        "kind": run["kind"],
        "rows": run["rows"],
        "new": run["new"],
        "changed": run["changed"],
        "withdrawn": run["withdrawn"],
        "flagged_table_version": run["flagged_table_version"],
        "folder": lakehouse.exports / run["folder"],
        "manifest": lakehouse.exports / run["folder"] / MANIFEST,
    }


def record_run(spark: SparkSession, lakehouse: Lakehouse, run: dict[str, Any]) -> None:
    """The run row that makes an export exist (written last)."""
    tables.append(
        spark.createDataFrame(pa.Table.from_pylist([run], schema=RUN_SCHEMA)),
        lakehouse,
        Table.EXPORT_RUNS,
        ("flag_date",),
    )


def latest(spark: SparkSession, lakehouse: Lakehouse, day: date) -> dict[str, Any] | None:
    """The last committed export of ``day`` whose manifest is on disk, if any."""
    dropped = [r for r in runs(spark, lakehouse, day) if (lakehouse.exports / r["folder"] / MANIFEST).is_file()]
    return result("exported", dropped[-1], lakehouse) if dropped else None


def done(spark: SparkSession, lakehouse: Lakehouse, day: date) -> bool:
    """``day`` has been handed off."""
    return latest(spark, lakehouse, day) is not None
