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
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from distillguard.synthetic import population as population_module, records, traffic
from distillguard.synthetic.scenario import SCALES

# Properties from issue 9 item 1: none may separate attack from benign accounts alone.
ARTIFACT_PROPERTIES = ("tools_share", "tool_use_finish_share", "temp_zero_share", "batch_share",
                       "foreign_country_share", "distinct_ip_prefixes", "account_age_days", "verified",
                       "heavy_unverified", "zero_data_retention", "in_org", "accounts_sharing_payment",
                       "interarrival_cv")
# Reported beside them, not bounded: real signals may legitimately differ.
OTHER_PROPERTIES = ("requests_per_active_day", "active_days", "reasoning_model_share", "new_model_share",
                    "mean_completion_tokens", "length_finish_share", "refs_sent_share", "distinct_api_keys",
                    "distinct_user_agents", "distinct_countries", "spend_per_active_day", "prompt_null_share")
HEAVY_REQUESTS_PER_DAY = 100
REQUEST_COLUMNS = ("account_id", "ts_ms", "api_key_id", "model", "endpoint", "completion_tokens", "cost_usd",
                   "client_ip", "country", "user_agent", "temperature", "tools", "finish_reason", "refs_sent",
                   "has_prompt")


def _prefix(ip: pd.Series) -> pd.Series:
    """IPv4 /24 or IPv6 /48 of each address (null stays null)."""
    ip = ip.astype("string")
    v6 = ip.str.contains(":", regex=False).fillna(False)
    v4_prefix = ip.str.rsplit(".", n=1).str[0]
    v6_prefix = ip.str.split(":").str[:3].str.join(":")
    return v4_prefix.where(~v6, v6_prefix)


def requests_from_generator(scale_name: str, start: date, days: int,
                            seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The generator's request rows, last account snapshot and truth, without files or faults."""
    from distillguard.synthetic.generate import daily_counts
    from distillguard.synthetic.labels import truth_table

    scale = SCALES[scale_name]
    pop = population_module.build(scale, days, seed)
    frames = []
    for day in range(days):
        folder = start + timedelta(days=day)
        counts = daily_counts(pop, day, folder, seed)
        accounts = np.flatnonzero(counts)
        table = traffic.day_requests(pop, folder, accounts, counts[accounts], 0,
                                     np.random.default_rng([seed, 2, day, 0]), day)
        frames.append(_frame_from_table(table))
    snapshot, _ = records.account_table(pop, start, days - 1)
    return pd.concat(frames, ignore_index=True), snapshot.to_pandas(), truth_table(pop, days).to_pandas()


def _frame_from_table(table: pa.Table) -> pd.DataFrame:
    frame = table.select(["account_id", "ts_ms", "api_key_id", "model", "endpoint", "completion_tokens",
                          "cost_usd", "client_ip", "country", "user_agent", "temperature", "tools",
                          "finish_reason"]).to_pandas()
    frame["temperature"] = frame["temperature"].where(table.column("has_params").to_numpy())
    frame["refs_sent"] = table.column("reasoning_refs_sent").is_valid().to_numpy()
    frame["has_prompt"] = table.column("prompt_text").is_valid().to_numpy()
    return frame


def requests_from_landing(landing: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Request rows parsed from ``landing`` (invalid lines skipped, duplicates dropped) and
    the last account snapshot."""
    rows: dict[str, tuple] = {}
    for path in sorted((landing / "request_logs").glob("date=*/*.jsonl.gz")):
        for raw in gzip.decompress(path.read_bytes()).splitlines():
            try:
                r = json.loads(raw)
                ts = pd.Timestamp(r["ts"]).value // 1_000_000
                params = r.get("params") or {}
                rows[r["request_id"]] = (
                    r["account_id"], ts, r["api_key_id"], r["model"], r["endpoint"], r["completion_tokens"],
                    r["cost_usd"], r.get("client_ip"), r.get("country"), r.get("user_agent"),
                    params.get("temperature") if r.get("params") is not None else None, params.get("tools") or 0,
                    r.get("finish_reason"), bool(r.get("reasoning_refs_sent")), r.get("prompt_text") is not None)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                continue
    frame = pd.DataFrame(list(rows.values()), columns=list(REQUEST_COLUMNS))
    snapshots = sorted((landing / "accounts").glob("date=*/accounts.jsonl.gz"))
    accounts = pd.read_json(snapshots[-1], lines=True, dtype={"payment_fingerprint": "string", "org_id": "string"})
    return frame, accounts


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
    r["no_prompt"] = ~r["has_prompt"].astype(bool)
    g = r.groupby("account_id")
    out = pd.DataFrame({
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
    })
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
    out["heavy_unverified"] = ((out["requests_per_active_day"] >= HEAVY_REQUESTS_PER_DAY)
                               & ~kyc.isin(["verified", "enterprise"])).astype(float)
    out["zero_data_retention"] = acc["zero_data_retention"].reindex(out.index).astype(float)
    out["in_org"] = acc["org_id"].reindex(out.index).notna().astype(float)
    card = acc["payment_fingerprint"]
    sharing = card.map(card.value_counts())
    out["accounts_sharing_payment"] = sharing.reindex(out.index).fillna(0).astype(float)
    return out.drop(columns=["first_ms", "spend"])


def roc_auc(score: pd.Series, positive: pd.Series) -> float:
    """Mann-Whitney ROC AUC (ties count half); NaN scores are left out."""
    keep = score.notna()
    score, positive = score[keep], positive[keep].astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = score.rank(method="average")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_table(values: pd.DataFrame, truth: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Per column: AUC (attack high > 0.5), separation max(AUC, 1 - AUC), and coverage.

    ``truth`` needs account_id and is_attack; accounts absent from ``values`` are left out.
    """
    joined = values.join(truth.set_index("account_id")["is_attack"], how="inner")
    rows = []
    for column in columns:
        auc = roc_auc(joined[column].astype(float), joined["is_attack"])
        rows.append({"property": column, "auc": auc, "separation": max(auc, 1 - auc),
                     "attack_mean": float(joined.loc[joined["is_attack"], column].astype(float).mean()),
                     "benign_mean": float(joined.loc[~joined["is_attack"], column].astype(float).mean()),
                     "accounts": int(joined[column].notna().sum())})
    return pd.DataFrame(rows)
