"""Logging, configured once by the CLI: a level, one line per event, JSON lines when asked.

Modules log through ``logging.getLogger(__name__)`` (every module lives under the
``distillguard`` package, so one handler on that logger serves them all). Command results
stay on stdout; log events go to stderr, so a job's output can be piped while its
warnings still reach the terminal or the Databricks driver log. Progress bars (``progress``)
also write to stderr, and only on a terminal: CI and job logs get the events, not redraws.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import TextIO, TypeVar

LEVEL_ENV = "DISTILLGUARD_LOG_LEVEL"
FORMAT_ENV = "DISTILLGUARD_LOG_FORMAT"
FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ROOT = "distillguard"

T = TypeVar("T")


def _one_line(text: str) -> str:
    """A multi-line message or traceback still makes one log line."""
    return text.replace("\r", "").replace("\n", " | ")


class TextFormatter(logging.Formatter):
    """``2026-11-28T02:30:00Z WARNING distillguard.jobs.score: message``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = record.getMessage()
        if record.exc_info:
            message += " | " + self.formatException(record.exc_info)
        return _one_line(f"{stamp} {record.levelname} {record.name}: {message}")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra={...}`` fields."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        event.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each event, so a handler set up once
    never writes to a stream that was replaced and closed since (a notebook cell, a test capture)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(level: str | None = None, fmt: str | None = None, stream: TextIO | None = None) -> logging.Logger:
    """Set the ``distillguard`` logger's level and format (option, then environment, then
    INFO/text). Calling it again replaces the handler, so events are never printed twice."""
    level = (level or os.environ.get(LEVEL_ENV) or "INFO").upper()
    fmt = (fmt or os.environ.get(FORMAT_ENV) or "text").lower()
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}: {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}: {fmt!r}")
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def progress(items: Iterable[T], description: str, total: int | None = None, enabled: bool = True) -> Iterator[T]:
    """A progress bar over ``items`` on stderr when it is a terminal (nothing otherwise)."""
    from tqdm import tqdm

    return iter(
        tqdm(
            items,
            desc=description,
            total=total,
            unit="day",
            file=sys.stderr,
            leave=False,
            disable=None if enabled else True,
            dynamic_ncols=True,
        )
    )
