"""Engine selection: active session, SPARK_REMOTE, else embedded Sail (local or local-cluster)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.connect.session import SparkSession as ConnectSession

from distillguard import engine
from distillguard.errors import DistillguardError
from distillguard.ingest.common import not_a_json_object


def test_spark_remote_url_is_used(monkeypatch, sail: SparkSession) -> None:
    url = engine.start_sail()
    monkeypatch.setattr(engine, "_active_session", lambda: None)
    monkeypatch.setenv(engine.REMOTE_ENV, url)
    spark = engine.get_spark()
    assert isinstance(spark, ConnectSession)
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sql("select 6 * 7 as answer").first().answer == 42
    assert engine.engine_name(spark) == f"spark-connect:{url}"


def test_embedded_sail_starts_once_on_a_loopback_port(monkeypatch) -> None:
    monkeypatch.delenv(engine.MODE_ENV, raising=False)
    first, second = engine.start_sail(), engine.start_sail("local")
    assert first == second
    assert first.startswith("sc://127.0.0.1:")
    assert int(first.rsplit(":", 1)[1]) > 0


def test_active_session_wins(sail: SparkSession, monkeypatch) -> None:
    monkeypatch.delenv(engine.REMOTE_ENV, raising=False)
    monkeypatch.setattr(engine, "_active_session", lambda: sail)
    assert engine.get_spark() is sail


def test_each_mode_gets_its_own_server(sail: SparkSession, sail_cluster: SparkSession, monkeypatch) -> None:
    monkeypatch.delenv(engine.MODE_ENV, raising=False)
    assert engine.start_sail("local-cluster") != engine.start_sail("local")
    assert os.environ.get(engine.MODE_ENV) is None  # set only while the server was created
    assert engine.engine_name(sail) == "sail" and engine.engine_name(sail_cluster) == "sail-local-cluster"
    assert not engine.distributed_sail(sail) and engine.distributed_sail(sail_cluster)


def test_mode_comes_from_the_environment_and_is_checked(monkeypatch) -> None:
    monkeypatch.setenv(engine.MODE_ENV, "local-cluster")
    assert engine.sail_mode() == "local-cluster" and engine.sail_mode("local") == "local"
    monkeypatch.setenv(engine.MODE_ENV, "cluster")
    with pytest.raises(
        DistillguardError,
        match=r"^unknown Sail mode 'cluster' \(SAIL_MODE or --mode\): use one of "
        r"local, local-cluster, kubernetes-cluster$",
    ):
        engine.sail_mode()


def test_mode_option_is_refused_with_a_remote_session(monkeypatch) -> None:
    monkeypatch.setattr(engine, "_active_session", lambda: None)
    monkeypatch.setenv(engine.REMOTE_ENV, "sc://spark.example:15002")
    with pytest.raises(
        DistillguardError,
        match=r"^--mode local-cluster applies to the embedded Sail engine, but the "
        r"session comes from SPARK_REMOTE=sc://spark.example:15002",
    ):
        engine.get_spark("local-cluster")


def test_write_barrier_only_in_cluster_mode(sail: SparkSession, sail_cluster: SparkSession, tmp_path: Path) -> None:
    """A lower() computed in the stage that writes Delta: fine in local mode without a
    barrier, and in local-cluster mode only behind the barrier (gap 2)."""
    for spark in (sail, sail_cluster):
        df = spark.createDataFrame([("Ab",), ("CD",)], ["s"]).select(F.lower("s").alias("s"))
        engine.write_barrier(df).write.format("delta").save(str(tmp_path / engine.engine_name(spark)))
        assert sorted(
            r.s for r in spark.read.format("delta").load(str(tmp_path / engine.engine_name(spark))).collect()
        ) == ["ab", "cd"]
    assert engine.write_barrier(df) is not df
    local = sail.createDataFrame([("Ab",)], ["s"])
    assert engine.write_barrier(local) is local


LINES = [
    ('{"a":1,"b":{"c":[1,2]}}', False),
    ("{}", False),
    (' { "k" : "v" } ', False),
    ('{"a":null}', False),
    ('{"a":1.5e3,"b":true}', False),
    ("[1]", True),
    ("null", True),
    ('{"a":', True),
    ('{"a":1} trailing', True),
    ('{"a":tru}', True),
    ('"str"', True),
    ("", True),
    ("{a:1}", True),
]


def _malformed(spark: SparkSession) -> list[tuple[str, bool]]:
    df = spark.createDataFrame(LINES, "line string, expected boolean")
    return [
        (r.line, r.malformed) for r in df.select("line", not_a_json_object(F.col("line")).alias("malformed")).collect()
    ]


def test_not_a_json_object(engine: SparkSession) -> None:
    assert _malformed(engine) == [(line, expected) for line, expected in LINES]


def test_not_a_json_object_in_local_cluster_mode(sail_cluster: SparkSession) -> None:
    assert _malformed(sail_cluster) == [(line, expected) for line, expected in LINES]


def test_known_cluster_gaps_still_exist(sail: SparkSession, sail_cluster: SparkSession, tmp_path: Path) -> None:
    """The reproductions of docs/engine-compat.md: they work in local mode and fail in
    local-cluster mode. When an upgrade fixes one, this fails: drop its workaround."""

    def gaps(spark: SparkSession) -> list[str]:
        df = spark.createDataFrame([('{"a": 1}',)], ["s"])
        failed = []
        for name, action in (
            ("json_object_keys", lambda: df.select(F.json_object_keys("s")).collect()),
            (
                "lower in a Delta write",
                lambda: df.select(F.lower("s")).write.format("delta").save(str(tmp_path / engine.engine_name(spark))),
            ),
        ):
            try:
                action()
            except PySparkException as error:
                assert "no UDF found for" in str(error), str(error)
                failed.append(name)
        return failed

    assert gaps(sail) == []
    assert gaps(sail_cluster) == ["json_object_keys", "lower in a Delta write"]
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_demo_mode_option(monkeypatch, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from distillguard.cli import main

    with pytest.raises(SystemExit):
        main(["--home", str(tmp_path / "demo"), "demo", "--mode", "cluster"])
    assert "invalid choice: 'cluster'" in capsys.readouterr().err
    monkeypatch.setattr(engine, "_active_session", lambda: None)
    monkeypatch.setenv(engine.REMOTE_ENV, "sc://spark.example:15002")
    assert (
        pytest.raises(
            SystemExit, main, ["--home", str(tmp_path / "demo"), "demo", "--mode", "local-cluster"]
        ).value.code
        == 2
    )
    assert capsys.readouterr().err.strip() == (
        "distillguard: error: --mode local-cluster applies to the embedded Sail engine, but the session comes from "
        "SPARK_REMOTE=sc://spark.example:15002; set the mode on that server, or unset SPARK_REMOTE"
    )
    assert not (tmp_path / "demo").exists()
