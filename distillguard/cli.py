"""``distillguard``: one command per pipeline step, with global lakehouse options.

Exit codes, the same from the console script and from a Databricks wheel task (which
ignores a return value, so failures raise ``SystemExit``): 0 done, 1 a step or quality
gate failed, 2 bad arguments. Failures print one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import NoReturn

from distillguard import __version__, logs
from distillguard.config import CATALOG_ENV, DEFAULT_HOME, HOME_ENV, LANDING_ENV, SCHEMA_ENV, Lakehouse, Table
from distillguard.errors import DistillguardError, UsageError

FAILED, BAD_ARGUMENTS = 1, 2
log = logging.getLogger(__name__)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


@dataclass(frozen=True)
class DaysAgo:
    """A date relative to ``--today``, resolved once all options are parsed."""

    days: int


def day_arg(text: str) -> date | DaysAgo:
    """``YYYY-MM-DD``, ``today`` or ``yesterday``."""
    relative = {"today": 0, "yesterday": 1}.get(text.strip().lower())
    return DaysAgo(relative) if relative is not None else iso_date(text)


def days_ago_arg(text: str) -> DaysAgo:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return DaysAgo(value)


def add_day_options(parser: argparse.ArgumentParser, required: bool, what: str) -> None:
    """``--date D`` (also ``yesterday``) or ``--days-ago N``, counted back from ``--today``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--date", type=day_arg, help=f"{what}: YYYY-MM-DD, today or yesterday")
    group.add_argument(
        "--days-ago",
        dest="date",
        type=days_ago_arg,
        metavar="N",
        help=f"{what}: N days before --today (1 is yesterday)",
    )
    parser.add_argument(
        "--today",
        type=iso_date,
        help="the day relative dates count back from (default: today "
        "in UTC; a scheduled job passes its start date, so a "
        "retry after midnight keeps its day)",
    )


def _resolve_days(args: argparse.Namespace) -> None:
    today = getattr(args, "today", None) or datetime.now(timezone.utc).date()
    for name, value in vars(args).items():
        if isinstance(value, DaysAgo):
            setattr(args, name, today - timedelta(days=value.days))


def _date_or_range(args: argparse.Namespace, lakehouse: Lakehouse) -> None:
    if args.date and (args.start or args.end):
        raise UsageError("give either --date or --start/--end, not both")
    if not args.date and not (args.start and args.end):
        raise UsageError("one of the arguments --date --days-ago is required (or both --start and --end)")


def _grant_needs_names(args: argparse.Namespace, lakehouse: Lakehouse) -> None:
    if args.grant_to and not lakehouse.addressed_by_name(Table.EXPORTS):
        raise UsageError(f"--grant-to needs tables in a catalog schema (set {SCHEMA_ENV})")


def _fpr_in_range(args: argparse.Namespace, lakehouse: Lakehouse) -> None:
    if args.target_fpr is not None and not 0 < args.target_fpr < 1:
        raise UsageError(f"--target-fpr must be in (0, 1): {args.target_fpr}")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _cmd_generate(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.synthetic.generate import generate
    from distillguard.synthetic.report import render_summary

    summary = generate(
        lakehouse,
        args.scale,
        args.start,
        args.days,
        args.seed,
        fault_multiplier=args.fault_rate,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(render_summary(summary, lakehouse))
    return 0


def _cmd_ingest(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import ingest

    if args.date:
        rows = [ingest.run(get_spark(), lakehouse, args.date)]
    else:
        result = ingest.run_range(get_spark(), lakehouse, args.start, args.end)
        rows = result["runs"]
        for day in result["skipped"]:
            print(f"ingest {day}: skipped (already ingested)")
    for row in rows:
        print(
            f"ingest {row['landing_date']} run {row['run_id']}: {row['lines_read']:,} lines read = "
            f"{row['accepted']:,} accepted + {row['duplicates_dropped']:,} duplicates dropped + "
            f"{row['quarantined']:,} quarantined; event dates changed: "
            f"{', '.join(str(d) for d in row['changed_event_dates'])}; gate warnings: {row['gate_warnings']}"
        )
        for item in json.loads(row["quarantined_files"]):
            print(
                f"  file quarantined whole: {item['path']} ({item['reason']}: {item['detail']}; "
                f"{item['lines_recovered']} line(s) readable before the fault; sha256 {item['sha256']})"
            )
    return 0


def _cmd_features(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import features

    spark = get_spark()
    summary = (
        features.run(spark, lakehouse, args.date)
        if args.date
        else features.backfill(spark, lakehouse, args.start, args.end)
    )
    print(
        f"features: daily {', '.join(summary['daily_dates'])}; windows and clusters "
        f"{summary['window_dates'][0]['date']}..{summary['window_dates'][-1]['date']} in {summary['seconds']}s"
    )
    return 0


def _cmd_score(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import score

    result = score.run(get_spark(), lakehouse, args.date)
    tiers = ", ".join(f"{tier} {count}" for tier, count in sorted(result["by_tier"].items())) or "none"
    print(
        f"score {result['flag_date']}: {result['flagged']} flagged ({tiers}) by model version "
        f"{result['model_version']}; MLflow run {result['scoring_run_id']}; flagged table version "
        f"{result['flagged_table_version']}"
    )
    return 0


def _cmd_export(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import export

    spark = get_spark()
    result = export.run(spark, lakehouse, args.date, full=args.full)
    if args.grant_to:
        from distillguard import tables

        log.info(
            "export table readable by %s: %s",
            args.grant_to,
            tables.grant_select(spark, lakehouse, Table.EXPORTS, args.grant_to),
        )
    print(
        f"export {result['export_id']} ({result['kind']}) {result['status']}: {result['rows']} rows "
        f"({result['new']} new, {result['changed']} changed, {result['withdrawn']} withdrawn) from flagged table "
        f"version {result['flagged_table_version']}; manifest {result['manifest']}"
    )
    return 0


def _cmd_allow_list(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    import getpass
    from datetime import datetime, timezone

    from distillguard.enforcement import allow_list
    from distillguard.engine import get_spark

    spark, today = get_spark(), datetime.now(timezone.utc).date()
    if args.action == "add":
        entry = allow_list.Entry(args.account, args.by or getpass.getuser(), args.reason, args.on or today)
        added = allow_list.add(spark, lakehouse, [entry])
        print(f"allow-list: {args.account} " + ("added" if added else "already has an open entry; unchanged"))
    elif args.action == "remove":
        allow_list.remove(spark, lakehouse, args.account, args.by or getpass.getuser(), args.reason, args.on or today)
        print(f"allow-list: {args.account} removed (entry kept as history)")
    elif args.action == "load":
        added = allow_list.load_csv(spark, lakehouse, args.file)
        print(f"allow-list: {len(added)} new entries from {args.file}")
    else:
        shown = [
            e for e in allow_list.entries(spark, lakehouse) if args.all or allow_list.is_active(e, args.on or today)
        ]
        for e in shown:
            removed = (
                f" removed {e['removed_on']} by {e['removed_by']}: {e['removal_reason']}" if e["removed_on"] else ""
            )
            print(f"{e['account_id']}\tadded {e['added_on']} by {e['added_by']}: {e['reason']}{removed}")
        print(f"allow-list: {len(shown)} entries")
    return 0


def _cmd_maintain(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from datetime import datetime, timezone

    from distillguard.maintenance import maintain

    today = args.today or datetime.now(timezone.utc).date()
    result = maintain(lakehouse, today)
    print(
        f"maintain: {result['tables']} table(s) compacted ({result['files_compacted']} files merged) and "
        f"vacuumed ({result['files_vacuumed']} files removed); personal data before {result['cutoff']} erased: "
        f"{result['requests_erased']} raw request(s), {result['quarantine_erased']} quarantined line(s), "
        f"{result['folders_removed']} folder(s) of kept files"
    )
    return 0


def _cmd_run_daily(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import daily

    outcomes = daily.run(get_spark(), lakehouse, args.date, force=args.force)
    ran = [o["step"] for o in outcomes if o["status"] == "ran"]
    print(
        f"daily {args.date}: done; ran {', '.join(ran) or 'nothing'}, "
        f"skipped {', '.join(o['step'] for o in outcomes if o['status'] == 'skipped') or 'nothing'}"
    )
    return 0


def _cmd_report(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import report

    spark = get_spark()
    result = report.run(spark, lakehouse, args.date, report.latest_scoring_run(spark, lakehouse, args.date))
    tiers = ", ".join(f"{tier} {count}" for tier, count in result["by_tier"].items())
    print(
        f"report {args.date}: {result['flagged']} flagged ({tiers}); {result['path']}"
        + (f"; logged to MLflow run {result['mlflow_run_id']}" if result["mlflow_run_id"] else "")
    )
    return 0


def _cmd_demo(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard import tables
    from distillguard.engine import get_spark
    from distillguard.jobs import demo

    demo.check_lakehouse(lakehouse)  # before an engine starts
    with tables.scratch(lakehouse):  # its staged intermediates go when it ends
        result = demo.run(get_spark(args.mode), lakehouse, days=args.days, seed=args.seed, scored_days=args.scored_days)
    days, last = result["days"], result["scored"][-1]
    tiers = ", ".join(f"{tier} {count}" for tier, count in sorted(result["by_tier"].items())) or "none"
    print(
        f"\ndemo: {len(days)} days {days[0]}..{days[-1]} built; champion model version "
        f"{result['champion_version']}; flagged on {last}: {sum(result['by_tier'].values())} ({tiers})"
    )
    print(f"  report:     {result['report']}")
    print(f"  export:     {result['export']}")
    print(
        f"  MLflow:     {result['mlflow_tracking_uri']} (artifacts {result['mlflow_artifacts']}); browse with "
        f"`mlflow ui --backend-store-uri {result['mlflow_tracking_uri']}`"
    )
    print(f"  data docs:  {result['data_docs']}")
    return 0


def _print_metrics(result: dict) -> None:
    rows = [
        ("PR-AUC (population-weighted)", "pr_auc"),
        ("threshold", "threshold"),
        ("recall @ threshold", "recall"),
        ("precision @ live prevalence", "precision"),
        ("benign FPR (population)", "benign_fpr"),
        ("cleared FPR", "cleared_fpr"),
        ("unlabelled flag rate", "unlabelled_flag_rate"),
    ]
    rows += [
        (name, name) for name in sorted(result["metrics"]["model"]) if name.startswith(("recall_", "precision_at"))
    ]
    columns = [c for c in ("model", "baseline", "champion") if c in result["metrics"]]
    print(f"{'holdout metric':34}" + "".join(f"{c:>12}" for c in columns))
    for label, key in rows:
        print(f"{label:34}" + "".join(f"{result['metrics'][c].get(key, float('nan')):>12.4f}" for c in columns))
    for key, value in result["evaluation"].items():
        print(f"{key:34}{value:>12.4f}")


def _cmd_train(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from dataclasses import replace

    from distillguard.config import TRAINING
    from distillguard.engine import get_spark
    from distillguard.jobs import train

    settings = replace(TRAINING, target_fpr=args.target_fpr) if args.target_fpr else TRAINING
    result = train.run(get_spark(), lakehouse, args.as_of, settings, promote=not args.no_promote, truth=args.truth)
    split = result["split"]
    print(
        f"train as of {result['as_of']}: training set version {result['training_set_version']}, "
        f"{result['train_rows']} train rows, holdout {result['holdout_rows']} rows "
        f"({split['split_holdout_positive']} distillation + {split['split_holdout_benign']} cleared incidents, "
        f"decided on or after {split['split_cutoff']}); MLflow run {result['run_id']}"
    )
    _print_metrics(result)
    print(f"training report: {result['report']}")
    print(f"version {result['version']}: {result['decision']} ({result['reason']})")
    if result["decision"] == "refused":
        raise DistillguardError(f"promotion gate refused version {result['version']}: {result['reason']}")
    return 0


def _cmd_evaluate(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import evaluate

    truth = lakehouse.truth / "accounts.parquet" if args.truth is True else Path(args.truth) if args.truth else None
    result = evaluate.run(get_spark(), lakehouse, args.as_of, truth=truth)
    print(result["markdown"])
    print(f"written: {result['markdown_path']} and {result['json_path']}")
    return 0


def _cmd_train_intent(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.models import intent

    result = intent.train(get_spark(), lakehouse, args.as_of)
    print(f"intent model as of {result['as_of']}: {result['status']} (version {result['version']})")
    return 0


def _cmd_promote(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.models import registry

    client = registry.client(lakehouse)
    promoted = registry.promote(client, args.version, args.reason)
    print(f"{registry.MODEL_NAME} version {promoted.version} is now champion ({args.reason})")
    return 0


def _cmd_rollback(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.models import registry

    restored = registry.rollback(registry.client(lakehouse), args.reason)
    print(f"{registry.MODEL_NAME} champion rolled back to version {restored.version} ({args.reason})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from distillguard.synthetic.scenario import SCALES

    def lakehouse_options(target: argparse.ArgumentParser, default: object) -> argparse.ArgumentParser:
        target.add_argument(
            "--home", default=default, help=f"lakehouse root (env {HOME_ENV}, default ./{DEFAULT_HOME})"
        )
        target.add_argument(
            "--landing", default=default, help=f"landing zone folder (env {LANDING_ENV}, default <home>/landing)"
        )
        target.add_argument(
            "--log-level",
            default=default,
            type=str.upper,
            choices=logs.LEVELS,
            help=f"log events at this level and above (env {logs.LEVEL_ENV}, default INFO)",
        )
        target.add_argument(
            "--log-format",
            default=default,
            choices=logs.FORMATS,
            help=f"one line per event as text or JSON (env {logs.FORMAT_ENV}, default text)",
        )
        return target

    parser = lakehouse_options(
        argparse.ArgumentParser(
            prog="distillguard",
            description="Find adversarial distillation in LLM request logs (Spark Connect jobs on Delta).",
            epilog=f"Tables are Delta folders under <home>/tables, or catalog tables named {CATALOG_ENV}."
            f"{SCHEMA_ENV}.<layer>_<table> when those are set (Unity Catalog). "
            "Exit codes: 0 done, 1 a step or quality gate failed, 2 bad arguments.",
        ),
        None,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Accepted before or after the command name; after wins.
    common = lakehouse_options(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser(
        "generate",
        parents=[common],
        help="write a synthetic landing zone and its ground truth",
        description="Write a synthetic landing zone that follows the contract, "
        "with injected delivery faults; ground truth goes to <home>/truth.",
    )
    gen.add_argument("--scale", choices=sorted(SCALES), default="demo", help="population and volume (default demo)")
    gen.add_argument("--start", type=iso_date, default=date(2026, 11, 1), help="first day, YYYY-MM-DD")
    gen.add_argument("--days", type=positive_int, help="number of days (default: the scale's own)")
    gen.add_argument("--seed", type=int, default=7, help="random seed (same seed, same files)")
    gen.add_argument(
        "--fault-rate",
        type=non_negative_float,
        default=1.0,
        help="multiplier on the default fault rates; 0 writes clean data",
    )
    gen.add_argument("--overwrite", action="store_true", help="replace an existing landing zone")
    gen.add_argument("--quiet", action="store_true", help="no progress display")
    gen.set_defaults(handler=_cmd_generate)

    feat = commands.add_parser(
        "features",
        parents=[common],
        help="build daily, rolling and cluster features",
        description="Build request signals, daily and rolling per-account features and "
        "account clusters for a day (recomputing dates touched by late events), "
        "or backfill a date range.",
    )
    add_day_options(feat, required=False, what="the day to build")
    feat.add_argument("--start", type=iso_date, help="backfill: first day")
    feat.add_argument("--end", type=iso_date, help="backfill: last day (inclusive)")
    feat.set_defaults(handler=_cmd_features, check=_date_or_range)

    ing = commands.add_parser(
        "ingest",
        parents=[common],
        help="parse, validate and store a landing folder date (or a range of them)",
        description="Read request_logs/date=D and the accounts snapshot of D (plus the "
        "incident and partner-indicator files), write raw, refined and "
        "quarantine tables behind quality gates; re-running is safe.",
    )
    add_day_options(ing, required=False, what="landing folder date")
    ing.add_argument("--start", type=iso_date, help="several folder dates in one run: first one")
    ing.add_argument("--end", type=iso_date, help="last one (inclusive); dates already ingested are skipped")
    ing.set_defaults(handler=_cmd_ingest, check=_date_or_range)

    sco = commands.add_parser(
        "score",
        parents=[common],
        help="score a day with the champion and flag accounts",
        description="Score every account with features on the day with the champion model, "
        "lift scores to clusters, apply the risk-tier policy and upsert the day's "
        "flagged accounts (MERGE); logged to MLflow.",
    )
    add_day_options(sco, required=True, what="feature date to score")
    sco.set_defaults(handler=_cmd_score)

    exp = commands.add_parser(
        "export",
        parents=[common],
        help="hand a day's flagged accounts to enforcement",
        description="Write the flagged accounts of a day that changed since its last export "
        "(or all of them with --full) as Parquet, CSV and a manifest under "
        "<home>/exports/date=D, and to the exports Delta table; only allow-listed "
        "columns leave. Re-running with nothing changed writes nothing.",
    )
    add_day_options(exp, required=True, what="flag date")
    exp.add_argument("--full", action="store_true", help="re-export every row of the day (same rows, same bytes)")
    exp.add_argument(
        "--grant-to",
        metavar="GROUP",
        help="let this group read the exports table (catalog schema only; the only table enforcement may read)",
    )
    exp.set_defaults(handler=_cmd_export, check=_grant_needs_names)

    allow = commands.add_parser(
        "allow-list",
        parents=[common],
        help="contracted accounts: scored, never exported",
        description="Add, remove, list or load (CSV: account_id,added_by,reason,added_on) "
        "allow-listed accounts. Removal keeps the entry as history.",
    )
    actions = allow.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("add", "allow-list an account"), ("remove", "end an account's allow-listing")):
        act = actions.add_parser(name, parents=[common], help=text)
        act.add_argument("account", help="account_id")
        act.add_argument("--reason", required=True, help="why (the agreement, the decision), recorded")
        act.add_argument("--by", help="who (default: the current user)")
        act.add_argument("--on", type=iso_date, help="effective date, YYYY-MM-DD (default: today)")
    listing = actions.add_parser("list", parents=[common], help="entries in force (or --all, with history)")
    listing.add_argument("--all", action="store_true", help="every entry, removed ones included")
    listing.add_argument("--on", type=iso_date, help="in force on this date (default: today)")
    load = actions.add_parser("load", parents=[common], help="add the entries of an agreements CSV")
    load.add_argument("file", type=Path, help="CSV with header account_id,added_by,reason,added_on")
    allow.set_defaults(handler=_cmd_allow_list)

    mnt = commands.add_parser(
        "maintain",
        parents=[common],
        help="compact, vacuum, erase expired personal data",
        description="Compact and vacuum every Delta table, then erase raw client_ip and "
        "prompt_text older than the retention (30 days) from raw requests and "
        "raw quarantine, with their old files and commits.",
    )
    mnt.add_argument("--today", type=iso_date, help="the day retention counts back from (default: today, UTC)")
    mnt.set_defaults(handler=_cmd_maintain)

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a pipeline (DAG) of steps locally",
        description="Run a whole pipeline in order on this machine.",
    )
    pipelines = run.add_subparsers(dest="pipeline", required=True, metavar="PIPELINE")
    dag = pipelines.add_parser(
        "daily",
        parents=[common],
        help="ingest, validate, features, score, export, report",
        description="For one date: ingest (with its quality gates) -> features -> score -> "
        "export -> report. Steps already done for the date are skipped (and "
        "every step after one that ran is rerun); stops at the first failure.",
    )
    add_day_options(dag, required=True, what="the day to run")
    dag.add_argument("--force", action="store_true", help="rerun every step even if done")
    dag.set_defaults(handler=_cmd_run_daily)

    rep = commands.add_parser(
        "report",
        parents=[common],
        help="write the HTML report of a flag date",
        description="Render <home>/reports/date=D/report.html from the flagged accounts "
        "and exports of D, and attach it to the MLflow run that scored D.",
    )
    add_day_options(rep, required=True, what="flag date")
    rep.set_defaults(handler=_cmd_report)

    dem = commands.add_parser(
        "demo",
        parents=[common],
        help="the whole pipeline on the synthetic demo scenario",
        description="Generate the demo scenario, build every day, train and promote, then "
        "score, export and report the last day(s). Resumable; refuses a "
        "lakehouse that holds non-demo data.",
    )
    dem.add_argument("--days", type=positive_int, help="days to generate (default: the demo scale's 28)")
    dem.add_argument("--seed", type=int, default=7, help="random seed of the scenario")
    dem.add_argument(
        "--scored-days", type=positive_int, default=1, help="score, export and report this many last days (default 1)"
    )
    dem.add_argument(
        "--mode",
        choices=("local", "local-cluster"),
        help="embedded Sail engine mode (default: env "
        "SAIL_MODE, else local); local-cluster runs Sail's distributed execution in this process",
    )
    dem.set_defaults(handler=_cmd_demo)

    tr = commands.add_parser(
        "train",
        parents=[common],
        help="retrain the distillation classifier",
        description="Build the training set as of a date, train the calibrated LightGBM, "
        "evaluate it next to the rule baseline and the champion on the held-out "
        "newest campaigns, log to MLflow, register a challenger and promote it "
        "only if it passes the promotion gate.",
    )
    tr.add_argument(
        "--as-of", type=iso_date, help="labels decided and features up to this day (default: latest feature date)"
    )
    tr.add_argument(
        "--target-fpr",
        type=non_negative_float,
        help="population-weighted benign FPR of the review threshold (default 0.001)",
    )
    tr.add_argument("--no-promote", action="store_true", help="register the challenger but never promote it")
    tr.add_argument(
        "--truth",
        type=Path,
        help="synthetic ground truth (truth/accounts.parquet): adds per-archetype "
        "evaluation metrics, never used for training",
    )
    tr.set_defaults(handler=_cmd_train, check=_fpr_in_range)

    ev = commands.add_parser(
        "evaluate",
        parents=[common],
        help="population-weighted evaluation tables (nothing registered)",
        description="Train as `train` would, in memory, and print markdown tables (also written "
        "as .md and .json under <home>/reports/evaluation): operating point with "
        "campaign-bootstrap intervals, group K-fold by campaign, backtest days to "
        "detection; with --truth, recall per campaign type, FPR per benign "
        "population and leave-one-campaign-type-out.",
    )
    ev.add_argument("--as-of", type=iso_date, help="labels decided and features up to this day (default: latest)")
    ev.add_argument(
        "--truth",
        nargs="?",
        const=True,
        help="synthetic ground truth parquet (default <home>/truth/accounts.parquet); evaluation only",
    )
    ev.set_defaults(handler=_cmd_evaluate)

    ti = commands.add_parser(
        "train-intent",
        parents=[common],
        help="train the prompt-level intent scorer",
        description="Train the extraction-intent scorer on prompts of incidents decided by "
        "--as-of and register it; features of day D use the newest one with "
        "as_of <= D (once per as_of).",
    )
    ti.add_argument(
        "--as-of",
        type=day_arg,
        required=True,
        help="incidents decided and requests up to this day (YYYY-MM-DD, today, yesterday)",
    )
    ti.set_defaults(handler=_cmd_train_intent)

    pro = commands.add_parser(
        "promote",
        parents=[common],
        help="make a model version the champion (by hand)",
        description="Move the champion alias to a version (default: the challenger), "
        "recording who, when and why; rollback undoes it.",
    )
    pro.add_argument("--version", type=positive_int, help="model version (default: the current challenger)")
    pro.add_argument("--reason", required=True, help="why, recorded on the version")
    pro.set_defaults(handler=_cmd_promote)

    rb = commands.add_parser(
        "rollback",
        parents=[common],
        help="restore the previous champion",
        description="Give the champion alias back to the version the current champion "
        "replaced, recording who, when and why.",
    )
    rb.add_argument("--reason", required=True, help="why, recorded on the demoted version")
    rb.set_defaults(handler=_cmd_rollback)
    return parser


def _fail(message: str, code: int) -> NoReturn:
    print(f"distillguard: error: {message}", file=sys.stderr)
    raise SystemExit(code)


# Jobs that write: one run per lakehouse and date at a time (distillguard/locks.py).
LOCKED = ("ingest", "features", "score", "export", "train", "maintain")


def _lock(args: argparse.Namespace, lakehouse: Lakehouse) -> AbstractContextManager[object]:
    if args.command not in LOCKED:
        return contextlib.nullcontext()
    from distillguard import locks

    start = getattr(args, "start", None)
    day = getattr(args, "date", None) or getattr(args, "as_of", None) or (f"{start}..{args.end}" if start else None)
    return locks.hold(lakehouse, args.command, day)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns 0 when it is done and raises ``SystemExit(1 or 2)`` otherwise."""
    args = build_parser().parse_args(argv)  # bad arguments: argparse exits 2 itself
    handler: Callable[[argparse.Namespace, Lakehouse], int] = args.handler
    try:
        logs.configure(args.log_level, args.log_format)
        _resolve_days(args)
        lakehouse = Lakehouse.resolve(args.home, args.landing)
        # Contradicting options are refused before the lock: a refused command writes nothing.
        if check := getattr(args, "check", None):
            check(args, lakehouse)
    except (DistillguardError, ValueError) as error:
        _fail(str(error), BAD_ARGUMENTS)
    try:
        with _lock(args, lakehouse):
            handler(args, lakehouse)
    except UsageError as error:
        _fail(str(error), BAD_ARGUMENTS)
    except DistillguardError as error:
        _fail(str(error), FAILED)
    except PermissionError as error:
        _fail(f"cannot write {error.filename}: permission denied", FAILED)
    except ModuleNotFoundError as error:
        if error.name not in ("pyspark", "pysail", "great_expectations"):
            raise
        _fail(
            f"{error.name} is not installed: install the local engine with `pip install 'distillguard[local]'` "
            "(a Databricks runtime provides Spark itself)",
            FAILED,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
