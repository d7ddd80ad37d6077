"""Whole landing files that cannot be read: found before Spark reads them, set aside whole.

A partial upload (truncated gzip), a file that is not gzip at all, or a file the line
reader cannot take (a NUL byte, which makes Sail fail the whole read) would otherwise end
the run with a stack trace and hold back every other file of the day. Each file is
streamed once through zlib here (C speed, one pass; request logs, the bulk of the bytes,
only when the engine's read of the day fails: see jobs/ingest.py); a file that fails is recorded with
its path, size, SHA-256, the reason and how many complete lines came out before the fault
(what a re-delivery would restore), and its bytes are copied to the raw layer so it can
be replayed. The rest of the day ingests.
"""

from __future__ import annotations

import hashlib
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from distillguard.config import Lakehouse, Table

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"

TRUNCATED_GZIP = "truncated_gzip"
NOT_GZIP = "not_gzip"
CORRUPT_GZIP = "corrupt_gzip"
GZIP_NOT_NAMED_GZ = "gzip_not_named_gz"
NUL_BYTE = "nul_byte"
CSV_HEADER = "csv_header"
UNREADABLE = "unreadable"
FILE_REASONS = (TRUNCATED_GZIP, NOT_GZIP, CORRUPT_GZIP, GZIP_NOT_NAMED_GZ, NUL_BYTE, CSV_HEADER, UNREADABLE)
SCHEMA = (
    "run_id string, landing_date date, source string, path string, size_bytes long, sha256 string, "
    "reason string, detail string, lines_recovered long, kept_at string"
)


@dataclass(frozen=True)
class CorruptFile:
    source: str
    path: str  # relative to the landing zone
    size_bytes: int
    sha256: str
    reason: str
    detail: str
    lines_recovered: int

    def describe(self) -> str:
        return f"{self.path} ({self.reason}: {self.detail}; {self.lines_recovered} line(s) readable before it)"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _decompressed(path: Path, gzipped: bool) -> Iterator[bytes]:
    """The file's bytes, gunzipped chunk by chunk (every gzip member); raises ``EOFError``
    when the stream ends early, ``zlib.error`` when it is damaged."""
    with path.open("rb") as handle:
        if not gzipped:
            while chunk := handle.read(CHUNK):
                yield chunk
            return
        stream = zlib.decompressobj(wbits=31)
        while chunk := handle.read(CHUNK):
            while chunk:
                yield stream.decompress(chunk)
                chunk = stream.unused_data if stream.eof else b""
                if chunk:
                    stream = zlib.decompressobj(wbits=31)
        if not stream.eof:
            raise EOFError("compressed stream ends early")


def _scan(path: Path, header: str | None, whole: bool = True) -> tuple[str, str, int] | None:
    """(reason, detail, complete lines before the fault) for an unreadable file, else None;
    with ``whole`` false only the first bytes are checked (no decompression)."""
    lines = 0
    first: bytes | None = None
    try:
        with path.open("rb") as raw:
            magic = raw.read(2)
        gzipped = path.name.endswith(".gz")
        if not gzipped and magic == GZIP_MAGIC:
            return GZIP_NOT_NAMED_GZ, "gzip bytes in a file not named .gz", 0
        if gzipped and magic != GZIP_MAGIC:
            return (TRUNCATED_GZIP, "empty file", 0) if not magic else (NOT_GZIP, "no gzip header", 0)
        if not whole:
            return None
        for chunk in _decompressed(path, gzipped):
            if first is None and chunk:
                first = chunk[:4096]
            if b"\x00" in chunk:
                before = chunk[: chunk.index(b"\x00")]
                return NUL_BYTE, "a NUL byte (the line reader cannot read it)", lines + before.count(b"\n")
            lines += chunk.count(b"\n")
    except EOFError:
        return TRUNCATED_GZIP, "compressed stream ends early (partial upload?)", lines
    except zlib.error as error:
        return CORRUPT_GZIP, str(error).splitlines()[0][:200], lines
    except OSError as error:
        return UNREADABLE, (error.strerror or str(error))[:200], lines
    if header is not None and first is not None:
        got = first.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        if got != header:
            return CSV_HEADER, f"first line is not the contract header {header!r}", 0
    return None


def inspect(
    files: list[Path], landing: Path, source: str, header: str | None = None, whole: bool = True
) -> tuple[list[Path], list[CorruptFile]]:
    """Split ``files`` into readable ones and corrupt ones (with their evidence).

    ``whole=False`` checks only each file's first bytes (the gzip header, or its absence):
    for files too large to decompress twice, read by an engine that fails on a damaged
    stream; on such a failure the caller inspects them whole.
    """
    readable: list[Path] = []
    corrupt: list[CorruptFile] = []
    for path in files:
        fault = _scan(path, header, whole)
        if fault is None:
            readable.append(path)
            continue
        reason, detail, lines = fault
        corrupt.append(
            CorruptFile(
                source, str(path.relative_to(landing)), path.stat().st_size, _sha256(path), reason, detail, lines
            )
        )
    return readable, corrupt


def keep(lakehouse: Lakehouse, landing_date: date, corrupt: list[CorruptFile]) -> list[str]:
    """Copy each corrupt file's bytes into the raw layer (it may hold personal data);
    returns where each went, relative to the lakehouse home."""
    kept = []
    for item in corrupt:
        target = Path(lakehouse.table_path(Table.RAW_QUARANTINED_FILES)) / f"landing_date={landing_date}" / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lakehouse.landing / item.path, target)
        kept.append(str(target.relative_to(lakehouse.home)))
    return kept


def rows(run_id: str, landing_date: date, corrupt: list[CorruptFile], kept: list[str]) -> list[tuple]:
    """Rows for the PII-free quarantined-files table (``SCHEMA``)."""
    return [
        (
            run_id,
            landing_date,
            item.source,
            item.path,
            item.size_bytes,
            item.sha256,
            item.reason,
            item.detail,
            item.lines_recovered,
            where,
        )
        for item, where in zip(corrupt, kept)
    ]


def as_dicts(corrupt: list[CorruptFile]) -> list[dict]:
    return [asdict(item) for item in corrupt]
