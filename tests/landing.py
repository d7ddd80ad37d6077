"""A hand-written landing zone small enough that every expected count is obvious.

Each folder date holds ``files`` request files of ``per_file`` valid lines each (every
line its own request, with a client_ip and a prompt_text made from the date, file and
line), an accounts snapshot of ``ACCOUNTS`` accounts, and incident / indicator CSVs.
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

ACCOUNTS = ("acct-a", "acct-b", "acct-c")
INCIDENT_HEADER = "incident_id,account_id,label,window_start,window_end,decided_on,source"
INDICATOR_HEADER = "indicator_type,value,partner,first_seen,confidence"


def ip(day: date, file: int, line: int) -> str:
    return f"203.{day.day}.{file}.{line + 1}"


def prompt(day: date, file: int, line: int) -> str:
    return f"secret prompt number {day.isoformat()} file {file} line {line} about widgets"


def request_line(day: date, file: int, line: int) -> bytes:
    record = {
        "request_id": f"r-{day.isoformat()}-{file}-{line}",
        "ts": f"{day.isoformat()}T10:{line % 60:02d}:00Z",
        "account_id": ACCOUNTS[line % len(ACCOUNTS)],
        "api_key_id": "k1",
        "model": "m-1",
        "endpoint": "messages",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost_usd": 0.01,
        "client_ip": ip(day, file, line),
        "prompt_text": prompt(day, file, line),
    }
    return json.dumps(record).encode() + b"\n"


def request_file(day: date, file: int, per_file: int) -> bytes:
    return b"".join(request_line(day, file, line) for line in range(per_file))


def accounts_file(day: date) -> bytes:
    return b"".join(
        json.dumps(
            {
                "account_id": account,
                "org_id": None,
                "created_at": "2026-10-01T00:00:00Z",
                "signup_country": "US",
                "billing_country": "US",
                "kyc_tier": "basic",
                "plan": "payg",
                "payment_fingerprint": f"pf-{account}",
                "email_domain": "example.com",
                "zero_data_retention": False,
            }
        ).encode()
        + b"\n"
        for account in ACCOUNTS
    )


def write_day(landing: Path, day: date, files: int = 2, per_file: int = 5) -> None:
    folder = landing / "request_logs" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    for file in range(files):
        (folder / f"part-{file:05d}.jsonl.gz").write_bytes(gzip.compress(request_file(day, file, per_file)))
    snapshot = landing / "accounts" / f"date={day}" / "accounts.jsonl.gz"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.write_bytes(gzip.compress(accounts_file(day)))


def write_csv(landing: Path, source: str, name: str, rows: list[str]) -> Path:
    header = INCIDENT_HEADER if source == "incidents" else INDICATOR_HEADER
    path = landing / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def build(landing: Path, days: list[date], files: int = 2, per_file: int = 5) -> None:
    """Request files and snapshots of ``days``, one incident and one indicator file."""
    for day in days:
        write_day(landing, day, files, per_file)
    write_csv(
        landing,
        "incidents",
        "incidents-001.csv",
        ["inc-1,acct-a,distillation,2026-11-01,2026-11-02,2026-11-02,enforcement_review"],
    )
    write_csv(landing, "partner_indicators", "partner-001.csv", ["ip_prefix,203.1.0.0/24,lab-x,2026-11-01,0.9"])
