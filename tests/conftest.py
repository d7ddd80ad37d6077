"""Shared fixtures: the embedded Sail engine, real Apache Spark, and throwaway lakehouses.

``engine`` is the conformance fixture: a test that takes it runs once on Sail and once
on Apache Spark (Spark Connect over ``local[2]``) and asserts the same hand-computed
values on both, so transformations are known to be Spark code, not only Sail code.
Delta I/O is tested on Sail only (the Delta jars cannot be downloaded here).
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

from distillguard.config import Lakehouse  # noqa: E402
from distillguard.engine import configure, start_sail  # noqa: E402

ENGINES = ("sail", "spark")


@pytest.fixture(scope="session")
def sail() -> SparkSession:
    """A session on the embedded Sail server (the production default)."""
    return configure(SparkSession.builder.remote(start_sail()).create())


@pytest.fixture(scope="session")
def apache_spark(sail: SparkSession) -> SparkSession:
    """Real Apache Spark through its bundled Spark Connect server (started after Sail,
    since pyspark allows only one ``local`` session per process and makes it default)."""
    spark = SparkSession.builder.remote("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    return configure(spark)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> SparkSession:
    """Conformance: the test body runs on Sail and on Apache Spark."""
    request.applymarker(pytest.mark.conformance)
    return request.getfixturevalue("sail" if request.param == "sail" else "apache_spark")


@pytest.fixture
def lakehouse(tmp_path: Path) -> Lakehouse:
    return Lakehouse.resolve(tmp_path / "lakehouse")


@pytest.fixture(scope="session")
def tiny_landing(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The generator's tiny scenario (3 days, seed 7), written once per test session."""
    from distillguard.synthetic.generate import generate

    home = Lakehouse.resolve(tmp_path_factory.mktemp("tiny") / "lakehouse")
    generate(home, "tiny", date(2026, 11, 1), 3, 7, progress=False)
    return home
