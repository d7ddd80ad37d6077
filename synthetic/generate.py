"""Write a synthetic landing zone that follows the contract, plus its ground truth.

Deterministic by seed: every (day, file) draws from its own seeded generator, so files are
reproducible whatever the thread schedule. Files are written under a temporary name and
renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from distillguard.config import Lakehouse
from distillguard.errors import DistillguardError
from distillguard.secrets import PARTNER_HMAC_KEY_ENV, get_key, mark_demo, seal_demo
from distillguard.synthetic import faults, jsonl, labels, population, records, traffic
from distillguard.synthetic.scenario import SCALES, Scale

log = logging.getLogger(__name__)
SKEW_WINDOW_S = 120
SHIFT_RATE_BEFORE = 0.4


@dataclass
class Summary:
    """What was written: the figures the CLI prints and stores beside the truth."""

    scale: str
    start: str
    days: int
    seed: int
    requests_generated: int = 0
    lines_written: int = 0
    files_written: int = 0
    accounts: int = 0
    attack_accounts: int = 0
    incidents_rows: int = 0
    indicator_rows: int = 0
    allow_list_rows: int = 0
    seconds: float = 0.0
    faults: Counter = field(default_factory=Counter)
    by_folder: dict = field(default_factory=dict)


class Progress:
    """A progress bar over the days on a terminal; the final tally as one log event."""

    def __init__(self, total_days: int, enabled: bool) -> None:
        self.total_days, self.enabled = total_days, enabled
        self.started = time.perf_counter()
        self.bar = tqdm(
            total=total_days,
            desc="generate",
            unit="day",
            file=sys.stderr,
            leave=False,
            disable=None if enabled else True,
            dynamic_ncols=True,
        )

    def update(self, day_index: int, folder: date, rows: int, final: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = f"{rows / max(elapsed, 1e-9):,.0f} req/s"
        self.bar.update(day_index + int(final) - self.bar.n)
        self.bar.set_postfix_str(f"{folder} {rows:,} requests {rate}")
        if final:
            self.bar.close()
            log.info(
                "generated %s days up to %s: %s requests, %s, %.1fs",
                self.total_days,
                folder,
                f"{rows:,}",
                rate,
                elapsed,
            )


def daily_counts(pop: population.Population, day: int, folder: date, seed: int) -> np.ndarray:
    """Requests per account on window day ``day``: active accounts only, office populations
    dip at weekends, a shifting campaign sends less before its shift."""
    rng = np.random.default_rng([seed, 1, day])
    active = (pop.active_from <= day) & (day <= pop.active_until) & (rng.random(len(pop)) < pop.active_share)
    factor = np.where(folder.weekday() >= 5, pop.weekend, 1.0) * np.where(day < pop.shift_day, SHIFT_RATE_BEFORE, 1.0)
    return rng.poisson(pop.daily_rate * factor * active)


def _skew_clocks(table: pa.Table, folder: date, rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
    """Half the events of the day's last minutes get stamped a few minutes into the next day."""
    ts = table.column("ts_ms").to_numpy()
    midnight = int(np.datetime64(folder + timedelta(days=1), "ms").astype(np.int64))
    skew = (ts >= midnight - SKEW_WINDOW_S * 1000) & (rng.random(ts.size) < 0.5)
    shifted = np.where(skew, ts + rng.integers(SKEW_WINDOW_S, 5 * 60, ts.size) * 1000, ts)
    crossed = (shifted >= midnight) & skew
    return table.set_column(table.column_names.index("ts_ms"), "ts_ms", pa.array(shifted)), crossed


def _far_future(folder: date) -> bytes:
    return f"{folder + timedelta(days=400)}T12:00:00Z".encode()


def _chunks(counts: np.ndarray, rows_per_file: int) -> list[np.ndarray]:
    """Contiguous account ranges of about rows_per_file requests (campaigns stay together)."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if counts.size else 0
    n_files = max(1, -(-total // rows_per_file))
    cuts = np.searchsorted(cumulative, np.arange(1, n_files) * total / n_files)
    return [part for part in np.split(np.arange(counts.size), cuts) if part.size]


def allow_list_path(lakehouse: Lakehouse) -> Path:
    """Where the contracts team's allow-list entries land (the pipeline loads them)."""
    return lakehouse.home / "agreements" / labels.ALLOW_LIST_FILE


def _check_target(lakehouse: Lakehouse, start: date, days: int, overwrite: bool) -> None:
    folders = [lakehouse.landing_dir("request_logs") / f"date={start + timedelta(days=d)}" for d in range(days)]
    taken = [f for f in folders if f.exists() and any(f.iterdir())]
    if taken and not overwrite:
        raise DistillguardError(f"{taken[0]} already holds files; pass --overwrite to replace the landing zone")
    if overwrite:
        for source in ("request_logs", "accounts", "incidents", "partner_indicators"):
            shutil.rmtree(lakehouse.landing_dir(source), ignore_errors=True)
        shutil.rmtree(lakehouse.truth, ignore_errors=True)
        allow_list_path(lakehouse).unlink(missing_ok=True)


def generate(
    lakehouse: Lakehouse,
    scale_name: str,
    start: date,
    days: int | None,
    seed: int,
    fault_multiplier: float = 1.0,
    overwrite: bool = False,
    progress: bool = True,
    workers: int | None = None,
) -> Summary:
    """Generate ``days`` days from ``start`` at ``scale_name``; returns what was written."""
    if scale_name not in SCALES:
        raise DistillguardError(f"unknown scale {scale_name!r}; choose one of {', '.join(SCALES)}")
    scale: Scale = SCALES[scale_name]
    days = days or scale.default_days
    if days < 1:
        raise DistillguardError("--days must be at least 1")
    if fault_multiplier < 0:
        raise DistillguardError("--fault-rate must be >= 0")
    _check_target(lakehouse, start, days, overwrite)
    mark_demo(lakehouse)
    started = time.perf_counter()
    rates = faults.scaled_rates(fault_multiplier)
    pop = population.build(scale, days, seed)
    summary = Summary(
        scale=scale_name,
        start=start.isoformat(),
        days=days,
        seed=seed,
        accounts=len(pop),
        attack_accounts=int((pop.campaign >= 0).sum()),
    )
    carried: dict[int, list[pa.Array]] = {d: [] for d in range(days)}
    carried_counts: dict[int, Counter] = {d: Counter() for d in range(days)}
    bar = Progress(days, progress)
    requests_dir = lakehouse.landing_dir("request_logs")
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        for day in range(days):
            folder = start + timedelta(days=day)
            folder_dir = requests_dir / f"date={folder}"
            snapshot, _ = records.account_table(pop, start, day)
            records.write_account_snapshot(
                lakehouse.landing_dir("accounts") / f"date={folder}" / "accounts.jsonl.gz", snapshot
            )
            counts = daily_counts(pop, day, folder, seed)
            chunks = _chunks(counts, scale.rows_per_file)
            first_rows = np.r_[0, np.cumsum([counts[c].sum() for c in chunks])[:-1]]

            def build(index: int) -> tuple[faults.FaultedFile, int, int]:
                rng = np.random.default_rng([seed, 2, day, index])
                accounts = chunks[index]
                table = traffic.day_requests(pop, folder, accounts, counts[accounts], int(first_rows[index]), rng, day)
                table, crossed = _skew_clocks(table, folder, rng)
                lines = records.request_lines(table, rng)
                has_prompt = table.column("prompt_text").is_valid().to_numpy(zero_copy_only=False)
                result = faults.inject(lines, has_prompt, _far_future(folder), rates, rng, frozen=crossed)
                jsonl.write_gzip(folder_dir / f"part-{index:05d}.jsonl.gz", result.lines)
                return result, table.num_rows, int(crossed.sum())

            folder_counts: Counter = Counter(carried_counts[day])
            other_files = list(carried[day])
            for result, rows, crossed in pool.map(build, range(len(chunks))):
                summary.requests_generated += rows
                summary.lines_written += len(result.lines)
                summary.files_written += 1
                folder_counts["clock_skew_next_day"] += crossed
                for name, value in result.counts.items():
                    if name not in ("late", "duplicate_other_day"):
                        folder_counts[name] += value
                other_files.append(result.other_file)
                if day + 1 < days:
                    carried[day + 1].append(result.next_day)
                    carried_counts[day + 1]["duplicate_other_day"] += len(result.next_day)
                for lateness, lines in result.late.items():
                    if day + lateness < days:
                        carried[day + lateness].append(lines)
                        carried_counts[day + lateness]["late"] += len(lines)
                bar.update(day, folder, summary.requests_generated)
            redelivered = pa.concat_arrays([a.cast(pa.large_binary()) for a in other_files])
            if len(redelivered):
                jsonl.write_gzip(folder_dir / "redelivered.jsonl.gz", redelivered)
                summary.lines_written += len(redelivered)
                summary.files_written += 1
            summary.by_folder[folder.isoformat()] = dict(folder_counts)
            summary.faults.update(folder_counts)
            del carried[day]
        bar.update(days - 1, start + timedelta(days=days - 1), summary.requests_generated, final=True)

    key = get_key(lakehouse, PARTNER_HMAC_KEY_ENV)
    summary.incidents_rows = labels.write_incidents(lakehouse.landing, labels.incidents(pop, start, days, seed))
    summary.indicator_rows = labels.write_indicators(
        lakehouse.landing, labels.partner_indicators(pop, start, days, seed, key)
    )
    summary.allow_list_rows = labels.write_allow_list(allow_list_path(lakehouse), labels.allow_list(pop, start))
    summary.seconds = time.perf_counter() - started
    _write_truth(lakehouse, pop, summary)
    seal_demo(lakehouse)
    return summary


def _write_truth(lakehouse: Lakehouse, pop: population.Population, summary: Summary) -> None:
    lakehouse.truth.mkdir(parents=True, exist_ok=True)
    pq.write_table(labels.truth_table(pop, summary.days), lakehouse.truth / "accounts.parquet")
    report = {key: value for key, value in summary.__dict__.items()}
    report["faults"] = {
        name: summary.faults.get(name, 0) for name in faults.INVALID + faults.VALID + ("clock_skew_next_day",)
    }
    report["invalid_lines"] = sum(summary.faults.get(name, 0) for name in faults.INVALID)
    (lakehouse.truth / "faults.json").write_text(json.dumps(report, indent=2, sort_keys=True))
