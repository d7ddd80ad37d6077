"""Artifact audit: does any single account property give the answer away?

For every property the issue lists as a former generator artifact (tools, agentic finish,
temperature 0, batch, foreign exits, IP prefix spread, account age, KYC, zero data
retention, organisations, shared payment, timing regularity) plus a few volume and model
properties, one value per account over the window, and its single-property ROC AUC
between attack and benign accounts. Inputs are plain request rows, either straight from
the generator (``requests_from_generator``, fast, for tests) or parsed from a landing zone
(``requests_from_landing``, what the benchmark reads). Evaluation only: it joins truth.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.models.feature_audit import roc_auc
from distillguard.synthetic import population as population_module
from distillguard.synthetic import records, traffic
from distillguard.synthetic.scenario import SCALES

# Properties from issue 9 item 1: none may separate attack from benign accounts alone.
ARTIFACT_PROPERTIES = (
    "tools_share",
    "tool_use_finish_share",
    "temp_zero_share",
    "batch_share",
    "foreign_country_share",
    "distinct_ip_prefixes",
    "account_age_days",
    "verified",
    "heavy_unverified",
    "zero_data_retention",
    "in_org",
    "accounts_sharing_payment",
    "interarrival_cv",
)
# Reported beside them, not bounded: real signals may legitimately differ.
OTHER_PROPERTIES = (
    "requests_per_active_day",
    "active_days",
    "reasoning_model_share",
    "new_model_share",
    "mean_completion_tokens",
    "length_finish_share",
    "refs_sent_share",
    "distinct_api_keys",
    "distinct_user_agents",
    "distinct_countries",
    "spend_per_active_day",
    "prompt_null_share",
)
HEAVY_REQUESTS_PER_DAY = 100
REQUEST_COLUMNS = (
    "account_id",
    "ts_ms",
    "api_key_id",
    "model",
    "endpoint",
    "completion_tokens",
    "cost_usd",
    "client_ip",
    "asn",
    "asn_kind",
    "country",
    "user_agent",
    "org_id",
    "temperature",
    "tools",
    "finish_reason",
    "system_prompt_sha256",
    "prompt_text",
    "reasoning_ref_issued",
    "ref_sent",
)


def _prefix(ip: pd.Series) -> pd.Series:
    """IPv4 /24 or IPv6 /48 of each address (null stays null)."""
    ip = ip.astype("string")
    v6 = ip.str.contains(":", regex=False).fillna(False)
    v4_prefix = ip.str.rsplit(".", n=1).str[0]
    v6_prefix = ip.str.split(":").str[:3].str.join(":")
    return v4_prefix.where(~v6, v6_prefix)


@dataclass
class Generated:
    """What the generator would write, in memory: requests, last snapshot, truth, population."""

    requests: pd.DataFrame
    accounts: pd.DataFrame
    truth: pd.DataFrame
    population: population_module.Population


def requests_from_generator(scale_name: str, start: date, days: int, seed: int) -> Generated:
    """The generator's request rows (no files, no delivery faults) and what goes with them."""
    from distillguard.synthetic.generate import daily_counts
    from distillguard.synthetic.labels import truth_table

    scale = SCALES[scale_name]
    pop = population_module.build(scale, days, seed)
    frames = []
    for day in range(days):
        folder = start + timedelta(days=day)
        counts = daily_counts(pop, day, folder, seed)
        accounts = np.flatnonzero(counts)
        table = traffic.day_requests(
            pop, folder, accounts, counts[accounts], 0, np.random.default_rng([seed, 2, day, 0]), day
        )
        frames.append(_frame_from_table(table))
    snapshot, _ = records.account_table(pop, start, days - 1)
    return Generated(
        pd.concat(frames, ignore_index=True), snapshot.to_pandas(), truth_table(pop, days).to_pandas(), pop
    )


def _frame_from_table(table: pa.Table) -> pd.DataFrame:
    """Request rows as the landing zone would show them (first sent ref only)."""
    columns = [c for c in REQUEST_COLUMNS if c not in ("ref_sent", "temperature")]
    frame = table.select(columns).to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if t == pa.string() else None)
    frame["temperature"] = pd.Series(table.column("temperature").to_numpy()).where(
        table.column("has_params").to_numpy()
    )
    frame["ref_sent"] = table.column("reasoning_refs_sent").to_pandas(types_mapper=pd.ArrowDtype)
    return frame


_LANDING_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("account_id", pa.string()),
        ("ts", pa.string()),
        ("api_key_id", pa.string()),
        ("model", pa.string()),
        ("endpoint", pa.string()),
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("client_ip", pa.string()),
        ("asn", pa.int64()),
        ("asn_kind", pa.string()),
        ("country", pa.string()),
        ("user_agent", pa.string()),
        ("org_id", pa.string()),
        ("params", pa.struct([("temperature", pa.float64()), ("tools", pa.int64())])),
        ("finish_reason", pa.string()),
        ("system_prompt_sha256", pa.string()),
        ("prompt_text", pa.string()),
        ("reasoning_ref_issued", pa.string()),
        ("reasoning_refs_sent", pa.list_(pa.string())),
    ]
)
_TYPES = {"completion_tokens": int, "asn": int, "cost_usd": (int, float)}


def _valid(raw: bytes) -> bool:
    """A line the typed reader can take: a JSON object whose audited fields have their types."""
    try:
        record = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(record, dict) or not all(
        isinstance(record.get(k), str) for k in ("request_id", "account_id", "ts", "model")
    ):
        return False
    if not record["ts"][:4].isdigit():
        return False
    params = record.get("params")
    if params is not None and not isinstance(params, dict):
        return False
    return all(
        record.get(k) is None or (isinstance(record[k], t) and not isinstance(record[k], bool))
        for k, t in _TYPES.items()
    )


def requests_from_landing(landing: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Request rows parsed from ``landing`` (invalid lines skipped, duplicates dropped) and
    the last account snapshot."""
    from pyarrow import json as pa_json

    tables = []
    for path in sorted((landing / "request_logs").glob("date=*/*.jsonl.gz")):
        lines = [raw for raw in gzip.decompress(path.read_bytes()).splitlines() if _valid(raw)]
        if lines:
            tables.append(
                pa_json.read_json(
                    pa.py_buffer(b"\n".join(lines)),
                    parse_options=pa_json.ParseOptions(
                        explicit_schema=_LANDING_SCHEMA, unexpected_field_behavior="ignore"
                    ),
                )
            )
    table = pa.concat_tables(tables).select(_LANDING_SCHEMA.names)
    frame = table.drop_columns(["params", "reasoning_refs_sent", "ts"]).to_pandas(
        types_mapper=lambda t: pd.ArrowDtype(t) if t == pa.string() else None
    )
    frame["ts_ms"] = (
        pd.to_datetime(table.column("ts").to_pandas(), utc=True, format="ISO8601")
        .astype("datetime64[ms, UTC]")
        .astype("int64")
    )
    params = table.column("params").combine_chunks()
    frame["temperature"] = params.field("temperature").to_pandas()
    frame["tools"] = params.field("tools").to_pandas().fillna(0)
    frame["ref_sent"] = _first(table.column("reasoning_refs_sent").combine_chunks()).to_pandas(
        types_mapper=pd.ArrowDtype
    )
    frame = frame.drop_duplicates("request_id").drop(columns=["request_id"])
    snapshots = sorted((landing / "accounts").glob("date=*/accounts.jsonl.gz"))
    accounts = pd.read_json(snapshots[-1], lines=True, dtype={"payment_fingerprint": "string", "org_id": "string"})
    return frame[list(REQUEST_COLUMNS)], accounts


def _first(lists: pa.Array) -> pa.Array:
    """First element of each list; null for a null or empty list."""
    empty = pc.fill_null(pc.equal(pc.list_value_length(lists), 0), True)
    return pc.list_element(pc.if_else(empty, pa.scalar([None], pa.list_(pa.string())), lists), 0)


def account_properties(requests: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """One row per account with requests: every audited property over the window."""
    r = requests.copy()
    r["day"] = r["ts_ms"] // 86_400_000
    r["prefix"] = _prefix(r["client_ip"])
    acc = accounts.set_index("account_id")
    r["signup_country"] = r["account_id"].map(acc["signup_country"])
    r["tools_on"] = r["tools"].fillna(0) > 0
    r["tool_finish"] = r["finish_reason"] == "tool_use"
    r["temp0"] = r["temperature"] == 0
    r["is_batch"] = r["endpoint"] == "batch"
    r["foreign"] = r["country"].notna() & (r["country"] != r["signup_country"])
    r["reasoning"] = r["model"].str.endswith("reasoning")
    r["new_model"] = r["model"] == "atlas-5-reasoning"
    r["length"] = r["finish_reason"] == "length"
    r["no_prompt"] = r["prompt_text"].isna()
    r["refs_sent"] = r["ref_sent"].notna()
    g = r.groupby("account_id")
    out = pd.DataFrame(
        {
            "requests": g.size(),
            "active_days": g["day"].nunique(),
            "tools_share": g["tools_on"].mean(),
            "tool_use_finish_share": g["tool_finish"].mean(),
            "temp_zero_share": g["temp0"].mean(),
            "batch_share": g["is_batch"].mean(),
            "foreign_country_share": g["foreign"].mean(),
            "distinct_ip_prefixes": g["prefix"].nunique(),
            "reasoning_model_share": g["reasoning"].mean(),
            "new_model_share": g["new_model"].mean(),
            "mean_completion_tokens": g["completion_tokens"].mean(),
            "length_finish_share": g["length"].mean(),
            "refs_sent_share": g["refs_sent"].mean(),
            "distinct_api_keys": g["api_key_id"].nunique(),
            "distinct_user_agents": g["user_agent"].nunique(),
            "distinct_countries": g["country"].nunique(),
            "spend": g["cost_usd"].sum(),
            "prompt_null_share": g["no_prompt"].mean(),
            "first_ms": g["ts_ms"].min(),
        }
    )
    out["requests_per_active_day"] = out["requests"] / out["active_days"]
    out["spend_per_active_day"] = out["spend"] / out["active_days"]
    # Timing regularity: coefficient of variation of gaps between an account's requests in a day.
    r = r.sort_values(["account_id", "ts_ms"])
    gap = r.groupby(["account_id", "day"])["ts_ms"].diff()
    stats = gap.groupby([r["account_id"], r["day"]]).agg(["mean", "std", "count"])
    stats = stats[stats["count"] >= 3]
    out["interarrival_cv"] = (stats["std"] / stats["mean"].where(stats["mean"] > 0)).groupby(level=0).median()
    created = pd.to_datetime(acc["created_at"], utc=True, format="ISO8601")
    first = pd.to_datetime(out["first_ms"], unit="ms", utc=True)
    out["account_age_days"] = (first - created.reindex(out.index)).dt.total_seconds() / 86_400
    kyc = acc["kyc_tier"].reindex(out.index)
    out["verified"] = kyc.isin(["verified", "enterprise"]).astype(float)
    out["heavy_unverified"] = (
        (out["requests_per_active_day"] >= HEAVY_REQUESTS_PER_DAY) & ~kyc.isin(["verified", "enterprise"])
    ).astype(float)
    out["zero_data_retention"] = acc["zero_data_retention"].reindex(out.index).astype(float)
    out["in_org"] = acc["org_id"].reindex(out.index).notna().astype(float)
    card = acc["payment_fingerprint"]
    sharing = card.map(card.value_counts())
    out["accounts_sharing_payment"] = sharing.reindex(out.index).fillna(0).astype(float)
    return out.drop(columns=["first_ms", "spend"])


def auc_table(values: pd.DataFrame, truth: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Per column: AUC (attack high > 0.5), separation max(AUC, 1 - AUC), and coverage.

    ``truth`` needs account_id and is_attack; accounts absent from ``values`` are left out.
    """
    joined = values.join(truth.set_index("account_id")["is_attack"], how="inner")
    rows = []
    for column in columns:
        auc = roc_auc(joined[column].astype(float), joined["is_attack"])
        rows.append(
            {
                "property": column,
                "auc": auc,
                "separation": max(auc, 1 - auc),
                "attack_mean": float(joined.loc[joined["is_attack"], column].astype(float).mean()),
                "benign_mean": float(joined.loc[~joined["is_attack"], column].astype(float).mean()),
                "accounts": int(joined[column].notna().sum()),
            }
        )
    return pd.DataFrame(rows)
