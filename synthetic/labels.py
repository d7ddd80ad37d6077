"""Incidents (what the case tool knows), partner indicators, the contracts team's allow-list,
and the evaluation-only ground truth.

Labels cover only part of the attack: some campaigns are never investigated, an incident
names only some of a campaign's accounts, and every label is decided days after the
behaviour it covers (population.py decides them, since a decision bans accounts).
Investigated-and-cleared hard negatives carry ``benign`` labels. Partner indicators
partly reveal cross-lab campaigns, with noise on shared infrastructure.
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
from distillguard.synthetic.prompts import FAMILY_INDEX, render
from distillguard.synthetic.scenario import ARCHETYPES, KINDS, PREFIX_POOLS
from distillguard.synthetic.traffic import FIRST_OCTETS

INCIDENT_COLUMNS = ("incident_id", "account_id", "label", "window_start", "window_end", "decided_on", "source")
INDICATOR_COLUMNS = ("indicator_type", "value", "partner", "first_seen", "confidence")
ALLOW_LIST_COLUMNS = ("account_id", "added_by", "reason", "added_on")
ALLOW_LIST_FILE = "allow_list.csv"


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
    day = lambda d: (start + timedelta(days=int(d))).isoformat()  # noqa: E731
    rows: list[dict] = []
    for number, incident in enumerate(sorted(pop.incidents, key=lambda i: (i.decided, i.window_start))):
        if incident.decided > days - 1:
            continue
        for account in incident.accounts:
            rows.append(
                {
                    "incident_id": f"INC-{seed % 1000:03d}{number:06d}",
                    "account_id": str(pop.account_id[account]),
                    "label": incident.label,
                    "window_start": day(incident.window_start),
                    "window_end": day(incident.window_end),
                    "decided_on": day(incident.decided),
                    "source": incident.source,
                }
            )
    return rows


def _cidr(prefix: int) -> str:
    return f"{FIRST_OCTETS[(prefix >> 16) % len(FIRST_OCTETS)]}.{(prefix >> 8) & 255}.{prefix & 255}.0/24"


def partner_indicators(pop: Population, start: date, days: int, seed: int, key: bytes) -> list[dict]:
    """What partner labs share about cross-lab campaigns, plus noise on shared infrastructure."""
    rng = np.random.default_rng([seed, 0x1D1])
    rows: list[dict] = []

    def share(kind: str, value: str, first_seen: int, confidence: float) -> None:
        if first_seen <= days - 1:
            rows.append(
                {
                    "indicator_type": kind,
                    "value": value,
                    "partner": str(rng.choice(["lab_b", "lab_c"])),
                    "first_seen": (start + timedelta(days=first_seen)).isoformat(),
                    "confidence": round(confidence, 2),
                }
            )

    partnered = [c for c, a in enumerate(pop.campaign_archetype) if "partner" in ARCHETYPES[a].tactics]
    for campaign in partnered:
        members = np.flatnonzero(pop.campaign == campaign)
        seen = max(0, int(pop.campaign_start[campaign])) + int(rng.integers(0, max(1, days // 3) + 1))
        payments = np.unique(pop.payment[members][pop.payment[members] >= 0])
        tokens = hash_hex(payments, PAYMENT_SALT).to_pylist() if payments.size else []
        for token in tokens[: max(1, len(tokens) // 2)]:
            share(
                "payment_fingerprint_hmac",
                hmac.new(key, token.encode(), hashlib.sha256).hexdigest(),
                seen,
                rng.uniform(0.7, 0.95),
            )
        # Proxy exits the partner saw: residential and VPN ranges that strangers use too.
        first = members[0]
        for draw in rng.integers(0, 1 << 40, 5):
            share(
                "ip_prefix",
                _cidr(int(pop.prefix_start[first] + (draw % pop.prefix_count[first]) * pop.prefix_stride[first])),
                seen,
                rng.uniform(0.5, 0.9),
            )
        families = np.array([FAMILY_INDEX[f] for f in ARCHETYPES[pop.archetype[first]].families])
        texts = render(
            families,
            np.zeros(families.size, dtype=np.int64),
            pop.style[members[: families.size]]
            if members.size >= families.size
            else np.full(families.size, pop.style[first]),
            rng,
        )
        for text in texts.to_pylist():
            share("prompt_template_hash", template_fingerprint(text), seen, rng.uniform(0.6, 0.9))
    # Noise: a university NAT and a mobile carrier's CGNAT range, and an unrelated payment.
    for pool in ("university", "mobile_cgnat"):
        base, size, _ = PREFIX_POOLS[pool]
        share("ip_prefix", _cidr(base + int(rng.integers(0, size))), int(rng.integers(0, days)), 0.3)
    share(
        "payment_fingerprint_hmac",
        hmac.new(key, b"unrelated-instrument", hashlib.sha256).hexdigest(),
        int(rng.integers(0, days)),
        0.4,
    )
    return rows


def allow_list(pop: Population, start: date) -> list[dict]:
    """The contracts team's entries for accounts working under a synthetic-data agreement."""
    rows = []
    for account in np.flatnonzero(pop.allow_listed):
        added = min(int(pop.active_from[account]), 0) - 3
        rows.append(
            {
                "account_id": str(pop.account_id[account]),
                "added_by": "contracts-team",
                "reason": f"synthetic-data agreement SDA-{2026}-{int(pop.org[account]) % 100:03d}",
                "added_on": (start + timedelta(days=added)).isoformat(),
            }
        )
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


def write_allow_list(path: Path, rows: list[dict]) -> int:
    _write_csv(path, ALLOW_LIST_COLUMNS, rows)
    return len(rows)


def truth_table(pop: Population, days: int) -> pa.Table:
    """Evaluation-only ground truth: population and campaign of every account that exists."""
    exists = pop.created_day <= days - 1
    names = np.array([a.name for a in ARCHETYPES])
    kind = np.array(KINDS)[pop.kind]
    return pa.table(
        {
            "account_id": pa.array(pop.account_id[exists]),
            "archetype": pa.array(names[pop.archetype][exists]),
            "is_attack": pa.array((pop.campaign >= 0)[exists]),
            "campaign_id": pa.array(np.where(pop.campaign >= 0, pop.campaign, -1)[exists]),
            "created_day": pa.array(pop.created_day[exists]),
            "hard_negative": pa.array((kind == "hard_negative")[exists]),
            "population_kind": pa.array(kind[exists]),
        }
    )
