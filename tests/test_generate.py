"""The synthetic landing zone: contract, exact fault counts, determinism, labels."""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from distillguard.config import Lakehouse
from distillguard.synthetic import population
from distillguard.synthetic.faults import INVALID
from distillguard.synthetic.generate import allow_list_path, daily_counts, generate
from distillguard.synthetic.scenario import ARCHETYPES, SCALES
from tests.contract import classify, parse_ts

START = date(2026, 11, 1)


def _lines(lakehouse: Lakehouse):
    for folder in sorted(lakehouse.landing_dir("request_logs").iterdir()):
        day = date.fromisoformat(folder.name.removeprefix("date="))
        for path in sorted(folder.glob("*.jsonl.gz")):
            for raw in gzip.decompress(path.read_bytes()).split(b"\n")[:-1]:
                yield day, path.name, raw


def _truth(lakehouse: Lakehouse) -> dict:
    return json.loads((lakehouse.truth / "faults.json").read_text())


def test_every_line_meets_the_contract_except_the_counted_faults(tiny_landing: Lakehouse) -> None:
    classes: Counter = Counter()
    seen: Counter = Counter()
    late = skewed = 0
    for folder, _, raw in _lines(tiny_landing):
        fault, record = classify(raw, folder)
        classes[fault] += 1
        if record is None:
            continue
        seen[record["request_id"]] += 1
        event_day = parse_ts(record["ts"]).date()
        late += event_day < folder
        skewed += event_day == folder + timedelta(days=1)
    truth = _truth(tiny_landing)
    assert {name: classes[name] for name in INVALID} == {name: truth["faults"][name] for name in INVALID}
    assert all(truth["faults"][name] >= 1 for name in INVALID)
    duplicates = sum(count - 1 for count in seen.values())
    assert duplicates == sum(
        truth["faults"][k] for k in ("duplicate_same_file", "duplicate_other_file", "duplicate_other_day")
    )
    # Re-deliveries on a later day also carry an earlier event date.
    assert late == truth["faults"]["late"] + truth["faults"]["duplicate_other_day"]
    assert truth["faults"]["late"] > 0
    assert skewed == truth["faults"]["clock_skew_next_day"]
    assert classes[None] + truth["invalid_lines"] == truth["lines_written"]


def test_unknown_keys_are_valid_lines(tiny_landing: Lakehouse) -> None:
    with_unknown = sum(
        1 for folder, _, raw in _lines(tiny_landing) if b'"gateway_region"' in raw and classify(raw, folder)[0] is None
    )
    assert with_unknown >= _truth(tiny_landing)["faults"]["unknown_keys"] > 0


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    homes = [Lakehouse.resolve(tmp_path / name) for name in ("a", "b", "c")]
    for home, seed in zip(homes, (3, 3, 4)):
        generate(home, "tiny", START, 2, seed, progress=False)

    def content(home: Lakehouse) -> dict[str, bytes]:
        return {
            str(p.relative_to(home.landing)): gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
            for p in sorted(home.landing.rglob("*"))
            if p.is_file()
        }

    assert content(homes[0]).keys() == content(homes[1]).keys()
    first, second, other = (content(h) for h in homes)
    assert all(first[k] == second[k] for k in first if "partner_indicators" not in k)
    assert (
        first["request_logs/date=2026-11-01/part-00000.jsonl.gz"]
        != other["request_logs/date=2026-11-01/part-00000.jsonl.gz"]
    )


def test_accounts_snapshot_follows_the_contract(tiny_landing: Lakehouse) -> None:
    path = tiny_landing.landing_dir("accounts") / "date=2026-11-03" / "accounts.jsonl.gz"
    rows = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    truth = pq.read_table(tiny_landing.truth / "accounts.parquet").to_pylist()
    created = {r["account_id"] for r in truth if r["created_day"] <= 2}
    assert {r["account_id"] for r in rows} == created
    for row in rows:
        assert set(row) == {
            "account_id",
            "org_id",
            "created_at",
            "signup_country",
            "billing_country",
            "kyc_tier",
            "plan",
            "payment_fingerprint",
            "email_domain",
            "zero_data_retention",
        }
        assert row["kyc_tier"] in {"none", "basic", "verified", "enterprise"}
        assert row["plan"] in {"free", "payg", "scale", "enterprise"}
        assert parse_ts(row["created_at"]).date() <= date(2026, 11, 3)
        assert (row["payment_fingerprint"] is None) == (row["plan"] == "free" and row["org_id"] is None)


def test_incidents_label_a_subset_after_the_behaviour(tiny_landing: Lakehouse) -> None:
    truth = {r["account_id"]: r for r in pq.read_table(tiny_landing.truth / "accounts.parquet").to_pylist()}
    rows = [
        row
        for path in sorted(tiny_landing.landing_dir("incidents").glob("*.csv"))
        for row in csv.DictReader(path.open())
    ]
    assert rows
    for row in rows:
        assert row["window_start"] <= row["window_end"] < row["decided_on"] <= "2026-11-03"
        assert row["label"] in {"distillation", "benign", "other_abuse"}
        assert truth[row["account_id"]]["is_attack"] == (row["label"] == "distillation")
    labelled = {r["account_id"] for r in rows if r["label"] == "distillation"}
    attackers = {a for a, r in truth.items() if r["is_attack"]}
    assert labelled < attackers


def test_ground_truth_sits_outside_the_landing_zone(tiny_landing: Lakehouse) -> None:
    assert not list(tiny_landing.landing.rglob("*truth*"))
    assert (tiny_landing.truth / "accounts.parquet").exists()
    assert not tiny_landing.truth.is_relative_to(tiny_landing.landing)


def test_seed_scale_matches_public_reporting() -> None:
    """24,000 fraudulent accounts and over 16 million exchanges in the window (counts only)."""
    scale = SCALES["seed"]
    pop = population.build(scale, scale.default_days, 7)
    attack = pop.campaign >= 0
    requests = sum(daily_counts(pop, d, START + timedelta(days=d), 7) for d in range(scale.default_days))
    assert attack.sum() == 24_000
    assert 16_000_000 <= requests[attack].sum() <= 18_000_000
    assert requests[~attack].sum() > 3 * requests[attack].sum()


def test_allow_list_names_the_contracted_vendor(tiny_landing: Lakehouse) -> None:
    truth = pd.read_parquet(tiny_landing.truth / "accounts.parquet")
    with allow_list_path(tiny_landing).open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == ["account_id", "added_by", "reason", "added_on"]
    assert {r["account_id"] for r in rows} == set(truth.loc[truth.archetype == "synthetic_vendor", "account_id"])
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["added_on"]) and r["added_by"] and r["reason"] for r in rows)
    assert all(r["added_on"] < "2026-11-01" for r in rows)


def test_truth_marks_hard_negatives(tiny_landing: Lakehouse) -> None:
    truth = pd.read_parquet(tiny_landing.truth / "accounts.parquet")
    assert list(truth.columns) == [
        "account_id",
        "archetype",
        "is_attack",
        "campaign_id",
        "created_day",
        "hard_negative",
        "population_kind",
    ]
    assert (truth.is_attack == (truth.population_kind == "attack")).all()
    assert (truth.hard_negative == (truth.population_kind == "hard_negative")).all()
    assert set(truth.archetype) == {a.name for a in ARCHETYPES}
    assert (truth.campaign_id >= 0).eq(truth.is_attack).all()
