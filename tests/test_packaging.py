"""The wheel the bundle deploys: built with the bundle's own command, it carries the entry
point, the job modules and the GX suites, and it does not pull Spark (installing pyspark on
a Databricks runtime replaces the cluster's own); the local engine is the `local` extra."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# What the wheel build needs; everything else in the tree (venv, lakehouse, tests) stays out.
SOURCES = (
    "pyproject.toml",
    "README.md",
    "distillguard",
    "synthetic",
    "ingest",
    "features",
    "models",
    "scoring",
    "enforcement",
    "jobs",
    "expectations",
)
SPARK_SIDE = {"pyspark", "pysail", "delta-spark"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle's own build command, on a copy of the sources (the tree is left untouched)."""
    command = yaml.safe_load((ROOT / "databricks.yml").read_text())["artifacts"]["distillguard_wheel"]["build"]
    assert command == "python -m pip wheel --no-deps --wheel-dir dist ."
    source = tmp_path_factory.mktemp("wheel") / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", "dist", "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = list((source / "dist").glob("distillguard-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_wheel_requires_no_spark(wheel: Path) -> None:
    requirements = [Requirement(line) for line in _metadata(wheel).get_all("Requires-Dist")]
    base = [r for r in requirements if r.marker is None]
    local = [r for r in requirements if r.marker is not None and r.marker.evaluate({"extra": "local"})]
    assert {_canonical(r.name) for r in base} == {
        "great-expectations",
        "deltalake",
        "mlflow",
        "pandas",
        "numpy",
        "pyarrow",
        "isal",
        "lightgbm",
        "scikit-learn",
        "threadpoolctl",
        "matplotlib",
        "tqdm",
    }
    assert not SPARK_SIDE & {_canonical(r.name) for r in base}
    assert all(not r.extras for r in base), "an extra such as great-expectations[spark] pulls pyspark"
    assert {(_canonical(r.name), tuple(sorted(r.extras))) for r in local} == {
        ("pyspark", ("connect",)),
        ("pysail", ()),
        ("delta-spark", ()),
        ("great-expectations", ("spark",)),
    }
    pyspark = next(r for r in local if _canonical(r.name) == "pyspark")
    assert pyspark.specifier.contains("4.1.4") and not pyspark.specifier.contains("4.2.0")


def test_requires_python_is_the_floor_of_the_dependencies(wheel: Path) -> None:
    """mlflow >= 3.4 needs Python 3.10; nothing caps the top."""
    assert _metadata(wheel)["Requires-Python"] == ">=3.10"
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == "py310"


def test_wheel_has_entry_point_job_modules_and_suites(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text and "distillguard = distillguard.cli:main" in text.splitlines()
    assert {
        f"distillguard/jobs/{job}.py" for job in ("ingest", "features", "score", "export", "train", "daily")
    } <= names
    assert {"distillguard/cli.py", "distillguard/logs.py", "distillguard/tables.py"} <= names
    suites = {f"distillguard/expectations/{p.name}" for p in (ROOT / "expectations").glob("*.json")}
    assert "distillguard/expectations/flagged_accounts.json" in suites and suites <= names
    assert not any(n.startswith(("tests/", "lakehouse/")) for n in names)
