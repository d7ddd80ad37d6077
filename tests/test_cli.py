"""The command line: help everywhere, one-line errors, exit code 1 for a failed step or gate
and 2 for bad arguments, from the console script and from a wheel entry point alike."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from distillguard import __version__
from distillguard.cli import _resolve_days, build_parser, main
from distillguard.config import Lakehouse, Table
from distillguard.jobs import daily
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, PSEUDONYM_KEY_ENV

CONSOLE_SCRIPT = Path(sys.executable).with_name("distillguard")
# What a Databricks python_wheel_task does: load the package's entry point, call it with the
# task parameters in sys.argv, and ignore what it returns.
WHEEL_TASK = (
    "import sys\n"
    "from importlib.metadata import entry_points\n"
    "(entry,) = entry_points(group='console_scripts', name='distillguard')\n"
    "sys.argv = ['distillguard', *sys.argv[1:]]\n"
    "entry.load()()\n"
)


def _commands() -> list[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return sorted(subparsers.choices)


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in _commands()])
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: distillguard" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--start", "2026-13-01"], "not an ISO date"),
        (["generate", "--scale", "huge"], "invalid choice: 'huge'"),
        (["generate", "--days", "0"], "must be at least 1"),
        (["generate", "--fault-rate", "-1"], "must be >= 0"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "h")] + argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_home_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert pytest.raises(SystemExit, main, ["generate", "--scale", "tiny", "--home", str(not_a_dir)]).value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"distillguard: error: {not_a_dir} exists and is not a directory"
    assert not_a_dir.read_text() == "x"


def test_generate_refuses_to_overwrite_without_flag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    home = str(tmp_path / "h")
    assert main(["generate", "--scale", "tiny", "--days", "1", "--home", home, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "invalid  malformed_json" in out and "ground truth (evaluation only)" in out
    part = tmp_path / "h" / "landing" / "request_logs" / "date=2026-11-01" / "part-00000.jsonl.gz"
    before = part.read_bytes()
    refused = pytest.raises(
        SystemExit, main, ["generate", "--scale", "tiny", "--days", "1", "--home", home, "--quiet", "--seed", "9"]
    )
    assert refused.value.code == 1
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert part.read_bytes() == before
    assert (
        main(["generate", "--scale", "tiny", "--days", "1", "--home", home, "--quiet", "--seed", "9", "--overwrite"])
        == 0
    )
    assert part.read_bytes() != before


def test_console_script_is_installed(tmp_path: Path) -> None:
    done = subprocess.run([CONSOLE_SCRIPT, "generate", "--start", "nope"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("distillguard generate: error: argument --start")


def test_version() -> None:
    done = subprocess.run([CONSOLE_SCRIPT, "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, f"distillguard {__version__}\n")


def _wheel_task(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WHEEL_TASK, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "DISTILLGUARD_LOG_LEVEL": "ERROR"},
        timeout=300,
    )


def test_wheel_entry_point_fails_through_system_exit(tmp_path: Path) -> None:
    """The wheel task ignores a return value: a failed step must still end the process with 1."""
    home = str(tmp_path / "empty")
    failed = _wheel_task(["--home", home, "features", "--date", "2026-11-03"], tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "distillguard: error: no ingested requests for 2026-11-03; run `distillguard ingest --date 2026-11-03` first"
    ]
    contradicting = _wheel_task(["--home", home, "features", "--date", "2026-11-03", "--start", "2026-11-01"], tmp_path)
    assert contradicting.returncode == 2
    assert contradicting.stderr.strip() == "distillguard: error: give either --date or --start/--end, not both"
    assert _wheel_task(["--version"], tmp_path).returncode == 0


def test_failed_gate_exits_1_from_the_console_script(
    sail: SparkSession, tiny_landing: Lakehouse, tmp_path: Path
) -> None:
    """Day 2's accounts snapshot cut to 10 accounts: the ingest gate refuses it, exit code 1."""
    shutil.copytree(tiny_landing.home, tmp_path / "lakehouse")
    home = Lakehouse.resolve(tmp_path / "lakehouse")
    daily.run(sail, home, date(2026, 11, 1), steps=("ingest",), echo=lambda line: None)
    snapshot = home.landing_dir("accounts") / "date=2026-11-02" / "accounts.jsonl.gz"
    snapshot.write_bytes(gzip.compress(b"\n".join(gzip.decompress(snapshot.read_bytes()).splitlines()[:10]) + b"\n"))
    done = subprocess.run(
        [CONSOLE_SCRIPT, "--home", str(home.home), "--log-format", "json", "ingest", "--date", "2026-11-02"],
        # The edited snapshot ends the lakehouse's demo status: the run needs real keys.
        env={**os.environ, PARTNER_HMAC_KEY_ENV: "test-partner-key", PSEUDONYM_KEY_ENV: "test-pseudonym-key"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("distillguard: error: quality gate failed")
    assert "expect_table_row_count_to_be_between" in lines[-1] and "Traceback" not in done.stderr
    # Every other stderr line is one JSON log event.
    assert all(json.loads(line)["level"] in {"INFO", "WARNING", "ERROR"} for line in lines[:-1])
    runs = DeltaTable(home.table_path(Table.INGEST_RUNS)).to_pandas()
    assert sorted(zip(runs.landing_date.astype(str), runs.status)) == [
        ("2026-11-01", "succeeded"),
        ("2026-11-02", "failed_gate"),
    ]


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--date", "2026-11-03"], "2026-11-03"),
        (["--date", "yesterday", "--today", "2026-11-04"], "2026-11-03"),
        (["--date", "today", "--today", "2026-11-04"], "2026-11-04"),
        (["--days-ago", "1", "--today", "2026-03-01"], "2026-02-28"),
        (["--days-ago", "0", "--today", "2026-11-04"], "2026-11-04"),
    ],
)
def test_relative_dates(options: list[str], expected: str) -> None:
    for command in ("ingest", "features", "score", "export", "report"):
        args = build_parser().parse_args([command, *options])
        _resolve_days(args)
        assert args.date == date.fromisoformat(expected)
    args = build_parser().parse_args(["run", "daily", *options])
    _resolve_days(args)
    assert args.date == date.fromisoformat(expected)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ingest", "--date", "2026-11-03", "--days-ago", "1"], "not allowed with argument --date"),
        (["ingest", "--days-ago", "-1"], "must be >= 0"),
        (["ingest", "--date", "tomorrow"], "not an ISO date"),
        (["ingest"], "one of the arguments --date --days-ago is required"),
        (["--log-level", "chatty", "ingest", "--date", "2026-11-03"], "invalid choice: 'CHATTY'"),
        (["features", "--start", "2026-11-01"], "one of the arguments --date --days-ago is required"),
        (["ingest", "--date", "2026-11-03", "--end", "2026-11-04"], "give either --date or --start/--end, not both"),
        (["export", "--date", "2026-11-03", "--grant-to", "analysts"], "--grant-to needs tables in a catalog schema"),
        (["train", "--target-fpr", "1"], "--target-fpr must be in (0, 1): 1.0"),
    ],
)
def test_bad_date_options_exit_2(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Refused before the job's lock is taken: the home is not even created."""
    assert pytest.raises(SystemExit, main, ["--home", str(tmp_path / "h"), *argv]).value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "h").exists()
