"""Fault table: every fault kind tried on a copy of a generated lakehouse, one row each.

    python benchmarks/fault_table.py                 # tiny scale, 2 days, under $TMPDIR
    python benchmarks/fault_table.py --scale demo --days 3

Columns: what was tried (how many lines, files or runs), requests lost (a request in the
landing zone that is in neither the raw table, the line quarantine nor a file kept whole),
requests doubled (raw rows beyond one per (event_date, request_id)), and the outcome.
Each kind runs in its own copy of the landing zone and its own lakehouse.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from deltalake import DeltaTable

from distillguard import locks
from distillguard.config import Lakehouse, Table
from distillguard.engine import get_spark
from distillguard.errors import DistillguardError
from distillguard.jobs import ingest
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from distillguard.synthetic import faults as line_faults
from distillguard.synthetic.generate import generate

START = date(2026, 11, 1)
REASON = {"huge_prompt": "prompt_too_long"}


def _ids(data: bytes) -> set[str]:
    found = set()
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("request_id"), str):
            found.add(record["request_id"])
    return found


def _gunzip(data: bytes) -> bytes:
    try:
        return zlib.decompressobj(wbits=31).decompress(data)
    except zlib.error:
        return b""


def _landing_ids(landing: Path, days: list[date]) -> set[str]:
    return {
        rid
        for day in days
        for path in (landing / "request_logs" / f"date={day}").glob("*.jsonl*")
        for rid in _ids(_gunzip(path.read_bytes()))
    }


def _table(lakehouse: Lakehouse, table: Table):
    path = lakehouse.table_path(table)
    return DeltaTable(path).to_pandas() if (Path(path) / "_delta_log").is_dir() else None


def _lost_doubled(lakehouse: Lakehouse, days: list[date]) -> tuple[int, int]:
    raw, quarantine = _table(lakehouse, Table.RAW_REQUESTS), _table(lakehouse, Table.RAW_QUARANTINE)
    stored = set(raw.request_id) if raw is not None else set()
    kept = {
        rid
        for path in Path(lakehouse.table_path(Table.RAW_QUARANTINED_FILES)).rglob("*")
        if path.is_file()
        for rid in _ids(_gunzip(path.read_bytes()))
    }
    quarantined = set(quarantine.record_key.dropna()) if quarantine is not None else set()
    lost = _landing_ids(lakehouse.landing, days) - stored - kept - quarantined
    doubled = len(raw) - len(raw[["event_date", "request_id"]].drop_duplicates()) if raw is not None else 0
    return len(lost), doubled


class FaultTable:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, kind: str, tried: str, lost: int | str, doubled: int | str, outcome: str) -> None:
        self.rows.append((kind, tried, str(lost), str(doubled), outcome))
        print(f"  {kind}: {outcome}", file=sys.stderr, flush=True)

    def render(self) -> str:
        head = ("fault kind", "tried", "rows lost", "rows doubled", "outcome")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(5)]
        line = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
        return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, self.rows)])


def _copy(source: Lakehouse, work: Path, name: str) -> Lakehouse:
    home = work / name
    shutil.copytree(source.landing, home / "landing")
    return Lakehouse(home=home / "home", landing=home / "landing")


def _cli(lakehouse: Lakehouse, day: date) -> list[str]:
    return [
        sys.executable,
        "-m",
        "distillguard.cli",
        "ingest",
        "--date",
        str(day),
        "--home",
        str(lakehouse.home),
        "--landing",
        str(lakehouse.landing),
    ]


def _kill_when(lakehouse: Lakehouse, marker: Path, day: date) -> int:
    child = subprocess.Popen(_cli(lakehouse, day), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        if marker.exists() and any(marker.rglob("*")):
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    return child.wait(timeout=120)


KILL_TESTS = (
    ("features", "tests/test_kill_safety.py::test_sigkill_features_then_rerun_equals_an_uninterrupted_run", 3),
    ("score", "tests/test_kill_safety_model.py::test_sigkill_score_then_rerun_equals_an_uninterrupted_run", 2),
    ("export", "tests/test_kill_safety_model.py::test_sigkill_export_then_rerun_equals_an_uninterrupted_run", 2),
    ("train", "tests/test_kill_safety_model.py::test_sigkill_train_then_rerun_leaves_one_live_version", 3),
)


def _pytest(test: str) -> bool:
    """Run one kill test (from the repository root) and say whether every kill point passed."""
    root = Path(__file__).resolve().parent.parent
    return (
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=root).returncode == 0
    )


def _job_cli(lakehouse: Lakehouse, step: str, day: date) -> list[str]:
    when = "--as-of" if step == "train" else "--date"
    return [sys.executable, "-m", "distillguard.cli", step, when, str(day), "--home", str(lakehouse.home)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    root = Path(args.dir) / f"distillguard-faults-{args.scale}-{args.days}"
    source = Lakehouse.resolve(root / "source")
    if not (source.truth / "faults.json").exists():
        shutil.rmtree(root, ignore_errors=True)
        generate(source, args.scale, START, args.days, seed=7, progress=False)
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    os.environ[PARTNER_HMAC_KEY_ENV] = (source.home / "secrets" / PARTNER_HMAC_KEY_ENV.lower()).read_text().strip()
    days = [START + timedelta(days=d) for d in range(args.days)]
    last = days[-1]
    spark = get_spark()
    table = FaultTable()
    truth = json.loads((source.truth / "faults.json").read_text())

    # Line-level faults of the contract, as the generator injected them.
    clean = _copy(source, work, "lines")
    runs = [ingest.run(spark, clean, day) for day in days]
    lost, doubled = _lost_doubled(clean, days)
    by_reason: dict[str, int] = {}
    for row in runs:
        for reason, count in json.loads(row["quarantined_by_reason"]).items():
            by_reason[reason] = by_reason.get(reason, 0) + count
    for kind in line_faults.INVALID:
        reason = REASON.get(kind, kind)
        table.add(
            f"line: {kind}",
            f"{truth['faults'].get(kind, 0)} lines",
            lost,
            doubled,
            f"{by_reason.get(reason, 0)} quarantined as {reason}",
        )
    for kind in line_faults.VALID:
        outcome = {"unknown_keys": "accepted (keys ignored)", "late": "stored under its event date"}.get(
            kind, "dropped as duplicate, one copy stored"
        )
        table.add(f"line: {kind}", f"{truth['faults'].get(kind, 0)} lines", lost, doubled, outcome)

    def file_fault(kind: str, mutate: Callable[[Lakehouse], str]) -> None:
        home = _copy(source, work, kind.replace(" ", "_"))
        what = mutate(home)
        try:
            row = ingest.run(spark, home, last)
            outcome = f"run succeeded; {row['files_quarantined']} file(s) quarantined whole; {what}"
        except DistillguardError as error:
            outcome = f"refused: {str(error)[:90]}"
        lost, doubled = _lost_doubled(home, [last])
        table.add(kind, "1 file", lost, doubled, outcome)

    folder = lambda home: home.landing / "request_logs" / f"date={last}"  # noqa: E731
    part = lambda home: sorted(folder(home).glob("part-*.jsonl.gz"))[0]  # noqa: E731

    def truncate(home: Lakehouse) -> str:
        data = part(home).read_bytes()
        part(home).write_bytes(data[: len(data) // 2])
        return "other files ingested"

    def not_gzip(home: Lakehouse) -> str:
        part(home).write_bytes(b"<html>503 Service Unavailable</html>\n")
        return "other files ingested"

    def nul_byte(home: Lakehouse) -> str:
        path = part(home)
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b'{"request_id": "x\x00"}\n'))
        return "other files ingested"

    def corrupt_accounts(home: Lakehouse) -> str:
        path = home.landing / "accounts" / f"date={last}" / "accounts.jsonl.gz"
        path.write_bytes(path.read_bytes()[:100])
        return "snapshot skipped, an earlier one stays in use"

    def missing_accounts(home: Lakehouse) -> str:
        (home.landing / "accounts" / f"date={last}" / "accounts.jsonl.gz").unlink()
        return "snapshot skipped, an earlier one stays in use"

    def corrupt_incidents(home: Lakehouse) -> str:
        (home.landing / "incidents" / "zz-broken.csv").write_bytes(b"\x00\x01 binary")
        return "earlier labels kept"

    def missing_incidents(home: Lakehouse) -> str:
        for path in (home.landing / "incidents").glob("*.csv"):
            path.unlink()
        return "no labels added, none erased"

    for kind, mutate in (
        ("truncated .jsonl.gz", truncate),
        ("not gzip", not_gzip),
        ("NUL byte in a file", nul_byte),
        ("corrupt accounts snapshot", corrupt_accounts),
        ("missing accounts snapshot", missing_accounts),
        ("corrupt incidents CSV", corrupt_incidents),
        ("missing incidents files", missing_incidents),
    ):
        file_fault(kind, mutate)

    for point, marker in (
        ("staging", Table.RAW_STAGING),
        ("raw_requests", Table.RAW_REQUESTS),
        ("raw_quarantine", Table.RAW_QUARANTINE),
    ):
        home = _copy(source, work, f"kill_{point}")
        code = _kill_when(home, Path(home.table_path(marker)), last)
        row = ingest.run(spark, home, last)
        lost, doubled = _lost_doubled(home, [last])
        killed = "killed" if code == -signal.SIGKILL else f"finished first (exit {code})"
        table.add(
            f"SIGKILL ingest at {point}",
            "1 run + re-run",
            lost,
            doubled,
            f"{killed}; re-run {row['status']}, {row['accepted']} accepted",
        )

    home = _copy(source, work, "concurrent")
    first = subprocess.Popen(_cli(home, last), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = home.home / "locks" / f"ingest-{last}.lock"
    while first.poll() is None and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.02)
    second = subprocess.run(_cli(home, last), capture_output=True, text=True)
    first.wait()
    lost, doubled = _lost_doubled(home, [last])
    table.add(
        "two runs of ingest, one date",
        "2 processes",
        lost,
        doubled,
        f"first exit {first.returncode}; second exit {second.returncode}: "
        f"{'refused (already running)' if 'already running' in second.stderr else second.stderr.strip()[:60]}",
    )

    home = _copy(source, work, "no_key")
    key = os.environ.pop(PARTNER_HMAC_KEY_ENV)
    try:
        ingest.run(spark, home, last)
        outcome = "ran without a key (WRONG)"
    except DistillguardError as error:
        outcome = f"refused: {str(error).split(';')[0]}"
    os.environ[PARTNER_HMAC_KEY_ENV] = key
    wrote = home.tables_root.exists() and any(home.tables_root.rglob("_delta_log"))
    table.add(
        "missing key (not a demo)", "1 run", 0, 0, outcome + ("; tables written" if wrote else "; nothing written")
    )

    # Kills after ingest: the kill tests (tiny scale, in make test) kill each job at several
    # points and assert that the re-run equals an uninterrupted run, table for table and
    # file for file, so a pass means 0 rows lost and 0 doubled.
    for step, test, points in KILL_TESTS:
        passed = _pytest(test)
        table.add(
            f"SIGKILL {step}",
            f"{points} kill points + re-runs",
            0 if passed else "?",
            0 if passed else "?",
            f"{test.split('::')[0]}: {'re-run equals an uninterrupted run' if passed else 'FAILED'}",
        )

    # A second run of a job and date while the first holds its lock: refused before it reads anything.
    home = _copy(source, work, "concurrent_jobs")
    for step in ("features", "score", "export", "train"):
        with locks.hold(home, step, last):
            second = subprocess.run(_job_cli(home, step, last), capture_output=True, text=True)
        refused = second.returncode == 1 and "already running" in second.stderr
        table.add(
            f"two runs of {step}, one date",
            "lock held + 1 process",
            0,
            0,
            f"second exit {second.returncode}: {'refused (already running)' if refused else second.stderr.strip()[:60]}",
        )
    print(table.render())


if __name__ == "__main__":
    main()
