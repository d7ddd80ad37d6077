"""Scan a lakehouse for personal data outside the raw layer (reusable by every job's tests).

The needles are every ``client_ip`` and ``prompt_text`` value in the landing zone, taken
from the raw bytes with regular expressions so even quarantined lines contribute. The
haystack is every string (and array-of-string) cell of every Delta table under
``<home>/tables`` except ``raw/``, plus every file of the Data Docs site. An IP counts when
a cell holds it as a whole token; a prompt when a cell contains its first 24 characters
(or, for shorter prompts, equals it).
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from distillguard.config import Lakehouse

PREFIX_CHARS = 24
_IP = re.compile(rb'"client_ip"\s*:\s*"([^"]*)"')
_PROMPT = re.compile(rb'"prompt_text"\s*:\s*("(?:[^"\\]|\\.)*")')
_TOKEN = re.compile(r"[0-9A-Fa-f:.]+")


def landing_pii(landing: Path) -> tuple[set[str], set[str]]:
    """All client_ip and prompt_text values of the request logs under ``landing``."""
    ips: set[str] = set()
    prompts: set[str] = set()
    for path in sorted((landing / "request_logs").rglob("*.jsonl.gz")):
        data = gzip.decompress(path.read_bytes())
        ips.update(m.decode("utf-8", "replace") for m in _IP.findall(data))
        for match in _PROMPT.findall(data):
            try:
                prompts.add(json.loads(match.decode("utf-8", "replace")))
            except ValueError:
                continue
    return ips, {p for p in prompts if p}


def _strings(column: pa.ChunkedArray) -> list[str]:
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [v for row in column.to_pylist() if row for v in row if isinstance(v, str)]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [v for v in column.to_pylist() if v is not None]
    return []


def _non_raw_tables(lakehouse: Lakehouse) -> list[Path]:
    root = lakehouse.tables_root
    return sorted(log.parent for log in root.rglob("_delta_log") if log.parent.relative_to(root).parts[0] != "raw")


def _hits(text: str, ips: set[str], prefixes: dict[str, str], short: set[str]) -> list[str]:
    found = [f"client_ip {token}" for token in _TOKEN.findall(text) if token in ips]
    if text in short:
        found.append("prompt_text (whole)")
    for start in range(0, max(0, len(text) - PREFIX_CHARS) + 1):
        window = text[start : start + PREFIX_CHARS]
        if window in prefixes:
            found.append(f"prompt_text starting {window!r}")
            break
    return found


def find_pii(lakehouse: Lakehouse, landing: Path | None = None) -> list[str]:
    """Findings as ``table.column: what``; empty when nothing personal leaked."""
    ips, prompts = landing_pii(landing or lakehouse.landing)
    prefixes = {p[:PREFIX_CHARS]: p for p in prompts if len(p) >= PREFIX_CHARS}
    short = {p for p in prompts if len(p) < PREFIX_CHARS}
    findings: list[str] = []
    for path in _non_raw_tables(lakehouse):
        table = DeltaTable(str(path)).to_pyarrow_table()
        name = path.relative_to(lakehouse.tables_root)
        for column_name in table.column_names:
            for text in set(_strings(table.column(column_name))):
                findings += [f"{name}.{column_name}: {hit}" for hit in _hits(text, ips, prefixes, short)]
    if lakehouse.data_docs.is_dir():
        for doc in sorted(p for p in lakehouse.data_docs.rglob("*") if p.is_file() and p.suffix in (".html", ".json")):
            text = doc.read_text(errors="replace")
            findings += [f"{doc.relative_to(lakehouse.home)}: {hit}" for hit in _hits(text, ips, prefixes, short)]
    return findings


def scanned_tables(lakehouse: Lakehouse) -> list[str]:
    return [str(p.relative_to(lakehouse.tables_root)) for p in _non_raw_tables(lakehouse)]
