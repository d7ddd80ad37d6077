"""``distillguard``: one command per pipeline step, with global lakehouse options.

Bad input is answered with one line on stderr and exit code 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
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
