"""Incidents (what the case tool knows) and partner indicators (what other labs share).

Labels cover only part of the attack: some campaigns are never investigated, an incident
names only some of a campaign's accounts, and every label is decided days after the
behaviour it covers. Investigated-and-cleared benign accounts (eval labs first) are the
hard negatives. Partner indicators partly reveal cross-lab campaigns, with some noise.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from distillguard.features.fingerprint import template_fingerprint
from distillguard.synthetic.population import PAYMENT_SALT, Population, hash_hex
from distillguard.synthetic.prompts import FAMILY_INDEX, VARIANT_BASE, VARIANT_COUNT, render
from distillguard.synthetic.scenario import ARCHETYPES, ARCHETYPE_INDEX, PREFIX_POOLS
from distillguard.synthetic.traffic import FIRST_OCTETS

INCIDENT_COLUMNS = ("incident_id", "account_id", "label", "window_start", "window_end",
                    "decided_on", "source")
INDICATOR_COLUMNS = ("indicator_type", "value", "partner", "first_seen", "confidence")
BENIGN_REVIEW_SHARE = {"eval_lab": 0.5, "app_backend": 0.1, "batch_user": 0.1, "dev": 0.004}
OTHER_ABUSE_SHARE = 0.002
CAMPAIGN_LABEL_SHARE = 0.7


def _rows_by_date(rows: list[dict], key: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def incidents(pop: Population, start: date, days: int, seed: int) -> list[dict]:
    """Incident rows decided on or before the last generated day (one row per account)."""
    rng = np.random.default_rng([seed, 0x1AB])
    last = days - 1
    spread = max(1, days // 4)
    rows: list[dict] = []
    day = lambda d: (start + timedelta(days=int(d))).isoformat()  # noqa: E731

    def add(accounts: np.ndarray, label: str, first: int, source: str) -> None:
        window_end = min(last, first + int(rng.integers(0, spread + 1)))
        decided = window_end + int(rng.integers(1, max(2, days // 5) + 1))
        if decided > last or accounts.size == 0:
            return
        incident = f"INC-{seed % 1000:03d}{len(rows):06d}"
        for account in accounts:
            rows.append({"incident_id": incident, "account_id": str(pop.account_id[account]),
                         "label": label, "window_start": day(first), "window_end": day(window_end),
                         "decided_on": day(decided), "source": source})

    for campaign, archetype in enumerate(pop.campaign_archetype):
        if rng.random() > CAMPAIGN_LABEL_SHARE:
            continue
        members = np.flatnonzero(pop.campaign == campaign)
        named = members[rng.random(members.size) < rng.uniform(0.4, 1.0)]
        source = ("partner_report" if ARCHETYPES[archetype].name == "cross_lab_split"
                  else rng.choice(["enforcement_review", "red_team"], p=[0.8, 0.2]))
        add(named, "distillation", int(pop.campaign_start[campaign]), str(source))
    for name, share in BENIGN_REVIEW_SHARE.items():
        members = np.flatnonzero(pop.archetype == ARCHETYPE_INDEX[name])
        for account in members[rng.random(members.size) < share]:
            add(np.array([account]), "benign", int(rng.integers(0, max(1, days - 1))), "enforcement_review")
    devs = np.flatnonzero(pop.archetype == ARCHETYPE_INDEX["dev"])
    for account in devs[rng.random(devs.size) < OTHER_ABUSE_SHARE]:
        add(np.array([account]), "other_abuse", int(rng.integers(0, max(1, days - 1))), "enforcement_review")
    return rows


def _cidr(prefix: int) -> str:
    return f"{FIRST_OCTETS[(prefix >> 16) % len(FIRST_OCTETS)]}.{(prefix >> 8) & 255}.{prefix & 255}.0/24"


def partner_indicators(pop: Population, start: date, days: int, seed: int, key: bytes) -> list[dict]:
    """What partner labs share about cross-lab campaigns, plus low-confidence noise."""
    rng = np.random.default_rng([seed, 0x1D1])
    split = ARCHETYPE_INDEX["cross_lab_split"]
    rows: list[dict] = []

    def share(kind: str, value: str, first_seen: int, confidence: float) -> None:
        if first_seen <= days - 1:
            rows.append({"indicator_type": kind, "value": value, "partner": str(rng.choice(["lab_b", "lab_c"])),
                         "first_seen": (start + timedelta(days=first_seen)).isoformat(),
                         "confidence": round(confidence, 2)})

    for campaign in np.flatnonzero(pop.campaign_archetype == split):
        members = np.flatnonzero(pop.campaign == campaign)
        seen = int(pop.campaign_start[campaign]) + int(rng.integers(0, max(1, days // 3) + 1))
        payments = np.unique(pop.payment[members][pop.payment[members] >= 0])
        tokens = hash_hex(payments, PAYMENT_SALT).to_pylist() if payments.size else []
        for token in tokens[: max(1, len(tokens) // 2)]:
            share("payment_fingerprint_hmac", hmac.new(key, token.encode(), hashlib.sha256).hexdigest(),
                  seen, rng.uniform(0.7, 0.95))
        prefixes = pop.prefix_start[members[0]] + rng.choice(pop.prefix_count[members[0]], 5, replace=False)
        for prefix in prefixes:
            share("ip_prefix", _cidr(int(prefix)), seen, rng.uniform(0.5, 0.9))
        families = [FAMILY_INDEX[f] for f in ARCHETYPES[split].families]
        variants = np.array([VARIANT_BASE[f] + rng.integers(0, VARIANT_COUNT[f]) for f in families])
        for text in render(variants, np.zeros(variants.size, dtype=np.int64), rng).to_pylist():
            share("prompt_template_hash", template_fingerprint(text), seen, rng.uniform(0.6, 0.9))
    # Noise: partners also flag a shared office NAT and a random payment they saw misused.
    base, size, _ = PREFIX_POOLS["coworking_nat"]
    share("ip_prefix", _cidr(base + int(rng.integers(0, size))), int(rng.integers(0, days)), 0.3)
    share("payment_fingerprint_hmac", hmac.new(key, b"unrelated-instrument", hashlib.sha256).hexdigest(),
          int(rng.integers(0, days)), 0.4)
    return rows


def write_incidents(landing: Path, rows: list[dict]) -> int:
    """One append-only CSV per decision day, as the case tool exports them."""
    for decided, group in sorted(_rows_by_date(rows, "decided_on").items()):
        _write_csv(landing / "incidents" / f"incidents_{decided}.csv", INCIDENT_COLUMNS, group)
    return len(rows)


def write_indicators(landing: Path, rows: list[dict]) -> int:
    for first_seen, group in sorted(_rows_by_date(rows, "first_seen").items()):
        _write_csv(landing / "partner_indicators" / f"indicators_{first_seen}.csv", INDICATOR_COLUMNS, group)
    return len(rows)


def truth_table(pop: Population) -> pa.Table:
    """Evaluation-only ground truth: archetype and campaign of every account."""
    names = np.array([a.name for a in ARCHETYPES])
    return pa.table({
        "account_id": pa.array(pop.account_id),
        "archetype": pa.array(names[pop.archetype]),
        "is_attack": pa.array(pop.campaign >= 0),
        "campaign_id": pa.array(np.where(pop.campaign >= 0, pop.campaign, -1)),
        "created_day": pa.array(pop.created_day),
    })
