"""Demo keys only for a lakehouse the generator created, and only while every landing file
in it is one the generator wrote; anything else without keys refuses to run."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from distillguard.cli import main
from distillguard.config import Lakehouse
from distillguard.errors import DistillguardError
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, PSEUDONYM_KEY_ENV, get_key, is_demo, mark_demo
from tests import landing as hand


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PARTNER_HMAC_KEY_ENV, raising=False)
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)


@pytest.fixture
def demo(tiny_landing: Lakehouse, tmp_path: Path) -> Lakehouse:
    """A copy of the generated tiny lakehouse (a copy keeps sizes and modification times)."""
    shutil.copytree(tiny_landing.home, tmp_path / "demo")
    return Lakehouse.resolve(tmp_path / "demo")


def test_generated_lakehouse_runs_on_its_demo_keys(demo: Lakehouse, tiny_landing: Lakehouse) -> None:
    assert is_demo(demo)
    assert (
        get_key(demo, PARTNER_HMAC_KEY_ENV)
        == (tiny_landing.home / "secrets" / PARTNER_HMAC_KEY_ENV.lower()).read_bytes().strip()
    )


@pytest.mark.parametrize("change", ["added", "edited"])
def test_a_landing_file_not_from_the_generator_ends_demo_status(demo: Lakehouse, change: str) -> None:
    if change == "added":
        hand.write_day(demo.landing, date(2026, 11, 9))
    else:
        snapshot = next((demo.landing / "accounts").rglob("*.gz"))
        snapshot.write_bytes(snapshot.read_bytes() + b"\n")
    assert not is_demo(demo)
    with pytest.raises(
        DistillguardError,
        match=r"DISTILLGUARD_PARTNER_HMAC_KEY is not set; .* not written by the "
        r"generator or changed since",
    ):
        get_key(demo, PARTNER_HMAC_KEY_ENV)


def test_a_lakehouse_the_generator_did_not_create_refuses(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    landing = tmp_path / "home" / "landing"
    hand.build(landing, [date(2026, 11, 1)])
    code = pytest.raises(
        SystemExit, main, ["ingest", "--date", "2026-11-01", "--home", str(tmp_path / "home")]
    ).value.code
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "DISTILLGUARD_PARTNER_HMAC_KEY is not set" in err and "no DEMO_LAKEHOUSE marker" in err
    assert not (tmp_path / "home" / "tables").exists()
    with pytest.raises(DistillguardError, match="already holds data that the generator did not write"):
        mark_demo(Lakehouse.resolve(tmp_path / "home"))


def test_a_demo_pointed_at_another_landing_zone_refuses(demo: Lakehouse, tmp_path: Path) -> None:
    shutil.copytree(demo.landing, tmp_path / "elsewhere")
    moved = Lakehouse(home=demo.home, landing=tmp_path / "elsewhere")
    with pytest.raises(DistillguardError, match="not the generated landing"):
        get_key(moved, PSEUDONYM_KEY_ENV)
