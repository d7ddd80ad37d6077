"""``distillguard demo``: the whole pipeline on the synthetic demo scenario, on one machine.

generate the ``demo`` scale (28 days) -> ingest every day -> features of every day (one
backfill) -> train and the promotion gate -> load the generator's agreements into the
allow-list -> score, export and report the last day(s).
Resumable: generation counts as done once its ground truth summary exists (written
last), ingested days and built feature dates are skipped (jobs/daily.py), so an
interrupted demo picks up where it stopped. Training runs only while no champion exists.
When the promotion gate refuses the demo's model, the demo still needs a champion to score:
it promotes the version with actor ``demo`` and a recorded ``DEMO OVERRIDE`` reason, and
prints a banner saying the gate refused (``distillguard train`` would exit non-zero).
``distillguard demo --mode local-cluster`` (or ``SAIL_MODE``) runs it on Sail's distributed
execution; it flags the same accounts (tests/test_distributed.py).

It refuses a lakehouse holding anything that is not a demo lakehouse (the generator's
marker, ``distillguard.secrets.is_demo``): the demo runs on random demo keys, which must
never touch real data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard import ledger, locks, tables
from distillguard.config import TRAINING, Lakehouse, Table, TrainingSettings
from distillguard.enforcement import allow_list
from distillguard.enforcement import export as handoff
from distillguard.enforcement import report as pages
from distillguard.errors import DistillguardError
from distillguard.jobs import daily, features, ingest
from distillguard.secrets import DEMO_MARKER, is_demo

SCALE = "demo"
# Who promotes a gate-refused model in the demo (and only there): recorded on the version.
DEMO_ACTOR = "demo"
START = date(2026, 11, 1)
# Folder dates per ingest run: the whole demo range at once (28 days, ~2.2 M lines; the
# parse is staged as parquet, and only keys and aggregates reach the driver).
INGEST_BATCH_DAYS = 28


def _holds_data(lakehouse: Lakehouse) -> bool:
    """Anything but lock files: a job refused on an empty home leaves only its lock."""
    return lakehouse.home.is_dir() and any(path.name != locks.FOLDER for path in lakehouse.home.iterdir())


def check_lakehouse(lakehouse: Lakehouse) -> None:
    """Refuse a lakehouse that holds data and is not marked as a demo."""
    landing = lakehouse.landing
    if not landing.is_relative_to(lakehouse.home) and landing.is_dir() and any(landing.iterdir()):
        raise DistillguardError(
            f"the demo writes its own landing zone under {lakehouse.home}; "
            f"{landing} holds data: do not pass --landing to the demo"
        )
    if _holds_data(lakehouse) and not is_demo(lakehouse):
        raise DistillguardError(
            f"{lakehouse.home} holds data and is not a demo lakehouse (no {DEMO_MARKER} "
            "marker); the demo only runs in an empty folder or an earlier demo: pass --home NEW_DIR"
        )


def _generated(lakehouse: Lakehouse) -> dict[str, Any] | None:
    summary = lakehouse.truth / "faults.json"
    return json.loads(summary.read_text()) if summary.is_file() else None


def _train(
    spark: SparkSession, lakehouse: Lakehouse, as_of: date, echo: Callable[[str], None], settings: TrainingSettings
) -> str:
    """Train once and apply the promotion gate; returns the champion version."""
    from distillguard.jobs import train
    from distillguard.models import registry

    current = registry.champion(registry.client(lakehouse))
    if current is not None:
        echo(f"demo: champion version {current.version} already registered; not retraining")
        return current.version
    echo(f"demo: training as of {as_of} ...")
    result = train.run(spark, lakehouse, as_of=as_of, settings=settings, truth=lakehouse.truth / "accounts.parquet")
    echo(f"demo: version {result['version']} {result['decision']} ({result['reason']})")
    echo(f"demo: training report {result['report']}")
    if result["decision"] == "refused":
        # The demo needs a champion to score; production never does this (the CLI exits non-zero).
        reason = (
            f"DEMO OVERRIDE: the promotion gate refused this version ({result['reason']}); promoted by the "
            "demo only so that the synthetic scenario can be scored"
        )
        registry.promote(registry.client(lakehouse), result["version"], reason, actor=DEMO_ACTOR)
        banner = "!" * 100
        echo(
            f"{banner}\ndemo: THE PROMOTION GATE REFUSED version {result['version']}: {result['reason']}\n"
            f"demo: promoted anyway by actor '{DEMO_ACTOR}' (recorded on the version as promotion_reason) so the "
            f"demo can score; a real retrain would stop here\n{banner}"
        )
    elif result["decision"] != "promoted":
        raise DistillguardError(f"version {result['version']} was not promoted ({result['reason']})")
    return result["version"]


def _ingest(spark: SparkSession, lakehouse: Lakehouse, days: list[date], echo: Callable[[str], None]) -> None:
    """Ingest the generated dates in runs of ``INGEST_BATCH_DAYS`` folder dates (days already
    ingested are skipped), each date recorded in the ledger as ``daily`` records it."""
    for first in range(0, len(days), INGEST_BATCH_DAYS):
        batch = days[first : first + INGEST_BATCH_DAYS]
        echo(f"demo: ingest {batch[0]}..{batch[-1]} ...")
        started = time.perf_counter()
        result = ingest.run_range(spark, lakehouse, batch[0], batch[-1])
        seconds = time.perf_counter() - started
        for row in result["runs"]:
            detail = (
                f"{row['accepted']:,} accepted, {row['quarantined']:,} quarantined, "
                f"{row['gate_warnings']} gate warning(s)"
            )
            ledger.record(lakehouse, "ingest", row["landing_date"], seconds / len(result["runs"]), {"detail": detail})
        skipped = f", {len(result['skipped'])} already ingested" if result["skipped"] else ""
        echo(f"demo: ingested {len(result['runs'])} date(s) in {seconds:.1f}s{skipped}")


def run(
    spark: SparkSession,
    lakehouse: Lakehouse,
    days: int | None = None,
    seed: int = 7,
    scored_days: int = 1,
    echo: Callable[[str], None] = print,
    scale: str = SCALE,
    settings: TrainingSettings = TRAINING,
) -> dict[str, Any]:
    """Generate (once), build every day, train, then score, export and report the last ``scored_days``.

    ``scale`` and ``settings`` let the engine-parity test run the same DAG at the tiny scale."""
    check_lakehouse(lakehouse)
    summary = _generated(lakehouse)
    if summary is None:
        from distillguard.synthetic.generate import generate

        echo(f"demo: generating the {scale} scenario into {lakehouse.landing} ...")
        # A generation cut short left folders but no summary: start it again from scratch.
        generate(lakehouse, scale, START, days, seed, overwrite=True, progress=True)
        summary = _generated(lakehouse)
    else:
        echo(f"demo: landing zone already generated ({summary['days']} days from {summary['start']})")
    start = date.fromisoformat(summary["start"])
    all_days = [start + timedelta(days=i) for i in range(summary["days"])]
    _ingest(spark, lakehouse, all_days, echo)
    pending = [day for day in all_days if not daily.features_done(spark, lakehouse, day)]
    if pending:
        from distillguard.models import intent

        started = time.perf_counter()
        for trained in intent.train_every(spark, lakehouse, all_days):
            echo(f"demo: intent model as of {trained['as_of']}: {trained['status']} (version {trained['version']})")
        echo(f"demo: intent models in {time.perf_counter() - started:.1f}s")
        # Every day is already ingested, late events included: one backfill builds each date
        # once, where day-by-day runs would rebuild the dates late events touched.
        echo(f"demo: features {pending[0]}..{all_days[-1]} (backfill) ...")
        built = features.backfill(spark, lakehouse, pending[0], all_days[-1])
        echo(f"demo: features of {len(built['window_dates'])} date(s) in {built['seconds']:.1f}s")
    started = time.perf_counter()
    version = _train(spark, lakehouse, all_days[-1], echo, settings)
    echo(f"demo: trained in {time.perf_counter() - started:.1f}s")
    if lakehouse.allow_list_csv.is_file():
        added = allow_list.load_csv(spark, lakehouse, lakehouse.allow_list_csv)
        echo(f"demo: allow-list: {len(added)} new entries from {lakehouse.allow_list_csv}")
    scored = all_days[-min(scored_days, len(all_days)) :]
    for day in scored:
        daily.run(spark, lakehouse, day, steps=("score", "export", "report"), echo=echo)
    last = scored[-1]
    by_tier = {
        r["risk_tier"]: r["count"]
        for r in tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
        .where(F.col("flag_date") == F.lit(last))
        .groupBy("risk_tier")
        .count()
        .collect()
    }
    handed_off = handoff.latest(spark, lakehouse, last)
    return {
        "days": all_days,
        "scored": scored,
        "champion_version": version,
        "by_tier": by_tier,
        "report": pages.report_path(lakehouse, last),
        "export": handed_off["folder"] if handed_off else None,
        "mlflow_tracking_uri": lakehouse.mlflow_tracking_uri,
        "mlflow_artifacts": lakehouse.mlflow_artifacts,
        "data_docs": lakehouse.data_docs / "index.html",
    }
