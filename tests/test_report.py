"""The daily HTML report: hand-made flags in, embedded plots and hand-counted tables out."""

from __future__ import annotations

import base64
import io
import re
from datetime import date
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillguard.config import Lakehouse, Table
from distillguard.enforcement import report as pages
from distillguard.errors import DistillguardError
from distillguard.jobs import export, report
from distillguard.models import registry
from tests.flagged_rows import FLAGGED_SCHEMA, D, flagged, write_flagged
from tests.pii import PREFIX_CHARS, landing_pii

PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _day_rows(model_run: str = "mlrun-9") -> list[tuple]:
    return [
        flagged("acc_a", "suspend_recommended", 0.99, cluster="c1", size=4, cluster_spend=9000.0, model_run=model_run),
        flagged("acc_b", "review", 0.91, cluster="c1", size=4, cluster_spend=9000.0, model_run=model_run),
        flagged("acc_c", "kyc_required", 0.40, cluster="c2", size=2, cluster_spend=12000.0, model_run=model_run),
        flagged("acc_d", "review", 0.88, cluster="solo_acc_d", size=1, cluster_spend=300.0, model_run=model_run),
    ]


@pytest.fixture
def no_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV):
        monkeypatch.delenv(name, raising=False)


def test_top_clusters_by_spend(sail: SparkSession) -> None:
    today = sail.createDataFrame(
        pd.DataFrame(
            {
                "account_id": ["a", "b", "c", "d"],
                "cluster_id": ["c1", "c1", "c2", "c3"],
                "cluster_size": [4, 4, 2, 1],
                "cluster_spend_28d": [9000.0, 9000.0, 12000.0, 300.0],
            }
        )
    )
    assert pages.top_clusters(today).values.tolist() == [
        ["c2", 2, 12000.0, 1],
        ["c1", 4, 9000.0, 2],
        ["c3", 1, 300.0, 1],
    ]


def test_report_without_mlflow(sail: SparkSession, lakehouse: Lakehouse, no_mlflow_env: None) -> None:
    write_flagged(sail, lakehouse, _day_rows())
    write_flagged(sail, lakehouse, [flagged("acc_z", "review", 0.9, day=date(2026, 11, 2))], day=date(2026, 11, 2))
    export.run(sail, lakehouse, D)
    result = report.run(sail, lakehouse, D)
    path = lakehouse.reports / "date=2026-11-03" / "report.html"
    assert result["path"] == path and result["flagged"] == 4 and result["pr_curve"] is False
    assert result["by_tier"] == {"review": 2, "kyc_required": 1, "suspend_recommended": 1}
    page = path.read_text()
    assert len(PNG.findall(page)) == 3
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in PNG.findall(page))
    assert "<td>tier review</td><td>2</td>" in page and "<td>flagged accounts</td><td>4</td>" in page
    rows = re.findall(r"<tr><td>(c\d|solo_acc_d)</td><td>(\d+)</td><td>([\d,.]+)</td><td>(\d+)</td></tr>", page)
    assert rows == [("c2", "2", "12,000.00", "1"), ("c1", "4", "9,000.00", "2"), ("solo_acc_d", "1", "300.00", "1")]
    assert "<td>2026-11-03-0001</td><td>incremental</td><td>4</td>" in page
    assert "not available: no MLflow store in this lakehouse" in page
    assert not lakehouse.mlflow_dir.exists()
    with pytest.raises(DistillguardError, match="no MLflow store"):
        report.run(sail, lakehouse, D, run_id="abc")


def _png_bytes() -> bytes:
    figure, axes = plt.subplots(figsize=(2, 2))
    axes.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def test_report_with_pr_curve_is_logged_to_the_scoring_run(
    sail: SparkSession, lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{lakehouse.mlflow_dir / 'mlflow.db'}")
    monkeypatch.delenv(registry.REGISTRY_ENV, raising=False)
    client: MlflowClient = registry.client(lakehouse)
    lakehouse.mlflow_artifacts.mkdir(parents=True)
    experiment = client.create_experiment("report-test", artifact_location=lakehouse.mlflow_artifacts.as_uri())
    training, scoring = client.create_run(experiment).info.run_id, client.create_run(experiment).info.run_id
    curve = tmp_path / "pr_curve.png"
    curve.write_bytes(_png_bytes())
    client.log_artifact(training, str(curve), "plots")
    write_flagged(sail, lakehouse, _day_rows(model_run=training))

    result = report.run(sail, lakehouse, D, run_id=scoring)
    page = result["path"].read_text()
    images = PNG.findall(page)
    assert result["pr_curve"] is True and len(images) == 4
    assert base64.b64decode(images[-1]) == curve.read_bytes()
    assert f"the model that scored the day (MLflow run {training})" in page
    assert [a.path for a in client.list_artifacts(scoring, "report")] == ["report/report.html"]
    with pytest.raises(DistillguardError, match="no MLflow run nope to attach the report to"):
        report.run(sail, lakehouse, D, run_id="nope")


def test_report_holds_no_personal_data(
    sail: SparkSession, lakehouse: Lakehouse, tiny_landing: Lakehouse, no_mlflow_env: None
) -> None:
    ips, prompts = landing_pii(tiny_landing.landing)
    ip = sorted(ips)[0]
    prompt = sorted(p for p in prompts if len(p) >= PREFIX_CHARS)[0]
    (
        sail.createDataFrame(_day_rows(), FLAGGED_SCHEMA)
        .withColumn("client_ip", F.lit(ip))
        .withColumn("prompt_text", F.lit(prompt))
        .write.format("delta")
        .partitionBy("flag_date")
        .save(lakehouse.table_path(Table.FLAGGED_ACCOUNTS))
    )
    page = report.run(sail, lakehouse, D)["path"].read_text()
    assert [i for i in ips if i in page] == []
    assert [p for p in prompts if len(p) >= PREFIX_CHARS and p[:PREFIX_CHARS] in page] == []
