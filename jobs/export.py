"""``distillguard export --date D [--full]``: the daily hand-off of flagged accounts to enforcement.

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
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillguard import quality, tables
from distillguard.config import Lakehouse, Table
from distillguard.errors import DistillguardError

# What enforcement may see, in file column order. Never client_ip or prompt_text (the
# flagged table has neither); internal lineage (MLflow run ids, scored_at) goes to the
# manifest, not to each row.
EXPORT_COLUMNS = ("flag_date", "account_id", "risk_tier", "score", "top_reasons", "cluster_id", "cluster_size",
                  "cluster_spend_28d", "spend_28d", "requests_28d", "template_reuse_28d", "cot_share_28d",
                  "partner_indicator_hits", "first_flagged_date", "last_flagged_date", "model_name",
                  "model_version")
REASON = pa.struct([("feature", pa.string()), ("value", pa.float64()), ("contribution", pa.float64())])
TYPES = {"flag_date": pa.date32(), "account_id": pa.string(), "risk_tier": pa.string(), "score": pa.float64(),
         "top_reasons": pa.list_(REASON), "cluster_id": pa.string(), "cluster_size": pa.int64(),
         "cluster_spend_28d": pa.float64(), "spend_28d": pa.float64(), "requests_28d": pa.int64(),
         "template_reuse_28d": pa.float64(), "cot_share_28d": pa.float64(), "partner_indicator_hits": pa.int64(),
         "first_flagged_date": pa.date32(), "last_flagged_date": pa.date32(), "model_name": pa.string(),
         "model_version": pa.string()}
FULL_SCHEMA = pa.schema([(name, TYPES[name]) for name in EXPORT_COLUMNS])
INCREMENTAL_SCHEMA = pa.schema([("change", pa.string()), *FULL_SCHEMA])
LEDGER_SCHEMA = pa.schema([("export_id", pa.string()), ("exported_at", pa.timestamp("us", tz="UTC")),
                           ("row_sha256", pa.string()), *INCREMENTAL_SCHEMA])
RUN_SCHEMA = pa.schema([
    ("export_id", pa.string()), ("flag_date", pa.date32()), ("kind", pa.string()), ("folder", pa.string()),
    ("rows", pa.int64()), ("new", pa.int64()), ("changed", pa.int64()), ("withdrawn", pa.int64()),
    ("flagged_table_version", pa.int64()), ("since_export_id", pa.string()),
    ("parquet_sha256", pa.string()), ("csv_sha256", pa.string()), ("manifest_sha256", pa.string()),
    ("generated_at", pa.timestamp("us", tz="UTC"))])
PARQUET, CSV, MANIFEST = "flagged_accounts.parquet", "flagged_accounts.csv", "manifest.json"
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


def _atomic_write(path: Path, data: bytes) -> None:
    """A reader sees the old file or the new one, never half of one."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def day_folder(lakehouse: Lakehouse, day: date) -> Path:
    return lakehouse.exports / f"date={day.isoformat()}"


def _runs(spark: SparkSession, lakehouse: Lakehouse, day: date) -> list[dict[str, Any]]:
    """Committed exports of ``day``, oldest first."""
    if not tables.exists(lakehouse, Table.EXPORT_RUNS):
        return []
    runs = tables.read(spark, lakehouse, Table.EXPORT_RUNS).where(F.col("flag_date") == F.lit(day))
    return sorted(runs.toArrow().to_pylist(), key=lambda r: r["export_id"])


def _sent(spark: SparkSession, lakehouse: Lakehouse, day: date, export_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What enforcement holds for ``day``: each account's latest row over committed exports,
    minus withdrawn ones."""
    if not export_ids or not tables.exists(lakehouse, Table.EXPORTS):
        return {}
    ledger = (tables.read(spark, lakehouse, Table.EXPORTS)
              .where((F.col("flag_date") == F.lit(day)) & F.col("export_id").isin(*export_ids)))
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(ledger.toArrow().to_pylist(), key=lambda r: r["export_id"]):
        latest[row["account_id"]] = row
    return {account: row for account, row in latest.items() if row["change"] != WITHDRAWN}


def _changes(current: list[dict[str, Any]], sent: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """New, changed and withdrawn rows (withdrawn ones carry what was last sent)."""
    out = []
    accounts = {row["account_id"] for row in current}
    for row in current:
        before = sent.get(row["account_id"])
        if before is None or before["row_sha256"] != row["row_sha256"]:
            out.append({**row, "change": NEW if before is None else CHANGED})
    out += [{**row, "change": WITHDRAWN} for account, row in sent.items() if account not in accounts]
    return sorted(out, key=lambda r: (r["account_id"], r["change"]))


def _current(spark: SparkSession, lakehouse: Lakehouse, day: date,
             version: int) -> tuple[DataFrame, list[dict[str, Any]]]:
    """The flagged rows of ``day`` at ``version`` (Spark frame for the gate, rows sorted)."""
    flagged = tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS, version).where(F.col("flag_date") == F.lit(day))
    missing = [name for name in (*EXPORT_COLUMNS, "scoring_run_id") if name not in flagged.columns]
    if missing:
        raise DistillguardError(f"{Table.FLAGGED_ACCOUNTS.value} lacks column(s) {', '.join(missing)}; "
                                "is it written by an older scoring job?")
    rows = flagged.select(*EXPORT_COLUMNS, "scoring_run_id").toArrow().to_pylist()
    for row in rows:
        row["row_sha256"] = row_sha256(row)
    return flagged, sorted(rows, key=lambda r: r["account_id"])


def _gate(spark: SparkSession, lakehouse: Lakehouse, flagged: DataFrame, export_id: str) -> None:
    """Nothing leaves that fails the flagged-accounts suite; the gate sees only what may leave
    (flat columns) and the scoring run id."""
    gates = quality.Gates(spark, lakehouse, f"export-{export_id}")
    gates.check("flagged_accounts", flagged.select(*(c for c in EXPORT_COLUMNS if c != "top_reasons"),
                                                   "scoring_run_id"))
    gates.close()


def _manifest(export_id: str, day: date, kind: str, generated_at: datetime, body: list[dict[str, Any]],
              changes: list[dict[str, Any]], files: dict[str, bytes], version: int,
              previous: dict[str, Any] | None, scoring_runs: list[str], columns: list[str]) -> dict[str, Any]:
    counts = {change: sum(1 for r in changes if r["change"] == change) for change in (NEW, CHANGED, WITHDRAWN)}
    live = [r for r in body if r.get("change") != WITHDRAWN]
    return {
        "export_id": export_id, "flag_date": day.isoformat(), "kind": kind,
        "generated_at": generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "rows": len(body), "columns": columns,
        "files": {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in files.items()},
        "changes_since_previous_export": counts,
        "incremental_since": None if previous is None else {
            "export_id": previous["export_id"], "kind": previous["kind"],
            "generated_at": previous["generated_at"].isoformat(timespec="seconds").replace("+00:00", "Z"),
            "flagged_table_version": previous["flagged_table_version"]},
        "flagged_table": {"table": Table.FLAGGED_ACCOUNTS.value, "delta_version": version},
        "models": [{"model_name": n, "model_version": v}
                   for n, v in sorted({(r["model_name"], r["model_version"]) for r in body})],
        "scoring_run_ids": scoring_runs,
        "by_tier": {tier: sum(1 for r in live if r["risk_tier"] == tier)
                    for tier in sorted({r["risk_tier"] for r in live})},
    }


def _on_disk(folder: Path, files: dict[str, bytes]) -> bool:
    return all((folder / name).is_file() and sha256((folder / name).read_bytes()) == sha256(data)
               for name, data in files.items()) and (folder / MANIFEST).is_file()


def _record_changes(spark: SparkSession, lakehouse: Lakehouse, rows: list[dict[str, Any]], day: date,
                    export_id: str) -> None:
    """The ledger rows of ``export_id``, replacing any a crashed attempt left, in one commit.

    MERGE rather than replaceWhere: Sail's replaceWhere fails on array<struct> columns."""
    ledger = spark.createDataFrame(pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA))
    tables.merge(spark, lakehouse, Table.EXPORTS, ledger,
                 "t.flag_date = s.flag_date AND t.export_id = s.export_id AND t.account_id = s.account_id",
                 "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * "
                 f"WHEN NOT MATCHED BY SOURCE AND {tables.date_equals('t.flag_date', day)} "
                 f"AND t.export_id = '{export_id}' THEN DELETE", ("flag_date",))


def _result(status: str, run: dict[str, Any], lakehouse: Lakehouse) -> dict[str, Any]:
    return {"status": status, "export_id": run["export_id"], "flag_date": run["flag_date"].isoformat(),
            "kind": run["kind"], "rows": run["rows"], "new": run["new"], "changed": run["changed"],
            "withdrawn": run["withdrawn"], "flagged_table_version": run["flagged_table_version"],
            "folder": lakehouse.exports / run["folder"], "manifest": lakehouse.exports / run["folder"] / MANIFEST}


def run(spark: SparkSession, lakehouse: Lakehouse, day: date, full: bool = False) -> dict[str, Any]:
    """Export flag date ``day`` (changes since the last export, or every row with ``full``)."""
    if not tables.exists(lakehouse, Table.FLAGGED_ACCOUNTS):
        raise DistillguardError(f"no flagged accounts yet; run `distillguard score --date {day}` first")
    version = tables.version(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
    flagged, current = _current(spark, lakehouse, day, version)
    runs = _runs(spark, lakehouse, day)
    previous = runs[-1] if runs else None
    changes = _changes(current, _sent(spark, lakehouse, day, [r["export_id"] for r in runs]))
    seq = len(runs) + 1
    kind = "full" if full else "incremental"
    if full:
        folder, body, schema = day_folder(lakehouse, day) / "full", current, FULL_SCHEMA
    else:
        folder, body, schema = day_folder(lakehouse, day) / f"export-{seq:04d}", changes, INCREMENTAL_SCHEMA
    files = {PARQUET: parquet_bytes(body, schema), CSV: csv_bytes(body, schema)}
    if not changes:
        last_full = next((r for r in reversed(runs) if r["kind"] == "full"), None)
        if not full and previous is not None:
            return _result("unchanged", previous, lakehouse)
        if full and last_full is not None and last_full["parquet_sha256"] == sha256(files[PARQUET]) \
                and _on_disk(folder, files):
            return _result("unchanged", last_full, lakehouse)

    export_id = f"{day.isoformat()}-{seq:04d}"
    _gate(spark, lakehouse, flagged, export_id)
    generated_at = datetime.now(timezone.utc)
    scoring_runs = sorted({r["scoring_run_id"] for r in current if r["scoring_run_id"]})
    manifest = _manifest(export_id, day, kind, generated_at, body, changes, files, version, previous,
                         scoring_runs, schema.names)
    manifest_data = (json.dumps(manifest, indent=2) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        _atomic_write(folder / name, data)
    _atomic_write(folder / MANIFEST, manifest_data)

    if changes:
        _record_changes(spark, lakehouse, [{**row, "export_id": export_id, "exported_at": generated_at}
                                           for row in changes], day, export_id)
    counts = manifest["changes_since_previous_export"]
    run_row = {"export_id": export_id, "flag_date": day, "kind": kind,
               "folder": str(folder.relative_to(lakehouse.exports)), "rows": len(body), **counts,
               "flagged_table_version": version, "since_export_id": previous["export_id"] if previous else None,
               "parquet_sha256": sha256(files[PARQUET]), "csv_sha256": sha256(files[CSV]),
               "manifest_sha256": sha256(manifest_data), "generated_at": generated_at}
    tables.append(spark.createDataFrame(pa.Table.from_pylist([run_row], schema=RUN_SCHEMA)), lakehouse,
                  Table.EXPORT_RUNS, ("flag_date",))
    return _result("written", run_row, lakehouse)


def latest(spark: SparkSession, lakehouse: Lakehouse, day: date) -> dict[str, Any] | None:
    """The last committed export of ``day`` whose manifest is on disk, if any."""
    on_disk = [r for r in _runs(spark, lakehouse, day) if (lakehouse.exports / r["folder"] / MANIFEST).is_file()]
    return _result("exported", on_disk[-1], lakehouse) if on_disk else None


def done(spark: SparkSession, lakehouse: Lakehouse, day: date) -> bool:
    """``day`` has been handed off."""
    return latest(spark, lakehouse, day) is not None
