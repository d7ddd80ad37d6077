"""``distillguard`` child processes for the tests: the command line, and a child SIGKILLed mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from distillguard.config import Lakehouse


def cli(lakehouse: Lakehouse, *args: str) -> list[str]:
    """The command line of ``distillguard ARGS --home H --landing L`` in this interpreter."""
    return [
        sys.executable,
        "-m",
        "distillguard.cli",
        *args,
        "--home",
        str(lakehouse.home),
        "--landing",
        str(lakehouse.landing),
    ]


def kill_when(
    lakehouse: Lakehouse, args: list[str], marker: Path, env: dict[str, str], pattern: str = "*", timeout: float = 300
) -> int:
    """Run ``distillguard ARGS --home H --landing L`` in a child process with ``env`` added;
    SIGKILL it as soon as ``marker`` holds a path matching ``pattern``. Returns its exit code
    (``-signal.SIGKILL`` when it was killed, so a test can assert the kill happened)."""
    child = subprocess.Popen(
        cli(lakehouse, *args),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while child.poll() is None and time.monotonic() < deadline:
        if marker.exists() and any(marker.rglob(pattern)):
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    return child.wait(timeout=60)
