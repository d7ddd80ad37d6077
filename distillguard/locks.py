"""One run of a job per lakehouse and date: a second one is refused, a crashed one's lock
is released by the kernel.

The lock is an ``flock`` on ``<home>/locks/<job>-<date>.lock``, held for the life of the
run. The kernel drops it when the process ends however it ends (SIGKILL, OOM, a lost
node's process), so a stale lock never needs clearing by hand; the file only says who
held it last. ``flock`` is honoured on local and POSIX network file systems; on object
stores (DBFS, S3) point ``--home``'s ``locks`` folder at local disk of the driver or run
one job per date through the scheduler (the bundle's jobs already do).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone

from distillguard import tables
from distillguard.config import Lakehouse
from distillguard.errors import DistillguardError

log = logging.getLogger(__name__)
UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


class AlreadyRunning(DistillguardError):
    """The same job is running on the same lakehouse and date."""


# The lock files' folder under the home: it holds no data (jobs/demo.py ignores it).
FOLDER = "locks"


def lock_path(lakehouse: Lakehouse, job: str, day: date | str | None) -> os.PathLike:
    return lakehouse.home / FOLDER / f"{job}-{day or 'all'}.lock"


@contextmanager
def hold(lakehouse: Lakehouse, job: str, day: date | str | None = None) -> Iterator[None]:
    """Run the body as the only ``job`` of ``day`` on this lakehouse, with its own scratch
    space (removed at the end); raises ``AlreadyRunning`` naming the holder otherwise."""
    path = lock_path(lakehouse, job, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        guarded = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "{}"
            raise AlreadyRunning(
                f"{job} for {day or 'the lakehouse'} is already running on {lakehouse.home} "
                f"(held by {holder}); wait for it to finish (a killed run's lock frees itself)"
            ) from None
        except OSError as error:
            if error.errno not in UNSUPPORTED:
                raise
            # A file system without flock (some FUSE mounts): run, but say it is unguarded.
            log.warning("%s cannot be locked (%s): %s for %s runs unguarded", path, error.strerror, job, day)
            guarded = False
        if guarded:
            os.ftruncate(fd, 0)
            os.pwrite(
                fd,
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": socket.gethostname(),
                        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                ).encode(),
                0,
            )
        with tables.scratch(lakehouse):
            yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
