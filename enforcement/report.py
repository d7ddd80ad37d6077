"""Static HTML report of one daily run: ``<reports>/date=D/report.html``, one self-contained file.

For whoever looks at the day without a notebook: flagged counts by tier over the last
weeks, the day's score distribution, the clusters with the most spend, the day's exports,
the allow-listed accounts that would have been flagged (withheld from the exports, with
who allow-listed them and why) and, when MLflow holds it, the precision-recall curve of
the model that scored the day (``plots/pr_curve.png`` of its training run). Counts, plots
and clusters cover the exported flags only. Plots are PNGs embedded as base64, so the
file can be mailed or attached to the scoring run in MLflow. It reads only the flagged
table, the allow-list and export runs: no client_ip or prompt_text can reach it.

Only bounded summaries reach the driver (``day_view``): counts per tier, a fixed-bin score
histogram, the top clusters and the distinct model and run ids are aggregated on the
engine; the one list collected row by row is the allow-listed accounts the day held back,
bounded by the allow-list itself. A day with millions of flags renders like one with ten.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from distillguard import tables  # noqa: E402
from distillguard.config import Lakehouse, Table  # noqa: E402
from distillguard.enforcement.flags import CLUSTER_SPEND  # noqa: E402
from distillguard.scoring.policy import TIERS  # noqa: E402

TIER_COLOURS = {"review": "#f2c14e", "kyc_required": "#f78154", "suspend_recommended": "#b5173b"}
HISTORY_DAYS = 28
TOP_CLUSTERS = 10
SCORE_BINS = 20
PR_CURVE_ARTIFACT = "plots/pr_curve.png"
REPORT_ARTIFACT_DIR = "report"  # the folder of the scoring run the report is attached to


def report_path(lakehouse: Lakehouse, day: date) -> Path:
    return lakehouse.reports / f"date={day.isoformat()}" / "report.html"


def png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def tier_history(history: pd.DataFrame, day: date) -> Figure:
    """Stacked daily flagged counts by tier, every day of the window shown (zeros included)."""
    days = pd.date_range(day - timedelta(days=HISTORY_DAYS - 1), day).date
    table = (
        history.pivot_table(index="flag_date", columns="risk_tier", values="count", aggfunc="sum")
        .reindex(index=days, columns=list(TIERS))
        .fillna(0)
        if len(history)
        else pd.DataFrame(0, index=days, columns=list(TIERS))
    )
    figure, axes = plt.subplots(figsize=(8, 3.2))
    bottom = pd.Series(0.0, index=table.index)
    for tier in TIERS:
        axes.bar(
            [d.isoformat()[5:] for d in table.index], table[tier], bottom=bottom, label=tier, color=TIER_COLOURS[tier]
        )
        bottom += table[tier]
    axes.set(title=f"Flagged accounts per day by tier (last {HISTORY_DAYS} days)", ylabel="accounts")
    axes.tick_params(axis="x", labelrotation=90, labelsize=7)
    axes.legend(fontsize=8)
    return figure


def score_histogram(today: DataFrame) -> pd.DataFrame:
    """(risk_tier, bin, count) of the exported flags' scores in ``SCORE_BINS`` equal bins of [0, 1]."""
    index = F.least(F.floor(F.col("score") * SCORE_BINS), F.lit(SCORE_BINS - 1)).cast("int")
    return today.groupBy("risk_tier", index.alias("bin")).count().toPandas()


def score_distribution(histogram: pd.DataFrame) -> Figure:
    """The day's score histogram per tier, drawn from its bin counts."""
    figure, axes = plt.subplots(figsize=(6, 3.2))
    for tier in TIERS:
        bins = histogram[histogram["risk_tier"] == tier] if len(histogram) else histogram
        if len(bins):
            axes.hist(
                (bins["bin"] + 0.5) / SCORE_BINS,
                bins=SCORE_BINS,
                range=(0, 1),
                weights=bins["count"],
                alpha=0.7,
                label=tier,
                color=TIER_COLOURS[tier],
            )
    axes.set(
        title="Scores of the day's flagged accounts",
        xlabel="score (after cluster lift)",
        ylabel="accounts",
        xlim=(0, 1),
    )
    if len(histogram):
        axes.legend(fontsize=8)
    return figure


def top_clusters(today: DataFrame) -> pd.DataFrame:
    """Clusters of the day's flags by 28-day cluster spend, with how many members are flagged
    (aggregated and ranked on the engine: ``TOP_CLUSTERS`` rows reach the driver)."""
    grouped = (
        today.groupBy("cluster_id")
        .agg(
            F.max("cluster_size").alias("cluster_size"),
            F.max(CLUSTER_SPEND).alias(CLUSTER_SPEND),
            F.count("account_id").alias("flagged"),
        )
        .orderBy(F.col(CLUSTER_SPEND).desc(), F.col("cluster_id"))
        .limit(TOP_CLUSTERS)
        .toPandas()
    )
    return grouped[["cluster_id", "cluster_size", CLUSTER_SPEND, "flagged"]].reset_index(drop=True)


@dataclass(frozen=True)
class DayView:
    """What the report shows of one flag date, every part bounded in size."""

    by_tier: dict[str, int]
    histogram: pd.DataFrame
    clusters: pd.DataFrame
    held: pd.DataFrame
    model_versions: list[str]
    scoring_runs: list[str]
    model_runs: list[str]

    @property
    def flagged(self) -> int:
        return sum(self.by_tier.values())


def _distinct(rows: DataFrame, column: str) -> list[str]:
    return sorted(r[0] for r in rows.select(column).where(F.col(column).isNotNull()).distinct().collect())


def day_view(day_rows: DataFrame) -> DayView:
    """The day's flagged rows -> exported tier counts, histogram, top clusters; allow-listed rows held back."""
    exported = ~F.coalesce(F.col("allow_listed"), F.lit(False))
    today = day_rows.where(exported)
    counts = {r["risk_tier"]: r["count"] for r in today.groupBy("risk_tier").count().collect()}
    held = day_rows.where(~exported).select("account_id", "risk_tier", "score").toPandas()
    return DayView(
        {tier: int(counts.get(tier, 0)) for tier in TIERS},
        score_histogram(today),
        top_clusters(today),
        held,
        _distinct(day_rows, "model_version"),
        _distinct(day_rows, "scoring_run_id"),
        _distinct(day_rows, "model_run_id"),
    )


def cluster_spend(clusters: pd.DataFrame) -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3.2))
    ordered = clusters.iloc[::-1]
    axes.barh(ordered["cluster_id"], ordered[CLUSTER_SPEND], color="#3c6e71")
    axes.set(title=f"Top {TOP_CLUSTERS} clusters by 28-day spend", xlabel="USD, 28 days")
    axes.tick_params(axis="y", labelsize=7)
    return figure


def mlflow_client(lakehouse: Lakehouse) -> Any:
    """The MLflow client, or None when the lakehouse has no MLflow store yet (never creates one)."""
    from distillguard.models import registry

    default = lakehouse.mlflow_tracking_uri.startswith(f"sqlite:///{lakehouse.mlflow_dir}")
    if default and not (lakehouse.mlflow_dir / "mlflow.db").is_file():
        return None
    return registry.client(lakehouse)


def pr_curve(client: Any, model_runs: list[str]) -> tuple[str | None, str]:
    """The PR curve PNG of the training run of the model that scored the day (else the champion)."""
    if client is None:
        return None, "no MLflow store in this lakehouse"
    from distillguard.models import registry

    runs = sorted(model_runs)
    source = "the model that scored the day"
    if not runs:
        current = registry.champion(client)
        if current is None:
            return None, "no champion model registered"
        runs, source = [current.run_id], f"champion version {current.version}"
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(runs[-1], PR_CURVE_ARTIFACT, folder)
        except (MlflowException, OSError):
            return None, f"run {runs[-1]} has no {PR_CURVE_ARTIFACT}"
        return base64.b64encode(Path(path).read_bytes()).decode(), f"{source} (MLflow run {runs[-1]})"


def exports(spark: SparkSession, lakehouse: Lakehouse, day: date) -> pd.DataFrame:
    if not tables.exists(lakehouse, Table.EXPORT_RUNS):
        return pd.DataFrame()
    return (
        tables.read(spark, lakehouse, Table.EXPORT_RUNS)
        .where(F.col("flag_date") == F.lit(day))
        .select("export_id", "kind", "rows", "new", "changed", "withdrawn", "folder")
        .orderBy("export_id")
        .toPandas()
    )


def _table(frame: pd.DataFrame, header: bool = True) -> str:
    if not len(frame):
        return "<p>none</p>"
    head = "<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table>{head}{body}</table>"


def _cell(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _image(data: str | None, caption: str) -> str:
    """The embedded PNG with its caption as alt text, or why it is missing."""
    return (
        f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        if data
        else f"<p>not available: {html.escape(caption)}</p>"
    )


def allow_listed(held: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """The day's allow-listed accounts that a tier would have flagged, with their entry, by score."""
    columns = ["account_id", "risk_tier", "score", "added_by", "added_on", "reason"]
    if not len(held):
        return pd.DataFrame(columns=columns)
    joined = held[["account_id", "risk_tier", "score"]].merge(entries, on="account_id", how="left")
    return joined[columns].sort_values(["score", "account_id"], ascending=[False, True]).reset_index(drop=True)


def render(
    day: date,
    summary: dict[str, Any],
    figures: dict[str, str],
    clusters: pd.DataFrame,
    exports: pd.DataFrame,
    held: pd.DataFrame,
    pr_curve: tuple[str | None, str],
    export_folder: Path,
) -> str:
    facts = pd.DataFrame(list(summary.items()))
    caption = f"<p>{html.escape(pr_curve[1])}</p>" if pr_curve[0] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>distillguard {day}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}} img{{max-width:100%}}</style></head><body>
<h1>distillguard daily report, {day}</h1>
{_table(facts, header=False)}
<h2>Flagged accounts by tier</h2>{_image(figures["tiers"], "daily flagged counts by tier")}
<h2>Score distribution</h2>{_image(figures["scores"], "score distribution")}
<h2>Top clusters by spend</h2>{_image(figures["clusters"], "top clusters by spend")}{_table(clusters)}
<h2>Exports to enforcement</h2><p>{html.escape(str(export_folder))}</p>{_table(exports)}
<h2>Allow-listed accounts that would have been flagged (not exported)</h2>{_table(held)}
<h2>Model precision-recall (holdout)</h2>{caption}{_image(*pr_curve)}
</body></html>
"""


def latest_scoring_run(spark: SparkSession, lakehouse: Lakehouse, day: date) -> str | None:
    """The scoring run id of the day's most recently scored flag, if any."""
    if not tables.exists(lakehouse, Table.FLAGGED_ACCOUNTS):
        return None
    row = (
        tables.read(spark, lakehouse, Table.FLAGGED_ACCOUNTS)
        .where(F.col("flag_date") == F.lit(day))
        .orderBy(F.col("scored_at").desc())
        .select("scoring_run_id")
        .first()
    )
    return row[0] if row else None
