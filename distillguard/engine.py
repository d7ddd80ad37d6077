"""The one place a job gets its SparkSession: always a Spark Connect session.

Order: the session already active (Databricks, spark-submit, a notebook), then the
Spark Connect URL in ``SPARK_REMOTE``, then an embedded Sail server started in-process on
a free loopback port and stopped at interpreter exit. Jobs use only the DataFrame/SQL
API that Spark Connect supports, so the same code runs on all three.

The embedded server runs in the mode named by ``SAIL_MODE`` (Sail's own setting, read by
Sail from the environment when a server is created): ``local`` (default: one process,
threads) or ``local-cluster`` (a driver and worker actors in this process that exchange
stages and shuffles over RPC: the execution Sail runs on Kubernetes, where the mode is
``kubernetes-cluster``; see docs/deploy.md). Each mode gets its own server, so one process
(the test suite) can compare both. Other ``SAIL_*`` settings (e.g.
``SAIL_CLUSTER__WORKER_INITIAL_COUNT``) reach Sail the same way.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from distillguard.errors import DistillguardError, UsageError

REMOTE_ENV = "SPARK_REMOTE"
MODE_ENV = "SAIL_MODE"
PARALLELISM_ENV = "SAIL_EXECUTION__DEFAULT_PARALLELISM"
LOCAL, LOCAL_CLUSTER, KUBERNETES_CLUSTER = "local", "local-cluster", "kubernetes-cluster"
# What an embedded server can run as; kubernetes-cluster needs the pod environment of deploy/.
SAIL_MODES = (LOCAL, LOCAL_CLUSTER, KUBERNETES_CLUSTER)
SESSION_CONF = {
    # Every timestamp in the contract is UTC; event dates must not move with the host.
    "spark.sql.session.timeZone": "UTC",
}

_lock = threading.Lock()
_sail_servers: dict[str, Any] = {}


def _active_session() -> SparkSession | None:
    """The session a platform already started, classic or Connect, if any."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return SparkSession.builder.getOrCreate()
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    return ConnectSession.getActiveSession() or SparkSession.getActiveSession()


def sail_mode(mode: str | None = None) -> str:
    """``mode``, else ``SAIL_MODE``, else local; an unknown name is a one-line error."""
    chosen = mode or os.environ.get(MODE_ENV) or LOCAL
    if chosen not in SAIL_MODES:
        raise DistillguardError(
            f"unknown Sail mode {chosen!r} ({MODE_ENV} or --mode): use one of {', '.join(SAIL_MODES)}"
        )
    return chosen


def start_sail(mode: str | None = None) -> str:
    """Start (once per process and mode) an embedded Sail server; return its ``sc://`` URL."""
    mode = sail_mode(mode)
    with _lock:
        if mode not in _sail_servers:
            from pysail.spark import SparkConnectServer

            os.environ.setdefault("RUST_LOG", "error")
            # Sail reads its settings from the environment when the server is created.
            previous = os.environ.get(MODE_ENV)
            os.environ[MODE_ENV] = mode
            try:
                server = SparkConnectServer(ip="127.0.0.1", port=0)
            finally:
                if previous is None:
                    del os.environ[MODE_ENV]
                else:
                    os.environ[MODE_ENV] = previous
            server.start(background=True)
            atexit.register(server.stop)
            _sail_servers[mode] = server
        host, port = _sail_servers[mode].listening_address
        return f"sc://{host}:{port}"


def configure(spark: SparkSession) -> SparkSession:
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    return spark


def get_spark(mode: str | None = None) -> SparkSession:
    """The session for every job; see the module docstring for the order.

    ``mode`` (the CLI's ``--mode``) picks the embedded Sail server's mode; it is refused when
    the session comes from elsewhere, since it could not take effect.
    """
    active = _active_session()
    remote = os.environ.get(REMOTE_ENV)
    if mode is not None and (active is not None or remote):
        where = "an active session" if active is not None else f"{REMOTE_ENV}={remote}"
        raise UsageError(
            f"--mode {mode} applies to the embedded Sail engine, but the session comes from "
            f"{where}; set the mode on that server, or unset {REMOTE_ENV}"
        )
    if active is not None:
        return configure(active)
    url = remote or start_sail(mode)
    return configure(SparkSession.builder.remote(url).getOrCreate())


def _endpoint(spark: SparkSession) -> str | None:
    """``host:port`` of a Spark Connect session (None for a classic session)."""
    return getattr(getattr(getattr(spark, "client", None), "_builder", None), "endpoint", None)


def engine_name(spark: SparkSession) -> str:
    """Human label for logs and MLflow params: ``sail``, ``sail-local-cluster``, ..."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "databricks"
    if os.environ.get(REMOTE_ENV):
        return f"spark-connect:{os.environ[REMOTE_ENV]}"
    endpoint = _endpoint(spark)
    for mode, server in list(_sail_servers.items()):
        host, port = server.listening_address
        if endpoint == f"{host}:{port}":
            return "sail" if mode == LOCAL else f"sail-{mode}"
    return "spark"


def distributed_sail(spark: SparkSession) -> bool:
    """True on an embedded Sail server in a cluster mode, or when ``SAIL_MODE`` declares
    that the ``SPARK_REMOTE`` server is one (set it next to SPARK_REMOTE: docs/deploy.md)."""
    endpoint = _endpoint(spark)
    for mode, server in list(_sail_servers.items()):
        host, port = server.listening_address
        if endpoint == f"{host}:{port}":
            return mode != LOCAL
    return os.environ.get(MODE_ENV, LOCAL) != LOCAL


def parallelism() -> int:
    """Tasks to spread rows over: Sail's default parallelism when set, else this machine's cores."""
    return int(os.environ.get(PARALLELISM_ENV) or os.cpu_count() or 1)


def write_barrier(df: DataFrame) -> DataFrame:
    """``df`` with a round-robin shuffle in front of a Delta write in Sail's cluster modes.

    There, a stage that writes Delta (append or plain overwrite) fails to ship most
    built-in functions to the workers (``ExtendedScalarUdf: no UDF found for lower``, see
    docs/engine-compat.md); after the shuffle the writing stage only reads shuffled rows.
    Elsewhere ``df`` is returned unchanged (no extra shuffle on Spark or local Sail).
    """
    if not distributed_sail(df.sparkSession):
        return df
    return df.repartition(parallelism())
