"""``distillguard run daily --date D [--force]``: the daily DAG on one machine.

ingest (parse, then validate: the ingest job runs its own quality gates) -> features ->
score -> export -> report, in that order, each through the same job function the CLI
and the Databricks tasks call. A step already done for D is skipped; "done" means the run
ledger (distillguard/ledger.py) holds the step's row for D, written once the step returned
with every effect in place, and the step's own evidence is still there:

* ingest: a ``succeeded`` row for landing date D in the ingest-runs table;
* features: D's partition of the cluster features (the last table the job writes);
* score: flagged rows of D carrying a scoring run id whose MLflow run FINISHED (a day
  that flags nobody leaves no rows, so it is scored again: cheap, and the MERGE leaves
  nothing to change);
* export: a committed export of D whose manifest is on disk;
* report: ``<reports>/date=D/report.html``.

Once a step runs, every later step runs too (its input just changed); ``--force`` runs
them all. The first failure (``quality.GateFailed`` included) stops the DAG with one line
naming the step; later steps do not run and the failed job has written nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import ledger, locks, tables
from distillguard.config import Lakehouse, Table
from distillguard.enforcement import export as handoff
from distillguard.enforcement import report as pages
from distillguard.errors import DistillguardError
from distillguard.jobs import export, features, ingest, report

Results = dict[str, dict[str, Any]]


class StepFailed(DistillguardError):
    """A step of the DAG failed; the message names it and the cause."""


def _has_rows(spark: SparkSession, lakehouse: Lakehouse, table: Table, condition: Any) -> bool:
    return (
        tables.exists(lakehouse, table) and tables.read(spark, lakehouse, table).where(condition).limit(1).count() > 0
    )


def _ingest_done(spark: SparkSession, lakehouse: Lakehouse, day: date) -> bool:
    return _has_rows(
        spark, lakehouse, Table.INGEST_RUNS, (F.col("landing_date") == F.lit(day)) & (F.col("status") == "succeeded")
    )


def _ingest(spark: SparkSession, lakehouse: Lakehouse, day: date, results: Results) -> dict[str, Any]:
    return ingest.run(spark, lakehouse, day)


def features_done(spark: SparkSession, lakehouse: Lakehouse, day: date) -> bool:
    return _has_rows(spark, lakehouse, Table.ACCOUNT_CLUSTERS, F.col("feature_date") == F.lit(day))


def _features(spark: SparkSession, lakehouse: Lakehouse, day: date, results: Results) -> dict[str, Any]:
    return features.run(spark, lakehouse, day)


def _score_done(spark: SparkSession, lakehouse: Lakehouse, day: date) -> bool:
    """Flagged rows of ``day`` whose scoring MLflow run finished (a run killed after its
    MERGE leaves rows but a run that never ended: not done)."""
    if not tables.exists(lakehouse, Table.FLAGGED_ACCOUNTS):
        return False
    runs = {
        r.scoring_run_id
        for r in tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
        .where((F.col("flag_date") == F.lit(day)) & F.col("scoring_run_id").isNotNull())
        .select("scoring_run_id")
        .distinct()
        .collect()
    }
    if not runs:
        return False
    from distillguard.models import registry

    mlflow_client = registry.client(lakehouse)
    return all(mlflow_client.get_run(run_id).info.status == "FINISHED" for run_id in runs)


def _score(spark: SparkSession, lakehouse: Lakehouse, day: date, results: Results) -> dict[str, Any]:
    try:
        from distillguard.jobs import score
    except ModuleNotFoundError as missing:
        if missing.name != "distillguard.jobs.score":
            raise
        raise DistillguardError("the scoring job (distillguard.jobs.score) is not installed") from None
    return score.run(spark, lakehouse, day)


def _export_done(spark: SparkSession, lakehouse: Lakehouse, day: date) -> bool:
    return handoff.done(spark, lakehouse, day)


def _export(spark: SparkSession, lakehouse: Lakehouse, day: date, results: Results) -> dict[str, Any]:
    return export.run(spark, lakehouse, day)


def _report_done(spark: SparkSession, lakehouse: Lakehouse, day: date) -> bool:
    return pages.report_path(lakehouse, day).is_file()


def _report(spark: SparkSession, lakehouse: Lakehouse, day: date, results: Results) -> dict[str, Any]:
    """Attached to the scoring run that just ran, else to the one that scored the day."""
    run_id = results.get("score", {}).get("scoring_run_id") or pages.latest_scoring_run(spark, lakehouse, day)
    return report.run(spark, lakehouse, day, run_id)


def _describe(name: str, result: dict[str, Any]) -> str:
    if name == "ingest":
        return (
            f"{result['accepted']:,} accepted, {result['quarantined']:,} quarantined, "
            f"{result['gate_warnings']} gate warning(s)"
        )
    if name == "features":
        return f"daily {', '.join(result['daily_dates'])}; {len(result['window_dates'])} window date(s)"
    if name == "score":
        return f"{result['flagged']} flagged {result['by_tier']}, model version {result['model_version']}"
    if name == "export":
        return f"{result['export_id']} {result['status']}, {result['rows']} row(s) in {result['folder']}"
    return str(result["path"])


@dataclass(frozen=True)
class Step:
    name: str
    done: Callable[[SparkSession, Lakehouse, date], bool]
    run: Callable[[SparkSession, Lakehouse, date, Results], dict[str, Any]]


STEPS = (
    Step("ingest", _ingest_done, _ingest),
    Step("features", features_done, _features),
    Step("score", _score_done, _score),
    Step("export", _export_done, _export),
    Step("report", _report_done, _report),
)
STEP_NAMES = tuple(step.name for step in STEPS)


def run(
    spark: SparkSession,
    lakehouse: Lakehouse,
    day: date,
    force: bool = False,
    steps: Sequence[str] = STEP_NAMES,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run ``steps`` (in DAG order) for ``day``; returns one outcome per step."""
    unknown = sorted(set(steps) - set(STEP_NAMES))
    if unknown:
        raise DistillguardError(f"unknown step(s) {', '.join(unknown)}; steps are {', '.join(STEP_NAMES)}")
    outcomes: list[dict[str, Any]] = []
    results: Results = {}
    stale = force
    for step in (s for s in STEPS if s.name in steps):
        if not stale and ledger.done(lakehouse, step.name, day) and step.done(spark, lakehouse, day):
            outcomes.append({"step": step.name, "status": "skipped", "detail": "already done"})
            echo(f"daily {day}: {step.name:8} skipped (already done)")
            continue
        echo(f"daily {day}: {step.name:8} running ...")
        started = time.perf_counter()
        try:
            with locks.hold(lakehouse, step.name, day):
                results[step.name] = step.run(spark, lakehouse, day, results)
                ledger.record(
                    lakehouse,
                    step.name,
                    day,
                    time.perf_counter() - started,
                    {"detail": _describe(step.name, results[step.name])},
                )
        except DistillguardError as error:
            raise StepFailed(f"daily {day} stopped at {step.name}: {error} (later steps not run)") from error
        stale = True
        detail = _describe(step.name, results[step.name])
        outcomes.append(
            {
                "step": step.name,
                "status": "ran",
                "seconds": round(time.perf_counter() - started, 1),
                "detail": detail,
                "result": results[step.name],
            }
        )
        echo(f"daily {day}: {step.name:8} done in {outcomes[-1]['seconds']}s: {detail}")
    return outcomes
