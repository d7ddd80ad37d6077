"""``distillguard report --date D``: the daily HTML report (what it shows: enforcement/report.py).

read (the flagged table at a pinned version, the allow-list, export runs, the PR curve
from MLflow) -> transform (tier history, clusters, allow-listed accounts withheld,
figures) -> write (``<reports>/date=D/report.html``, atomically) -> record (attached to
the scoring run in MLflow when a run id is given).
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from mlflow.exceptions import MlflowException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.enforcement import allow_list
from distillguard.enforcement import report as pages
from distillguard.enforcement.flags import CLUSTER_SPEND
from distillguard.errors import DistillguardError
from distillguard.scoring.policy import TIERS


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
    history = (flagged.where(exported & F.col("flag_date").between(
        F.lit(day - timedelta(days=pages.HISTORY_DAYS - 1)), F.lit(day)))
        .groupBy("flag_date", "risk_tier").count().toPandas())
    day_rows = (flagged.where(F.col("flag_date") == F.lit(day))
                .select("account_id", "score", "risk_tier", "cluster_id", "cluster_size", CLUSTER_SPEND,
                        "model_version", "model_run_id", "scoring_run_id", exported.alias("exported")).toPandas())
    today, held = day_rows[day_rows["exported"]], day_rows[~day_rows["exported"]]
    withheld = pages.allow_listed(held, allow_list.active_on(spark, lakehouse, day).toPandas())
    clusters = pages.top_clusters(today)
    by_tier = {tier: int((today["risk_tier"] == tier).sum()) for tier in TIERS}
    summary = {"flag date": day.isoformat(), "flagged accounts": len(today),
               **{f"tier {tier}": count for tier, count in by_tier.items()},
               "allow-listed, not exported": len(held),
               "model version(s)": ", ".join(sorted(set(day_rows["model_version"].dropna()))) or "none",
               "scoring run(s)": ", ".join(sorted(set(day_rows["scoring_run_id"].dropna()))) or "none",
               "flagged table version": version,
               "generated at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    figures = {"tiers": pages.png(pages.tier_history(history, day)), "scores": pages.png(pages.score_distribution(today)),
               "clusters": pages.png(pages.cluster_spend(clusters))}
    pr_curve = pages.pr_curve(client, day_rows)
    page = pages.render(day, summary, figures, clusters, pages.exports(spark, lakehouse, day), withheld, pr_curve,
                        lakehouse.exports / f"date={day.isoformat()}")
    path = pages.report_path(lakehouse, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temp.write_text(page)
    os.replace(temp, path)
    if run_id is not None:
        client.log_artifact(run_id, str(path), pages.REPORT_ARTIFACT_DIR)
    return {"path": path, "flagged": len(today), "by_tier": by_tier, "allow_listed": len(held),
            "pr_curve": pr_curve[0] is not None, "mlflow_run_id": run_id}
