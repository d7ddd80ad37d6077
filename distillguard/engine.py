"""The one place a job gets its SparkSession: always a Spark Connect session.

Order: the session already active (Databricks, spark-submit, a notebook), then the
Spark Connect URL in ``SPARK_REMOTE``, then an embedded Sail server started in-process on
a free loopback port and stopped at interpreter exit. Jobs use only the DataFrame/SQL
API that Spark Connect supports, so the same code runs on all three.
"""

from __future__ import annotations

import atexit
import os
import threading

from pyspark.sql import SparkSession

REMOTE_ENV = "SPARK_REMOTE"
SESSION_CONF = {
    # Every timestamp in the contract is UTC; event dates must not move with the host.
    "spark.sql.session.timeZone": "UTC",
}

_lock = threading.Lock()
_sail_server = None


def _active_session() -> SparkSession | None:
    """The session a platform already started, classic or Connect, if any."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return SparkSession.builder.getOrCreate()
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    return ConnectSession.getActiveSession() or SparkSession.getActiveSession()


def start_sail() -> str:
    """Start (once per process) the embedded Sail server; return its ``sc://`` URL."""
    global _sail_server
    with _lock:
        if _sail_server is None:
            from pysail.spark import SparkConnectServer

            os.environ.setdefault("RUST_LOG", "error")
            server = SparkConnectServer(ip="127.0.0.1", port=0)
            server.start(background=True)
            atexit.register(server.stop)
            _sail_server = server
        host, port = _sail_server.listening_address
        return f"sc://{host}:{port}"


def configure(spark: SparkSession) -> SparkSession:
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    return spark


def get_spark() -> SparkSession:
    """The session for every job; see the module docstring for the order."""
    active = _active_session()
    if active is not None:
        return configure(active)
    url = os.environ.get(REMOTE_ENV) or start_sail()
    return configure(SparkSession.builder.remote(url).getOrCreate())


def engine_name(spark: SparkSession) -> str:
    """Human label for logs and MLflow params."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "databricks"
    if os.environ.get(REMOTE_ENV):
        return f"spark-connect:{os.environ[REMOTE_ENV]}"
    return "sail" if _sail_server is not None else "spark"
