"""Shared fixtures: the embedded Sail engine, real Apache Spark, and throwaway lakehouses.

``engine`` is the conformance fixture: a test that takes it runs once on Sail and once
on Apache Spark and asserts the same hand-computed values on both, so transformations
are known to be Spark code, not only Sail code. Apache Spark runs as the Spark Connect
server that ships in the pyspark package, on ``local[2]``, in its own process on a free
loopback port (``remote("local[2]")`` would pin port 15002, so two test runs on one
machine would collide). Delta I/O is tested on Sail only (no Delta jars here).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyspark
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def apache_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """Real Apache Spark (local[2]) behind its own Spark Connect server process."""
    spark_home = Path(pyspark.__file__).parent
    port = _free_port()
    log = tmp_path_factory.mktemp("spark") / "connect-server.log"
    server = subprocess.Popen(
        [
            str(spark_home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "local[2]",
            "--driver-memory",
            "2g",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.session.timeZone=UTC",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "spark-internal",
        ],
        env={**os.environ, "SPARK_HOME": str(spark_home)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"Spark Connect server did not start; see {log}") from None
            time.sleep(0.5)
    spark = configure(SparkSession.builder.remote(f"sc://127.0.0.1:{port}").create())
    yield spark
    spark.stop()
    server.terminate()
    server.wait(timeout=60)


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


@pytest.fixture(scope="session")
def sail_cluster() -> SparkSession:
    """A session on an embedded Sail server in ``local-cluster`` mode: a driver and worker
    actors in this process that ship stages and shuffles over RPC (Sail's distributed execution)."""
    return configure(SparkSession.builder.remote(start_sail("local-cluster")).create())
