"""The command line: help everywhere, one-line errors and exit code 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distillguard.cli import build_parser, main


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


@pytest.mark.parametrize("argv, message", [
    (["generate", "--start", "2026-13-01"], "not an ISO date"),
    (["generate", "--scale", "huge"], "invalid choice: 'huge'"),
    (["generate", "--days", "0"], "must be at least 1"),
    (["generate", "--fault-rate", "-1"], "must be >= 0"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "h")] + argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_home_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["generate", "--scale", "tiny", "--home", str(not_a_dir)]) == 2
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
    assert main(["generate", "--scale", "tiny", "--days", "1", "--home", home, "--quiet", "--seed", "9"]) == 2
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert part.read_bytes() == before
    assert main(["generate", "--scale", "tiny", "--days", "1", "--home", home, "--quiet",
                 "--seed", "9", "--overwrite"]) == 0
    assert part.read_bytes() != before


def test_console_script_is_installed(tmp_path: Path) -> None:
    done = subprocess.run([Path(sys.executable).with_name("distillguard"), "generate", "--start", "nope"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("distillguard generate: error: argument --start")
