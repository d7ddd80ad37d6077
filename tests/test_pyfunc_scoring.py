"""Scoring runs the registered pyfunc behind ``models:/<name>@champion``: its scores equal the booster's.

Two versions are registered on a real sqlite MLflow store and the second promoted; the
expected scores are computed here from that version's own artifact files (LightGBM text
and Platt coefficients), so a job scoring with any other model or code path fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pytest
from pyspark.sql import SparkSession

from distillguard.config import Lakehouse
from distillguard.models import registry
from distillguard.models.training_set import FEATURE_COLUMNS
from distillguard.scoring.model_scores import score_accounts
from tests.model_rows import register, spark_schema

COT = FEATURE_COLUMNS.index("intent_share_28d")
TEMPLATE = FEATURE_COLUMNS.index("top_template_share_28d")
ROWS = {"acct_a": (0.9, 0.2), "acct_b": (0.1, 0.7), "acct_c": (0.55, 0.5)}


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[registry.Champion, dict[str, Path]]]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MLFLOW_TRACKING_URI", registry.REGISTRY_ENV, registry.EXPERIMENT_ENV):
            patch.delenv(name, raising=False)
        lakehouse = Lakehouse.resolve(tmp_path_factory.mktemp("pyfunc") / "lakehouse")
        client = registry.client(lakehouse)
        first = register(lakehouse, client, 0.5, seed=1, trees=5)
        second = register(lakehouse, client, 0.6, seed=3, trees=12)
        registry.promote(client, first, "first", actor="test")
        registry.promote(client, second, "second", actor="test")
        loaded = registry.load_champion(lakehouse)
        folders = {
            v: Path(
                mlflow.artifacts.download_artifacts(
                    f"models:/{registry.MODEL_NAME}/{v}", dst_path=str(tmp_path_factory.mktemp(f"v{v}"))
                )
            )
            for v in (first, second)
        }
        yield loaded, folders


def _by_hand(folder: Path) -> dict[str, tuple[float, np.ndarray]]:
    """Score and SHAP contributions of each row from the artifact's booster file and Platt metadata."""
    booster = lgb.Booster(model_file=str(folder / "artifacts" / "booster.txt"))
    meta = json.loads((folder / "artifacts" / "meta.json").read_text())
    assert meta["features"] == list(FEATURE_COLUMNS)
    matrix = np.full((len(ROWS), len(FEATURE_COLUMNS)), np.nan)
    matrix[:, FEATURE_COLUMNS.index("kyc_tier")] = 1.0  # basic
    matrix[:, FEATURE_COLUMNS.index("plan")] = 1.0  # payg
    for i, (cot, template) in enumerate(ROWS.values()):
        matrix[i, COT], matrix[i, TEMPLATE] = cot, template
    margins = booster.predict(matrix, raw_score=True)
    contributions = booster.predict(matrix, pred_contrib=True)[:, :-1]
    return {
        account: (1 / (1 + math.exp(-(meta["platt_a"] * margins[i] + meta["platt_b"]))), contributions[i])
        for i, account in enumerate(ROWS)
    }


def test_champion_is_loaded_by_alias(champion: tuple) -> None:
    loaded, folders = champion
    assert loaded.uri == "models:/distillguard_distillation@champion"
    assert (loaded.version, loaded.threshold) == (sorted(folders)[-1], 0.6)


def test_scores_equal_the_champion_boosters(engine: SparkSession, champion: tuple) -> None:
    loaded, folders = champion
    values = {c: None for c in FEATURE_COLUMNS} | {"kyc_tier": "basic", "plan": "payg"}
    rows = [
        tuple([account, *(values | {"intent_share_28d": cot, "top_template_share_28d": template}).values()])
        for account, (cot, template) in ROWS.items()
    ]
    got = {
        r.account_id: r
        for r in score_accounts(engine.createDataFrame(rows, spark_schema()), loaded.artifact, 3).collect()
    }
    expected = _by_hand(folders[loaded.version])
    older = _by_hand(folders[min(folders)])
    assert sorted(got) == sorted(ROWS)
    for account, (score, contributions) in expected.items():
        assert got[account].score == pytest.approx(score, rel=1e-12, abs=1e-15)
        top = np.argsort(-contributions)[:3]
        assert [r.feature for r in got[account].top_reasons] == [
            FEATURE_COLUMNS[j] for j in top if contributions[j] > 0
        ]
        for reason in got[account].top_reasons:
            assert reason.contribution == pytest.approx(contributions[FEATURE_COLUMNS.index(reason.feature)])
    # The previous champion would score differently: the test tells the two apart.
    assert any(abs(older[a][0] - expected[a][0]) > 1e-6 for a in ROWS)
