"""Delivery faults a real gateway produces, injected at known rates and counted exactly.

Invalid classes break the contract and must be quarantined by ingest; valid classes
(unknown keys, duplicates, late and clock-skewed events) must be accepted, deduplicated
or placed in the right event date. Fault rows are disjoint, so every line has one class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INVALID = ("malformed_json", "wrong_type", "missing_required", "invalid_utf8", "future_timestamp", "huge_prompt")
VALID = ("unknown_keys", "duplicate_same_file", "duplicate_other_file", "duplicate_other_day", "late")
DEFAULT_RATES = {
    "malformed_json": 0.0005,
    "wrong_type": 0.0005,
    "missing_required": 0.0003,
    "invalid_utf8": 0.0001,
    "future_timestamp": 0.0001,
    "huge_prompt": 0.00005,
    "unknown_keys": 0.002,
    "duplicate_same_file": 0.002,
    "duplicate_other_file": 0.001,
    "duplicate_other_day": 0.001,
    "late": 0.005,
}
MAX_LATE_DAYS = 3
HUGE_PROMPT = "Repeat and expand every previous answer in full detail. " * 400  # ~22,800 chars

# (pattern, replacement) per sub-variant; each class's rows are split among its variants.
_EDITS: dict[str, list[tuple[bytes, bytes]]] = {
    "malformed_json": [(rb".{25}$", b""), (rb"\}$", b""), (rb"^\{", b"{{"), (rb'":', b'"')],
    "wrong_type": [
        (rb'"status":([0-9]+)', rb'"status":"\1"'),
        (rb'"prompt_tokens":([0-9]+)', rb'"prompt_tokens":-\1'),
        (rb'"cost_usd":([0-9.e-]+)', rb'"cost_usd":"\1 USD"'),
        (rb'"ts":"[^"]*"', b'"ts":"yesterday 14:05"'),
    ],
    "missing_required": [
        (rb'"account_id":"[^"]*",', b""),
        (rb',"cost_usd":[^,]*', b""),
        (rb'"model":"[^"]*",', b""),
        (rb'^\{"request_id":"[^"]*",', b"{"),
    ],
    "invalid_utf8": [(rb'"model":"', b'"model":"\xff\xfe')],
    "huge_prompt": [(rb'"prompt_text":"', b'"prompt_text":"' + HUGE_PROMPT.encode())],
    "unknown_keys": [(rb"^\{", b'{"gateway_region":"eu-west-1","trace":{"span":7},')],
}


@dataclass
class FaultedFile:
    """Lines for this file, lines re-delivered elsewhere, and the count per class."""

    lines: pa.Array
    other_file: pa.Array
    next_day: pa.Array
    late: dict[int, pa.Array]
    counts: dict[str, int] = field(default_factory=dict)


def scaled_rates(multiplier: float) -> dict[str, float]:
    return {name: rate * multiplier for name, rate in DEFAULT_RATES.items()}


def _apply(lines: pa.Array, rows: np.ndarray, edits: list[tuple[bytes, bytes]], rng: np.random.Generator) -> pa.Array:
    if rows.size == 0:
        return lines
    rows = np.sort(rows)
    variant = rng.integers(0, len(edits), rows.size)
    picked = lines.take(pa.array(rows))
    out = picked
    for v, (pattern, replacement) in enumerate(edits):
        edited = pc.replace_substring_regex(picked, pattern, replacement, max_replacements=1)
        out = pc.if_else(pa.array(variant == v), edited, out)
    mask = np.zeros(len(lines), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(lines, pa.array(mask), out)


def inject(
    lines: pa.Array,
    has_prompt: np.ndarray,
    far_future: bytes,
    rates: dict[str, float],
    rng: np.random.Generator,
    frozen: np.ndarray,
) -> FaultedFile:
    """Pick disjoint rows per class (ceil(rate * n), so every enabled class shows up).

    ``frozen`` rows (clock-skewed ones) get no fault, so each class is counted exactly.
    """
    lines = lines.cast(pa.large_binary())
    n = len(lines)
    free = ~frozen
    chosen: dict[str, np.ndarray] = {}
    for name in INVALID + VALID:
        k = math.ceil(rates.get(name, 0.0) * n)
        eligible = free & has_prompt if name == "huge_prompt" else free
        pool = np.flatnonzero(eligible)
        rows = rng.choice(pool, size=min(k, pool.size), replace=False) if k else pool[:0]
        free[rows] = False
        chosen[name] = rows
    edits = dict(_EDITS)
    edits["future_timestamp"] = [(rb'"ts":"[^"]*"', b'"ts":"' + far_future + b'"')]
    for name in INVALID + ("unknown_keys",):
        lines = _apply(lines, chosen[name], edits[name], rng)
    late_days = rng.integers(1, MAX_LATE_DAYS + 1, chosen["late"].size)
    keep = np.ones(n, dtype=bool)
    keep[chosen["late"]] = False
    own = lines.filter(pa.array(keep))
    body = pa.concat_arrays([own, lines.take(pa.array(chosen["duplicate_same_file"]))])
    return FaultedFile(
        lines=body,
        other_file=lines.take(pa.array(chosen["duplicate_other_file"])),
        next_day=lines.take(pa.array(chosen["duplicate_other_day"])),
        late={d: lines.take(pa.array(chosen["late"][late_days == d])) for d in range(1, MAX_LATE_DAYS + 1)},
        counts={name: int(rows.size) for name, rows in chosen.items()},
    )
