"""``distillguard``: one command per pipeline step, with global lakehouse options.

Bad input is answered with one line on stderr and exit code 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Callable, Sequence

from distillguard.config import DEFAULT_HOME, HOME_ENV, LANDING_ENV, Lakehouse
from distillguard.errors import DistillguardError


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


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

    summary = generate(lakehouse, args.scale, args.start, args.days, args.seed,
                       fault_multiplier=args.fault_rate, overwrite=args.overwrite,
                       progress=not args.quiet)
    print(render_summary(summary, lakehouse))
    return 0


def _cmd_ingest(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import ingest

    row = ingest.run(get_spark(), lakehouse, args.date)
    print(f"ingest {row['landing_date']} run {row['run_id']}: {row['lines_read']:,} lines read = "
          f"{row['accepted']:,} accepted + {row['duplicates_dropped']:,} duplicates dropped + "
          f"{row['quarantined']:,} quarantined; event dates changed: "
          f"{', '.join(str(d) for d in row['changed_event_dates'])}; gate warnings: {row['gate_warnings']}")
    return 0


def _cmd_features(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import features

    if args.date and (args.start or args.end):
        raise DistillguardError("give either --date or --start/--end, not both")
    if not args.date and not (args.start and args.end):
        raise DistillguardError("give --date, or both --start and --end for a backfill")
    spark = get_spark()
    summary = (features.run(spark, lakehouse, args.date) if args.date
               else features.backfill(spark, lakehouse, args.start, args.end))
    print(f"features: daily {', '.join(summary['daily_dates'])}; windows and clusters "
          f"{summary['window_dates'][0]['date']}..{summary['window_dates'][-1]['date']} in {summary['seconds']}s")
    return 0


def _cmd_score(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import score

    result = score.run(get_spark(), lakehouse, args.date)
    tiers = ", ".join(f"{tier} {count}" for tier, count in sorted(result["by_tier"].items())) or "none"
    print(f"score {result['flag_date']}: {result['flagged']} flagged ({tiers}) by model version "
          f"{result['model_version']}; MLflow run {result['scoring_run_id']}; flagged table version "
          f"{result['flagged_table_version']}")
    return 0


def _cmd_export(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import export

    result = export.run(get_spark(), lakehouse, args.date, full=args.full)
    print(f"export {result['export_id']} ({result['kind']}) {result['status']}: {result['rows']} rows "
          f"({result['new']} new, {result['changed']} changed, {result['withdrawn']} withdrawn) from flagged table "
          f"version {result['flagged_table_version']}; manifest {result['manifest']}")
    return 0


def _cmd_run_daily(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import daily

    outcomes = daily.run(get_spark(), lakehouse, args.date, force=args.force)
    ran = [o["step"] for o in outcomes if o["status"] == "ran"]
    print(f"daily {args.date}: done; ran {', '.join(ran) or 'nothing'}, "
          f"skipped {', '.join(o['step'] for o in outcomes if o['status'] == 'skipped') or 'nothing'}")
    return 0


def _cmd_demo(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs import demo

    demo.check_lakehouse(lakehouse)  # before an engine starts
    result = demo.run(get_spark(args.mode), lakehouse, days=args.days, seed=args.seed, scored_days=args.scored_days)
    days, last = result["days"], result["scored"][-1]
    tiers = ", ".join(f"{tier} {count}" for tier, count in sorted(result["by_tier"].items())) or "none"
    print(f"\ndemo: {len(days)} days {days[0]}..{days[-1]} built; champion model version "
          f"{result['champion_version']}; flagged on {last}: {sum(result['by_tier'].values())} ({tiers})")
    print(f"  report:     {result['report']}")
    print(f"  export:     {result['export']}")
    print(f"  MLflow:     {result['mlflow_tracking_uri']} (artifacts {result['mlflow_artifacts']}); browse with "
          f"`mlflow ui --backend-store-uri {result['mlflow_tracking_uri']}`")
    print(f"  data docs:  {result['data_docs']}")
    return 0


def _print_metrics(result: dict) -> None:
    rows = [("PR-AUC", "pr_auc"), ("threshold", "threshold"), ("recall @ threshold", "recall"),
            ("precision @ threshold", "precision"), ("benign FPR (cleared)", "benign_fpr"),
            ("unlabelled flag rate", "unlabelled_flag_rate")]
    rows += [(name, name) for name in sorted(result["metrics"]["model"]) if name.startswith(("recall_", "precision_at"))]
    columns = [c for c in ("model", "baseline", "champion") if c in result["metrics"]]
    print(f"{'holdout metric':34}" + "".join(f"{c:>12}" for c in columns))
    for label, key in rows:
        print(f"{label:34}" + "".join(f"{result['metrics'][c].get(key, float('nan')):>12.4f}" for c in columns))
    truth = result["metrics"].get("truth", {})
    for key in sorted(k for k in truth if k.startswith("model_")):
        print(f"{key[len('model_'):]:34}{truth[key]:>12.4f}{truth.get('baseline_' + key[len('model_'):], float('nan')):>12.4f}")


def _cmd_train(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from dataclasses import replace

    from distillguard.config import TRAINING
    from distillguard.engine import get_spark
    from distillguard.jobs import train

    if args.target_precision is not None and not 0 < args.target_precision <= 1:
        raise DistillguardError(f"--target-precision must be in (0, 1]: {args.target_precision}")
    settings = replace(TRAINING, target_precision=args.target_precision) if args.target_precision else TRAINING
    result = train.run(get_spark(), lakehouse, args.as_of, settings, promote=not args.no_promote, truth=args.truth)
    split = result["split"]
    print(f"train as of {result['as_of']}: training set version {result['training_set_version']}, "
          f"{result['train_rows']} train rows, holdout {result['holdout_rows']} rows "
          f"({split['split_holdout_positive']} distillation + {split['split_holdout_benign']} cleared incidents, "
          f"decided on or after {split['split_cutoff']}); MLflow run {result['run_id']}")
    _print_metrics(result)
    print(f"version {result['version']}: {result['decision']} ({result['reason']})")
    return 0


def _cmd_promote(args: argparse.Namespace, lakehouse: Lakehouse) -> int:
    from distillguard.models import registry

    client = registry.client(lakehouse)
    version = args.version or client.get_model_version_by_alias(registry.MODEL_NAME, registry.CHALLENGER).version
    promoted = registry.promote(client, version, args.reason)
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
        target.add_argument("--home", default=default,
                            help=f"lakehouse root (env {HOME_ENV}, default ./{DEFAULT_HOME})")
        target.add_argument("--landing", default=default,
                            help=f"landing zone folder (env {LANDING_ENV}, default <home>/landing)")
        return target

    parser = lakehouse_options(argparse.ArgumentParser(
        prog="distillguard",
        description="Find adversarial distillation in LLM request logs (Spark Connect jobs on Delta)."), None)
    # Accepted before or after the command name; after wins.
    common = lakehouse_options(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser("generate", parents=[common],
                              help="write a synthetic landing zone and its ground truth",
                              description="Write a synthetic landing zone that follows the contract, "
                                          "with injected delivery faults; ground truth goes to <home>/truth.")
    gen.add_argument("--scale", choices=sorted(SCALES), default="demo", help="population and volume (default demo)")
    gen.add_argument("--start", type=iso_date, default=date(2026, 11, 1), help="first day, YYYY-MM-DD")
    gen.add_argument("--days", type=positive_int, help="number of days (default: the scale's own)")
    gen.add_argument("--seed", type=int, default=7, help="random seed (same seed, same files)")
    gen.add_argument("--fault-rate", type=non_negative_float, default=1.0,
                     help="multiplier on the default fault rates; 0 writes clean data")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing landing zone")
    gen.add_argument("--quiet", action="store_true", help="no progress display")
    gen.set_defaults(handler=_cmd_generate)

    feat = commands.add_parser("features", parents=[common], help="build daily, rolling and cluster features",
                               description="Build request signals, daily and rolling per-account features and "
                                           "account clusters for a day (recomputing dates touched by late events), "
                                           "or backfill a date range.")
    feat.add_argument("--date", type=iso_date, help="the day to build, YYYY-MM-DD")
    feat.add_argument("--start", type=iso_date, help="backfill: first day")
    feat.add_argument("--end", type=iso_date, help="backfill: last day (inclusive)")
    feat.set_defaults(handler=_cmd_features)

    ing = commands.add_parser("ingest", parents=[common],
                              help="parse, validate and store one landing folder date",
                              description="Read request_logs/date=D and the accounts snapshot of D (plus the "
                                          "incident and partner-indicator files), write raw, refined and "
                                          "quarantine tables behind quality gates; re-running is safe.")
    ing.add_argument("--date", type=iso_date, required=True, help="landing folder date, YYYY-MM-DD")
    ing.set_defaults(handler=_cmd_ingest)

    sco = commands.add_parser("score", parents=[common], help="score a day with the champion and flag accounts",
                              description="Score every account with features on the day with the champion model, "
                                          "lift scores to clusters, apply the risk-tier policy and upsert the day's "
                                          "flagged accounts (MERGE); logged to MLflow.")
    sco.add_argument("--date", type=iso_date, required=True, help="feature date to score, YYYY-MM-DD")
    sco.set_defaults(handler=_cmd_score)

    exp = commands.add_parser("export", parents=[common], help="hand a day's flagged accounts to enforcement",
                              description="Write the flagged accounts of a day that changed since its last export "
                                          "(or all of them with --full) as Parquet, CSV and a manifest under "
                                          "<home>/exports/date=D, and to the exports Delta table; only allow-listed "
                                          "columns leave. Re-running with nothing changed writes nothing.")
    exp.add_argument("--date", type=iso_date, required=True, help="flag date, YYYY-MM-DD")
    exp.add_argument("--full", action="store_true", help="re-export every row of the day (same rows, same bytes)")
    exp.set_defaults(handler=_cmd_export)

    run = commands.add_parser("run", parents=[common], help="run a pipeline (DAG) of steps locally",
                              description="Run a whole pipeline in order on this machine.")
    pipelines = run.add_subparsers(dest="pipeline", required=True, metavar="PIPELINE")
    dag = pipelines.add_parser("daily", parents=[common], help="ingest, validate, features, score, export, report",
                               description="For one date: ingest (with its quality gates) -> features -> score -> "
                                           "export -> report. Steps already done for the date are skipped (and "
                                           "every step after one that ran is rerun); stops at the first failure.")
    dag.add_argument("--date", type=iso_date, required=True, help="the day to run, YYYY-MM-DD")
    dag.add_argument("--force", action="store_true", help="rerun every step even if done")
    dag.set_defaults(handler=_cmd_run_daily)

    dem = commands.add_parser("demo", parents=[common], help="the whole pipeline on the synthetic demo scenario",
                              description="Generate the demo scenario, build every day, train and promote, then "
                                          "score, export and report the last day(s). Resumable; refuses a "
                                          "lakehouse that holds non-demo data.")
    dem.add_argument("--days", type=positive_int, help="days to generate (default: the demo scale's 28)")
    dem.add_argument("--seed", type=int, default=7, help="random seed of the scenario")
    dem.add_argument("--scored-days", type=positive_int, default=1, help="score, export and report this many "
                                                                        "last days (default 1)")
    dem.add_argument("--mode", choices=("local", "local-cluster"), help="embedded Sail engine mode (default: env "
                     "SAIL_MODE, else local); local-cluster runs Sail's distributed execution in this process")
    dem.set_defaults(handler=_cmd_demo)

    tr = commands.add_parser("train", parents=[common], help="retrain the distillation classifier",
                             description="Build the training set as of a date, train the calibrated LightGBM, "
                                         "evaluate it next to the rule baseline and the champion on the held-out "
                                         "newest campaigns, log to MLflow, register a challenger and promote it "
                                         "only if it passes the promotion gate.")
    tr.add_argument("--as-of", type=iso_date, help="labels decided and features up to this day (default: latest feature date)")
    tr.add_argument("--target-precision", type=non_negative_float, help="precision the operating threshold aims for (default 0.95)")
    tr.add_argument("--no-promote", action="store_true", help="register the challenger but never promote it")
    tr.add_argument("--truth", type=Path, help="synthetic ground truth (truth/accounts.parquet): adds per-archetype "
                                               "evaluation metrics, never used for training")
    tr.set_defaults(handler=_cmd_train)

    pro = commands.add_parser("promote", parents=[common], help="make a model version the champion (by hand)",
                              description="Move the champion alias to a version (default: the challenger), "
                                          "recording who, when and why; rollback undoes it.")
    pro.add_argument("--version", type=positive_int, help="model version (default: the current challenger)")
    pro.add_argument("--reason", required=True, help="why, recorded on the version")
    pro.set_defaults(handler=_cmd_promote)

    rb = commands.add_parser("rollback", parents=[common], help="restore the previous champion",
                             description="Give the champion alias back to the version the current champion "
                                         "replaced, recording who, when and why.")
    rb.add_argument("--reason", required=True, help="why, recorded on the demoted version")
    rb.set_defaults(handler=_cmd_rollback)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, Lakehouse], int] = args.handler
    try:
        lakehouse = Lakehouse.resolve(args.home, args.landing)
        return handler(args, lakehouse)
    except DistillguardError as error:
        print(f"distillguard: error: {error}", file=sys.stderr)
        return 2
    except PermissionError as error:
        print(f"distillguard: error: cannot write {error.filename}: permission denied", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
