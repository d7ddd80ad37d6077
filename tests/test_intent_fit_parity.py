"""The intent fit's shortcuts give what scikit-learn and MLflow would: ``hashed_features`` is
the vectorizer's own output, ``intent.fit`` the coefficients ``Pipeline.fit`` finds, and
``registry.pinned`` the installed versions (so MLflow need not infer them)."""

from __future__ import annotations

from dataclasses import replace
from importlib import metadata

import numpy as np
from threadpoolctl import threadpool_limits

from distillguard.config import INTENT
from distillguard.features.intent import hashed_features
from distillguard.models import intent, registry
from tests.test_intent_model import _prompts


def test_hashed_features_are_the_vectorizers_output_bit_for_bit() -> None:
    pipeline = intent.pipeline(INTENT)
    texts = ["ΑΣ ΟΔΟΣ", "a\tb\nc  d", "Hello HELLO hello", "", " ", "step by step, step"]
    got, want = hashed_features(pipeline, texts), pipeline.steps[0][1].transform(texts)
    assert got.shape == want.shape == (6, INTENT.hash_features)
    assert (got != want).nnz == 0
    assert got[2].nnz == want[2].nnz > 0 and got[3].nnz == 0


def test_fit_finds_the_coefficients_pipeline_fit_finds() -> None:
    settings = replace(INTENT, calibration_every=2)
    prompts = intent.canonical_order(_prompts(4))
    fitted = intent.fit(prompts, settings)
    held = prompts["account_id"].isin(
        intent.calibration_accounts(prompts.groupby("account_id", as_index=False)["label"].max(), settings)
    )
    train = prompts[~held]
    with threadpool_limits(limits=1):  # as intent.fit: one thread, no reduction split by thread count
        reference = intent.pipeline(settings).fit(train["prompt_text"].tolist(), train["label"].to_numpy())
    ours, theirs = fitted.pipeline.steps[-1][1], reference.steps[-1][1]
    assert np.array_equal(ours.coef_, theirs.coef_) and np.array_equal(ours.intercept_, theirs.intercept_)
    texts = prompts["prompt_text"].tolist()
    assert np.array_equal(fitted.pipeline.predict_proba(texts), reference.predict_proba(texts))


def test_pinned_names_the_installed_versions() -> None:
    assert registry.pinned("numpy", "scikit-learn") == [
        f"numpy=={np.__version__}",
        f"scikit-learn=={metadata.version('scikit-learn')}",
    ]
