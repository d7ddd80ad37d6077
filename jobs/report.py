"""``distillguard report --date D``: the daily HTML report (what it shows: enforcement/report.py).

read (the flagged table at a pinned version, the allow-list, export runs, the PR curve
from MLflow) -> transform (tier history, clusters, allow-listed accounts withheld,
figures) -> write (``<reports>/date=D/report.html``, atomically) -> record (attached to
the scoring run in MLflow when a run id is given).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from mlflow.exceptions import MlflowException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.enforcement import allow_list
from distillguard.enforcement import export as handoff
from distillguard.enforcement import report as pages
from distillguard.errors import DistillguardError


def run(spark: SparkSession, lakehouse: Lakehouse, day: date, run_id: str | None = None) -> dict[str, Any]:
    """Write the report of ``day``; with ``run_id`` (an MLflow run, the scoring run) also log it there."""
    if not tables.exists(lakehouse, Table.FLAGGED_ACCOUNTS):
        raise DistillguardError(f"no flagged accounts yet; run `distillguard score --date {day}` first")
    client = pages.mlflow_client(lakehouse)
    if run_id is not None:
        if client is None:
            raise DistillguardError(f"cannot log the report to MLflow run {run_id}: no MLflow store")
        try:
            client.get_run(run_id)
        except MlflowException:
            raise DistillguardError(f"no MLflow run {run_id} to attach the report to") from None
    version = tables.version(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
    flagged = tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS, version)
    exported = ~F.coalesce(F.col("allow_listed"), F.lit(False))
    history = (
        flagged.where(
            exported & F.col("flag_date").between(F.lit(day - timedelta(days=pages.HISTORY_DAYS - 1)), F.lit(day))
        )
        .groupBy("flag_date", "risk_tier")
        .count()
        .toPandas()
    )
    view = pages.day_view(flagged.where(F.col("flag_date") == F.lit(day)))
    withheld = pages.allow_listed(view.held, allow_list.active_on(spark, lakehouse, day).toPandas())
    summary = {
        "flag date": day.isoformat(),
        "flagged accounts": view.flagged,
        **{f"tier {tier}": count for tier, count in view.by_tier.items()},
        "allow-listed, not exported": len(view.held),
        "model version(s)": ", ".join(view.model_versions) or "none",
        "scoring run(s)": ", ".join(view.scoring_runs) or "none",
        "flagged table version": version,
        "generated at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    figures = {
        "tiers": pages.png(pages.tier_history(history, day)),
        "scores": pages.png(pages.score_distribution(view.histogram)),
        "clusters": pages.png(pages.cluster_spend(view.clusters)),
    }
    pr_curve = pages.pr_curve(client, view.model_runs)
    page = pages.render(
        day,
        summary,
        figures,
        view.clusters,
        pages.exports(spark, lakehouse, day),
        withheld,
        pr_curve,
        lakehouse.exports / f"date={day.isoformat()}",
    )
    path = pages.report_path(lakehouse, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    handoff.atomic_write(path, page.encode())
    if run_id is not None:
        client.log_artifact(run_id, str(path), pages.REPORT_ARTIFACT_DIR)
    return {
        "path": path,
        "flagged": view.flagged,
        "by_tier": view.by_tier,
        "allow_listed": len(view.held),
        "pr_curve": pr_curve[0] is not None,
        "mlflow_run_id": run_id,
    }
