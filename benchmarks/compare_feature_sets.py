"""Two feature sets on one scenario: same rows, same split, same evaluation code, side by side.

    python benchmarks/compare_feature_sets.py --new /tmp/fresh3/lakehouse --old /tmp/detect-old \\
        --truth /tmp/fresh3/lakehouse/truth/accounts.parquet [--json /tmp/compare.json]

``--new`` is the reference lakehouse: its training set as of the latest feature date (built
in memory by ``distillguard evaluate``'s code: labels, sampled negatives, campaign groups and
the time split of models/split.py) fixes the rows and the split for both sets. ``--old`` is
a lakehouse built from the same landing zone by other features code (e.g. an older commit);
its ``account_rolling`` / ``account_clusters`` values are joined to those same rows by
(account, feature date). Each set's columns are the ones its lakehouse's champion model was
trained on (model metadata ``features``), or ``--old-columns`` / ``--new-columns``.

For each set, models/classifier.py trains on the training side with that set's columns and
models/evaluation.py reports (ground truth: evaluation only): the operating point (review
threshold at population-weighted benign FPR <= ``target_fpr`` on out-of-fold scores), group
K-fold and holdout recall per campaign type, leave-one-campaign-type-out recall, and the
as-of-day census (recall per unseen campaign type, FPR per benign population, intervals by
group bootstrap); the same at a looser benign FPR (``--looser-fpr``, K-fold and census).
Last, the as-of day's flags by the rule that raised them (own score, cluster lift, own spend,
pooled cluster spend) and by truth: under each set's model above with the policy of its
features (``policy_flags``: old = any cluster lifts and pools, new = strong links only), and
as each lakehouse's own pipeline wrote them, if it did. Reads both lakehouses; writes
nothing in them (MLflow stores are read from copies).

The old lakehouse of docs/features.md ("Old features against new") has no champion (the old
code's split cannot train on this scenario), so its columns come from the old code:
``--old-columns "$(PYTHONPATH=<old package> python -c '...print(",".join(FEATURE_COLUMNS))')"``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.config import FEATURES, MODEL_BASE_NAME, SCORING, TRAINING, Lakehouse, Table, TrainingSettings
from distillguard.errors import DistillguardError
from distillguard.models import classifier, evaluation
from distillguard.models.evaluation import Evaluation
from distillguard.models.metrics import evaluation_rows
from distillguard.models.scorer import ORDINALS
from distillguard.models.split import EXCLUDED, TRAIN
from distillguard.models.training_set import FEATURE_COLUMNS, KEY_COLUMNS

ROW_COLUMNS = (*KEY_COLUMNS, "group_id", "split")
LIFT, POOLED, OWN_SCORE, OWN_SPEND = "cluster lift", "pooled cluster spend (KYC)", "own score", "own spend (KYC)"


@contextlib.contextmanager
def feature_set(columns: list[str]) -> Iterator[None]:
    """The classifier fits the given columns (it reads its module's ``FEATURE_COLUMNS``)."""
    saved = classifier.FEATURE_COLUMNS
    classifier.FEATURE_COLUMNS = tuple(columns)
    try:
        yield
    finally:
        classifier.FEATURE_COLUMNS = saved


def _mlflow_copy(lakehouse: Lakehouse, folder: Path) -> str | None:
    """A tracking URI on a copy of the lakehouse's MLflow database (the original stays untouched)."""
    source = lakehouse.home / "mlflow" / "mlflow.db"
    if not source.is_file():
        return None
    target = folder / f"{abs(hash(str(lakehouse.home)))}.db"
    shutil.copy2(source, target)
    return f"sqlite:///{target}"


def model_facts(lakehouse: Lakehouse, folder: Path) -> dict[str, dict]:
    """Per registered version: its feature columns and review threshold."""
    import mlflow
    from mlflow import MlflowClient

    uri = _mlflow_copy(lakehouse, folder)
    if uri is None:
        return {}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    facts = {}
    for version in client.search_model_versions(f"name = '{MODEL_BASE_NAME}'"):
        info = mlflow.models.get_model_info(f"models:/{MODEL_BASE_NAME}/{version.version}")
        facts[str(version.version)] = {
            "features": list((info.metadata or {}).get("features", [])),
            "threshold": float(version.tags["threshold"]),
            "aliases": list(version.aliases),
        }
    return facts


def champion_columns(facts: dict[str, dict]) -> list[str] | None:
    for fact in facts.values():
        if "champion" in fact["aliases"] and fact["features"]:
            return fact["features"]
    return None


def _read(lakehouse: Lakehouse, table: Table, columns: list[str], dates: list[date]) -> pd.DataFrame:
    """Columns of a feature table on the given dates; numbers and flags as float64 (nulls NaN)."""
    from deltalake import DeltaTable

    arrow = DeltaTable(lakehouse.table_path(table)).to_pyarrow_table(columns=["account_id", "feature_date", *columns])
    arrow = arrow.filter(pc.is_in(arrow["feature_date"], pa.array(dates, pa.date32())))
    for name in columns:
        if name not in ORDINALS:
            arrow = arrow.set_column(arrow.schema.get_field_index(name), name, pc.cast(arrow[name], pa.float64()))
    return arrow.to_pandas()


def read_features(lakehouse: Lakehouse, columns: list[str], dates: list[date]) -> pd.DataFrame:
    """One row per (account, feature date): rolling columns, then cluster columns (left join)."""
    from deltalake import DeltaTable

    def schema(table: Table) -> set[str]:
        return set(DeltaTable(lakehouse.table_path(table)).schema().to_arrow().names)

    clustered = schema(Table.ACCOUNT_CLUSTERS) - {"account_id", "feature_date"}
    rolled = schema(Table.ACCOUNT_ROLLING)
    from_clusters = [c for c in columns if c in clustered]
    from_rolling = [c for c in columns if c not in from_clusters]
    missing = [c for c in from_rolling if c not in rolled]
    if missing:
        raise DistillguardError(f"{lakehouse.home}: feature columns missing from both tables: {missing}")
    frame = _read(lakehouse, Table.ACCOUNT_ROLLING, from_rolling, dates)
    if from_clusters:
        frame = frame.merge(
            _read(lakehouse, Table.ACCOUNT_CLUSTERS, from_clusters, dates),
            on=["account_id", "feature_date"],
            how="left",
        )
    return frame[["account_id", "feature_date", *columns]]


def evaluate_set(
    name: str,
    lakehouse: Lakehouse,
    columns: list[str],
    rows: pd.DataFrame,
    as_of: date,
    truth: pd.DataFrame,
    settings: TrainingSettings,
    looser_fpr: float,
    strong_only: bool,
) -> tuple[Evaluation, Evaluation, pd.DataFrame, dict[str, float]]:
    """Train and evaluate one feature set on the shared rows and split: at the operating point,
    and (K-fold and census only) at the looser ``looser_fpr`` threshold from the same scores;
    and the as-of day's flags under the lakehouse's policy (``policy_flags``)."""
    started = time.monotonic()
    dates = sorted(set(rows["feature_date"]) | {as_of})
    values = read_features(lakehouse, columns, dates)
    frame = rows.merge(values, on=["account_id", "feature_date"], how="left", indicator=True)
    unmatched = int((frame.pop("_merge") != "both").sum())
    with feature_set(columns):
        model = classifier.train(frame[frame["split"] == TRAIN].reset_index(drop=True), settings)
        result = evaluation.evaluate_recipe(frame, model, truth, settings)
        population = values[values["feature_date"] == as_of].reset_index(drop=True)
        census_score = model.scorer.score(population)
    trained = set(frame.loc[frame["split"].isin([TRAIN, EXCLUDED]), "account_id"])
    census = evaluation.population_tables(population, census_score, model.threshold.value, truth, trained, settings)
    result.metrics.update(census.metrics)
    result.tables.update(census.tables)

    oof = evaluation_rows(frame[frame["split"] == TRAIN].assign(oof=model.oof_scores), TRAIN)
    looser = classifier.choose_threshold(
        oof["label"].to_numpy(dtype=int), oof["oof"].to_numpy(), oof["eval_weight"].to_numpy(dtype=float), looser_fpr
    ).value
    loose = evaluation.population_tables(population, census_score, looser, truth, trained, settings)
    flagged = oof["oof"].to_numpy() >= looser
    loose.tables["kfold_recall_by_type"] = evaluation.per_type_recall(
        oof, flagged, evaluation.campaign_types(oof, truth), oof["group_id"].to_numpy(), settings
    )
    point = evaluation.operating_point(oof, oof["oof"].to_numpy(), looser, settings)
    loose.metrics.update({"threshold": looser, **{f"kfold_{k}": v for k, v in point.items()}})
    facts = {
        "columns": float(len(columns)),
        "rows_without_features": float(unmatched),
        "seconds": round(time.monotonic() - started, 1),
    }
    scores = pd.Series(census_score, index=population["account_id"].to_numpy())
    flags = policy_flags(
        policy_inputs(lakehouse, as_of), scores, model.threshold.value, model.suspend.value, strong_only
    )
    print(f"{name}: {len(columns)} columns, {unmatched} rows without features, {facts['seconds']}s", file=sys.stderr)
    return result, loose, flags, facts


def _cell(recall: float, low: float | None = None, high: float | None = None) -> str:
    if recall is None or (isinstance(recall, float) and np.isnan(recall)):
        return "n/a"
    if low is None:
        return f"{recall:.3f}"
    return f"{recall:.3f} [{low:.3f}, {high:.3f}]"


def operating_points(results: dict[str, Evaluation], loose: dict[str, Evaluation], looser_fpr: float) -> pd.DataFrame:
    """Overall recall and benign FPR per set: holdout and K-fold at the operating point, K-fold looser."""
    out = []
    for name, result in results.items():
        for row in result.tables["operating_point"].to_dict("records"):
            kfold = row["rows"].startswith("group K-fold")
            out.append(
                {
                    "features": name,
                    "rows": row["rows"],
                    "threshold": f"{result.metrics['threshold']:.4f}",
                    "positives": row["positive_accounts"],
                    "recall [CI]": f"{row['recall']:.4f} {row['recall_ci']}",
                    "benign FPR (CI high)": f"{row['benign_fpr']:.5f} ({row['benign_fpr_ci_high']:.5f})",
                    "PR-AUC": f"{result.metrics['kfold_pr_auc' if kfold else 'pr_auc']:.4f}",
                }
            )
        m = loose[name].metrics
        out.append(
            {
                "features": name,
                "rows": f"group K-fold, threshold at benign FPR <= {looser_fpr:.1%}",
                "threshold": f"{m['threshold']:.4f}",
                "positives": out[-1]["positives"],
                "recall [CI]": f"{m['kfold_recall_at_fpr']:.4f} "
                f"[{m['kfold_recall_at_fpr_ci_low']:.3f}, {m['kfold_recall_at_fpr_ci_high']:.3f}]",
                "benign FPR (CI high)": f"{m['kfold_benign_fpr']:.5f} ({m['kfold_benign_fpr_ci_high']:.5f})",
                "PR-AUC": f"{m['kfold_pr_auc']:.4f}",
            }
        )
    return pd.DataFrame(out)


def by_type(results: dict[str, Evaluation], parts: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """Recall per campaign type: for each (table, label) part, its n then one column per set."""
    names, cells = list(results), {}
    for name, result in results.items():
        for table, label in parts:
            for row in result.tables.get(table, pd.DataFrame()).to_dict("records"):
                cell = cells.setdefault(row["campaign_type"], {})
                cell[f"{label} n"] = str(row["accounts"])
                interval = (row["ci_low"], row["ci_high"]) if "ci_low" in row else ()
                cell[f"{label} {name}"] = _cell(row["recall"], *interval)
    order = [f"{label} {suffix}" for _, label in parts for suffix in ("n", *names)]
    frame = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=order).sort_index().fillna("-")
    return frame.rename_axis("campaign_type").reset_index()


def by_population(results: dict[str, Evaluation], cleared: bool) -> pd.DataFrame:
    """Benign FPR per benign population of the census (and the cleared incidents) per set."""
    names, cells = list(results), {}
    for name, result in results.items():
        for row in result.tables.get("population_fpr_by_benign_population", pd.DataFrame()).to_dict("records"):
            cell = cells.setdefault(row["benign_population"], {})
            cell["accounts"] = str(row["accounts"])
            cell[f"flagged {name}"] = str(row["flagged"])
            cell[f"FPR {name}"] = _cell(row["fpr"], row["ci_low"], row["ci_high"])
        for row in result.tables["cleared_accounts_fpr"].to_dict("records") if cleared else []:
            cell = cells.setdefault(f"cleared incidents, {row['rows']}", {})
            cell["accounts"] = str(row["cleared_accounts"])
            cell[f"flagged {name}"] = str(row["flagged_again"])
            cell[f"FPR {name}"] = _cell(row["fpr"])
    columns = ["accounts", *[f"{k} {n}" for n in names for k in ("flagged", "FPR")]]
    frame = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=columns).fillna("-")
    return frame.rename_axis("benign_population").reset_index()


def side_by_side(
    results: dict[str, Evaluation], loose: dict[str, Evaluation], looser_fpr: float
) -> dict[str, pd.DataFrame]:
    at = f"at benign FPR <= {looser_fpr:.1%}"
    return {
        "operating point (population-weighted)": operating_points(results, loose, looser_fpr),
        "recall by campaign type at the operating point": by_type(
            results,
            (
                ("kfold_recall_by_type", "K-fold OOF"),
                ("leave_one_type_out", "LOO"),
                ("holdout_recall_by_type", "holdout"),
                ("population_recall_by_type", "census unseen"),
            ),
        ),
        "benign FPR by population at the operating point (as-of-day census)": by_population(results, cleared=True),
        f"recall by campaign type {at}": by_type(
            loose, (("kfold_recall_by_type", "K-fold OOF"), ("population_recall_by_type", "census unseen"))
        ),
        f"benign FPR by population {at} (as-of-day census)": by_population(loose, cleared=False),
    }


def policy_inputs(lakehouse: Lakehouse, day: date) -> pd.DataFrame:
    """What the lift and KYC rules read on ``day``: own spend and KYC tier, cluster id, size,
    spend and (strong-link lakehouses only) the account's strong link types."""
    from deltalake import DeltaTable

    def read(table: Table, columns: list[str]) -> pd.DataFrame:
        delta = DeltaTable(lakehouse.table_path(table))
        present = [c for c in columns if c in delta.schema().to_arrow().names]
        arrow = delta.to_pyarrow_table(columns=["account_id", "feature_date", *present])
        arrow = arrow.filter(pc.equal(arrow["feature_date"], pa.scalar(day, pa.date32())))
        return arrow.to_pandas().drop(columns="feature_date")

    longest = max(FEATURES.windows)
    own = read(Table.ACCOUNT_ROLLING, [f"spend_usd_{longest}d", "kyc_tier"])
    own = own.rename(columns={f"spend_usd_{longest}d": f"spend_{longest}d"})
    clusters = read(Table.ACCOUNT_CLUSTERS, ["cluster_id", "cluster_size", f"cluster_spend_{longest}d", "link_types"])
    return own.merge(clusters, on="account_id", how="left")


def policy_flags(
    inputs: pd.DataFrame, score: pd.Series, threshold: float, suspend_threshold: float, strong_only: bool
) -> pd.DataFrame:
    """The flags scoring/policy.py raises from these scores, with the rule that raised each tier.

    ``strong_only`` is main's policy: lift and pooled spend only inside clusters of
    2..``cluster_lift_max_size`` members with a strong link, own spend elsewhere. Without it,
    the policy of 660a3ca: any cluster of 2..max lifts, and the KYC rule always reads the
    cluster's spend (no size cap). Reasons: score tiers are ``own score`` when the account's
    own score reaches the threshold, else ``cluster lift``; ``kyc_required`` is ``own spend``
    when the account's own projected spend reaches the KYC threshold, else ``pooled``."""
    longest = max(FEATURES.windows)
    f = inputs.assign(score=inputs["account_id"].map(score).astype(float))
    f = f[f["score"].notna()].copy()
    size = f["cluster_size"].astype(float)
    eligible = size.between(2, SCORING.cluster_lift_max_size).to_numpy()
    if strong_only:
        eligible &= f["link_types"].map(lambda v: v is not None and len(v) > 0).to_numpy(dtype=bool)
    top = f.groupby("cluster_id", dropna=False)["score"].transform("max").where(f["cluster_id"].notna(), f["score"])
    final = np.where(eligible, np.maximum(f["score"], SCORING.cluster_lift * top), f["score"])
    own_spend = f[f"spend_{longest}d"].astype(float).fillna(0.0)
    cluster_spend = f[f"cluster_spend_{longest}d"].astype(float).fillna(own_spend)
    spend = np.where(eligible, cluster_spend, own_spend) if strong_only else cluster_spend
    per_month = 30.0 / longest
    kyc = f["kyc_tier"].isin(["none", "basic"]).to_numpy() & (spend * per_month >= FEATURES.kyc_review_monthly_usd)
    suspend, review = final >= max(suspend_threshold, threshold), final >= threshold
    f["risk_tier"] = np.select([suspend, kyc, review], ["suspend_recommended", "kyc_required", "review"], None)
    f["reason"] = np.where(
        f["risk_tier"] == "kyc_required",
        np.where(own_spend * per_month >= FEATURES.kyc_review_monthly_usd, OWN_SPEND, POOLED),
        np.where(f["score"] >= threshold, OWN_SCORE, LIFT),
    )
    return f[f["risk_tier"].notna()][["account_id", "risk_tier", "reason", "score"]]


def reason_table(flags: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Flags counted by (reason, tier) and by truth (attack or benign), with benign populations."""
    columns = ["reason", "tier", "attack", "benign", "total", "benign populations"]
    if flags.empty:
        return pd.DataFrame(columns=columns)
    known = truth.set_index("account_id")
    flags = flags.assign(
        kind=np.where(flags["account_id"].map(known["is_attack"]).fillna(False).astype(bool), "attack", "benign"),
        population=flags["account_id"].map(known["archetype"]),
    )
    rows = []
    for (reason, tier), group in flags.groupby(["reason", "risk_tier"]):
        benign = group[group["kind"] == "benign"]
        counts = benign["population"].value_counts().sort_index()
        rows.append(
            {
                "reason": reason,
                "tier": tier,
                "attack": int((group["kind"] == "attack").sum()),
                "benign": len(benign),
                "total": len(group),
                "benign populations": ", ".join(f"{k} {v}" for k, v in counts.items()),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def pipeline_flags(lakehouse: Lakehouse, facts: dict[str, dict], day: date) -> pd.DataFrame | None:
    """The flags the lakehouse's own scoring job wrote on ``day``, with the rule that raised
    each tier (as ``policy_flags``, the threshold being that of the model version that scored
    it); None when the lakehouse has no flags table."""
    from deltalake import DeltaTable

    path = lakehouse.table_path(Table.FLAGGED_ACCOUNTS)
    if not (Path(path) / "_delta_log").is_dir():
        return None
    flags = DeltaTable(path).to_pandas()
    flags = flags[flags["flag_date"].astype(str) == day.isoformat()].copy()
    longest = max(FEATURES.windows)
    threshold = flags["model_version"].astype(str).map(lambda v: facts[v]["threshold"]).astype(float)
    own_spend = flags[f"spend_{longest}d"].astype(float) * 30.0 / longest >= FEATURES.kyc_review_monthly_usd
    flags["reason"] = np.where(
        flags["risk_tier"] == "kyc_required",
        np.where(own_spend, OWN_SPEND, POOLED),
        np.where(flags["score"] >= threshold, OWN_SCORE, LIFT),
    )
    return flags[["account_id", "risk_tier", "reason", "score"]]


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(none)"
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new", required=True, type=Path, help="reference lakehouse (rows and split come from it)")
    parser.add_argument("--old", required=True, type=Path, help="lakehouse built from the same landing zone")
    parser.add_argument("--truth", type=Path, help="ground truth (default: <new>/truth/accounts.parquet)")
    parser.add_argument("--as-of", type=date.fromisoformat, help="default: the reference's latest feature date")
    parser.add_argument("--new-columns", help="comma-separated columns (default: its champion's features)")
    parser.add_argument("--old-columns", help="comma-separated columns (default: its champion's features)")
    parser.add_argument(
        "--looser-fpr", type=float, default=0.01, help="second threshold's benign FPR target (default 0.01)"
    )
    parser.add_argument("--json", type=Path, help="also write every table here")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except DistillguardError as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from distillguard.engine import get_spark
    from distillguard.jobs.evaluate import training_frame
    from distillguard.jobs.train import latest_feature_date

    new, old = Lakehouse.resolve(home=args.new), Lakehouse.resolve(home=args.old)
    truth = evaluation.read_truth(args.truth or new.truth / "accounts.parquet")
    settings = TRAINING
    with tempfile.TemporaryDirectory() as folder:
        facts = {"new": model_facts(new, Path(folder)), "old": model_facts(old, Path(folder))}
    columns = {
        "new": args.new_columns.split(",") if args.new_columns else champion_columns(facts["new"]) or FEATURE_COLUMNS,
        "old": args.old_columns.split(",") if args.old_columns else champion_columns(facts["old"]),
    }
    if not columns["old"]:
        raise DistillguardError(f"{old.home} has no champion model to name its features: pass --old-columns")
    spark = get_spark()
    as_of = args.as_of or latest_feature_date(spark, new)
    rows = training_frame(spark, new, as_of, settings)[list(ROW_COLUMNS)]
    print(
        f"rows {len(rows)} (train {int((rows['split'] == TRAIN).sum())}), as of {as_of}, "
        f"campaign groups {rows['group_id'].nunique()}",
        file=sys.stderr,
    )
    results, loose, emulated, facts_by_set = {}, {}, {}, {}
    for name, lakehouse in (("old", old), ("new", new)):
        results[name], loose[name], emulated[name], facts_by_set[name] = evaluate_set(
            name, lakehouse, list(columns[name]), rows, as_of, truth, settings, args.looser_fpr, name == "new"
        )
    tables = side_by_side(results, loose, args.looser_fpr)
    flags = {
        f"{name}: model above (this recipe) + {name} policy": reason_table(emulated[name], truth)
        for name in ("old", "new")
    }
    for name, lakehouse in (("old", old), ("new", new)):
        written = pipeline_flags(lakehouse, facts[name], as_of)
        flags[f"{name}: flags its own pipeline wrote"] = (
            reason_table(written, truth) if written is not None else pd.DataFrame({"note": ["no flags table"]})
        )
    print(f"# Old ({old.home}) vs new ({new.home}) features, same rows and split, as of {as_of}\n")
    print(
        f"Columns: old {len(columns['old'])}, new {len(columns['new'])}. Population-weighted; review threshold at "
        f"benign FPR <= {settings.target_fpr:.2%} on out-of-fold scores; intervals: group bootstrap "
        f"({settings.interval_level:.0%}).\n"
    )
    for name, table in tables.items():
        print(f"## {name}\n\n{_markdown(table)}\n")
    for name, table in flags.items():
        print(f"## flags on {as_of} by reason, {name}\n\n{_markdown(table)}\n")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "as_of": as_of.isoformat(),
                    "facts": facts_by_set,
                    "metrics": {n: r.metrics for n, r in results.items()},
                    "metrics_looser": {n: r.metrics for n, r in loose.items()},
                    "tables": {n: t.to_dict("records") for n, t in tables.items()},
                    "raw": {n: {k: t.to_dict("records") for k, t in r.tables.items()} for n, r in results.items()},
                    "flags": {n: t.to_dict("records") for n, t in flags.items()},
                },
                indent=1,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
