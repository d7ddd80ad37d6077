"""Engine selection: active session, SPARK_REMOTE, else embedded Sail; all Spark Connect."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql.connect.session import SparkSession as ConnectSession

from distillguard import engine


def test_spark_remote_url_is_used(monkeypatch, sail: SparkSession) -> None:
    url = engine.start_sail()
    monkeypatch.setattr(engine, "_active_session", lambda: None)
    monkeypatch.setenv(engine.REMOTE_ENV, url)
    spark = engine.get_spark()
    assert isinstance(spark, ConnectSession)
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sql("select 6 * 7 as answer").first().answer == 42
    assert engine.engine_name(spark) == f"spark-connect:{url}"


def test_embedded_sail_starts_once_on_a_loopback_port() -> None:
    first, second = engine.start_sail(), engine.start_sail()
    assert first == second
    assert first.startswith("sc://127.0.0.1:")
    assert int(first.rsplit(":", 1)[1]) > 0


def test_active_session_wins(sail: SparkSession, monkeypatch) -> None:
    monkeypatch.delenv(engine.REMOTE_ENV, raising=False)
    monkeypatch.setattr(engine, "_active_session", lambda: sail)
    assert engine.get_spark() is sail
