"""Two processes, one lakehouse and date: the second run is refused with a clear message,
a SIGKILLed run's lock frees itself, and each run stages into its own scratch folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard import locks, tables
from distillguard.config import Lakehouse, Table
from distillguard.secrets import PARTNER_HMAC_KEY_ENV
from tests import landing as hand
from tests.processes import cli

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


@pytest.fixture
def home(tmp_path: Path) -> Lakehouse:
    lakehouse = Lakehouse(home=tmp_path / "home", landing=tmp_path / "landing")
    hand.build(lakehouse.landing, [D1, D2], files=2, per_file=5)
    return lakehouse


def _wait_for_holder(path: Path, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not (path.exists() and path.read_text().strip()):
        assert child.poll() is None and time.monotonic() < deadline, "first run never took its lock"
        time.sleep(0.02)


def test_second_run_of_a_job_and_date_is_refused_then_a_killed_lock_frees_itself(home: Lakehouse) -> None:
    env = {**os.environ, PARTNER_HMAC_KEY_ENV: "test-key"}
    first = subprocess.Popen(
        cli(home, "ingest", "--date", str(D1)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    lock = Path(locks.lock_path(home, "ingest", D1))
    _wait_for_holder(lock, first)
    second = subprocess.run(
        cli(home, "ingest", "--date", str(D1)), env=env, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 1 and second.stderr.count("\n") == 1
    assert second.stderr.startswith(
        f'distillguard: error: ingest for {D1} is already running on {home.home} (held by {{"pid": {first.pid}'
    )
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=60) == -signal.SIGKILL
    other_day = subprocess.run(
        cli(home, "ingest", "--date", str(D2)), env=env, capture_output=True, text=True, timeout=300
    )
    assert other_day.returncode == 0, other_day.stderr
    assert json.loads(lock.read_text())["pid"] == first.pid  # the file stays; the lock does not
    rerun = subprocess.run(cli(home, "ingest", "--date", str(D1)), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    runs = DeltaTable(home.table_path(Table.INGEST_RUNS)).to_pandas()
    assert sorted(runs[runs.status == "succeeded"].landing_date) == [D1, D2]
    raw = DeltaTable(home.table_path(Table.RAW_REQUESTS)).to_pandas()
    assert len(raw) == raw.request_id.nunique() == 20


def test_each_run_stages_into_its_own_scratch_removed_at_the_end(home: Lakehouse, sail: SparkSession) -> None:
    scratch = Path(home.table_path(Table.FEATURE_SCRATCH))
    seen = []
    for _ in range(2):
        with locks.hold(home, "features", D1):
            staged = tables.stage(sail, home, "daily", sail.range(3))
            assert staged.count() == 3
            seen.append([p.name for p in scratch.iterdir()])
    assert len(seen[0]) == len(seen[1]) == 1 and seen[0] != seen[1]
    assert list(scratch.iterdir()) == []
    with locks.hold(home, "features", D1):
        with pytest.raises(locks.AlreadyRunning, match=f"features for {D1} is already running"):
            with locks.hold(home, "features", D1):
                pass
        with locks.hold(home, "features", D2):  # another date may run at once
            pass
