"""Demo DAG wall time in Sail ``local`` and ``local-cluster`` mode, side by side, and whether
the two flag the same accounts.

    python benchmarks/engine_modes.py --dir /tmp/engine-modes     # tiny scale, both modes

The landing zone (tiny scale, 3 days, plus the case-review labels of
tests/test_distributed.py, which also supplies the small-sample training settings) is
generated once under --dir; each mode then runs generate-skipped -> ingest -> features ->
train -> score -> export -> report on its own copy, in its own process (a fresh engine),
one after the other. Printed: wall seconds per mode (engine start included), the flags of
the last day, and every account's score and tier at a shared threshold, compared.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

MODES = ("local", "local-cluster")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (the parity test's helpers)


def one(mode: str, root: Path) -> dict:
    from pyspark.sql import SparkSession

    from distillguard.config import Lakehouse
    from distillguard.engine import configure, start_sail
    from tests.test_distributed import _flags, _run_demo, _tiers_at

    started = time.perf_counter()
    spark = configure(SparkSession.builder.remote(start_sail(mode)).create())
    lakehouse, result = _run_demo(spark, root / "landing" / "lakehouse", root / mode, mode)
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "seconds": round(seconds, 1),
        "by_tier": result["by_tier"],
        "flags": _flags(spark, lakehouse),
        "scores": _tiers_at(spark, Lakehouse.resolve(root / mode), 0.0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, required=True, help="scratch folder (landing zone and one lakehouse per mode)"
    )
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.dir), default=str))
        return 0
    from distillguard.config import Lakehouse
    from distillguard.synthetic.generate import generate
    from tests.test_distributed import DAYS, START, _case_review

    landing = Lakehouse.resolve(args.dir / "landing" / "lakehouse")
    if not (landing.truth / "faults.json").is_file():
        generate(landing, "tiny", START, DAYS, 7, overwrite=True, progress=False)
        _case_review(landing)
    runs = {}
    for mode in MODES:
        shutil.rmtree(args.dir / mode, ignore_errors=True)
        out = subprocess.run(
            [sys.executable, __file__, "--dir", str(args.dir), "--one", mode],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs[mode] = json.loads(out.strip().splitlines()[-1])
    local, cluster = runs["local"], runs["local-cluster"]
    print(f"{'mode':15}{'wall s':>9}  flagged on the last day")
    for run in (local, cluster):
        print(f"{run['mode']:15}{run['seconds']:>9.1f}  {len(run['flags'])} {run['by_tier']}")
    print(f"same flags (account, tier, score within 1e-9, cluster): {local['flags'] == cluster['flags']}")
    print(f"same score and tier for all {len(local['scores'])} accounts: {local['scores'] == cluster['scores']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
