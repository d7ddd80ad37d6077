"""The generator's closing summary, as printed by the CLI."""

from __future__ import annotations

from distillguard.config import Lakehouse
from distillguard.synthetic import faults
from distillguard.synthetic.generate import Summary


def render_summary(summary: Summary, lakehouse: Lakehouse) -> str:
    rate = summary.requests_generated / max(summary.seconds, 1e-9)
    lines = [
        f"scale {summary.scale}, {summary.days} day(s) from {summary.start}, seed {summary.seed}",
        f"accounts {summary.accounts:,} ({summary.attack_accounts:,} attack)",
        f"requests {summary.requests_generated:,} -> {summary.lines_written:,} lines in "
        f"{summary.files_written} files, {summary.seconds:.1f}s ({rate:,.0f} requests/s)",
        f"incident rows {summary.incidents_rows}, partner indicators {summary.indicator_rows}",
        "faults and deliveries (lines):",
    ]
    for group, names in (("invalid", faults.INVALID), ("valid", faults.VALID + ("clock_skew_next_day",))):
        for name in names:
            lines.append(f"  {group:8s} {name:22s} {summary.faults.get(name, 0):>10,}")
    lines += [f"landing zone: {lakehouse.landing}", f"ground truth (evaluation only): {lakehouse.truth}"]
    return "\n".join(lines)
