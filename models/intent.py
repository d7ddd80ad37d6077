"""Prompt-level extraction-intent scorer: trained point in time, tracked and registered in MLflow.

What it learns: the prompts of accounts in incidents decided as ``distillation`` (their
label window only) against the prompts of investigated-and-cleared (``benign``) accounts
and of a hashed sample of unlabelled accounts (assumed benign, as in the account model).
Only incidents decided on or before ``as_of`` and requests on or before it are read.

How: hashed character n-grams (``char_wb``, no vocabulary, so any script or language
and any wording; nothing about the prompts is stored in the model) and a class-balanced
logistic regression. Accounts, not prompts, are split (hashed, stratified by class): one
in ``calibration_every`` is held out. The threshold is chosen for what the account model
reads, the share of an account's prompts at or above it (``intent_share``): among the
scores that at most each of ``negative_prompt_rates`` of held-out negative prompts reach,
the one whose per-account share best separates the held-out accounts (ROC AUC; ties to the
strictest). A strict 1% rate keeps a few prompts per campaign account and reads as noise at
account level; on the demo (as of 2026-11-21) the held-out account AUC of the share was
0.645 at 1% and 0.894 at 25%. The registered model is the one evaluated (fitted on the
training accounts only).

Registry: ``INTENT_MODEL_NAME`` (config), one version per ``as_of`` (tag), with tags
``threshold`` and ``text_chars``. The features of day D use the newest version whose
``as_of`` <= D (``scorer_as_of``); training the same ``as_of`` twice returns the
existing version instead of registering a duplicate. The raw prompts it reads are PII:
they stay on the driver in memory; no example, sample or vocabulary is logged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

from distillguard import tables
from distillguard.config import INTENT, INTENT_MODEL_NAME, IntentSettings, Lakehouse, Table
from distillguard.errors import DistillguardError
from distillguard.features.intent import IntentScorer, hashed_features, predict_scores
from distillguard.models import registry
from distillguard.models.training_set import BENIGN, POSITIVE, _hash_unit

EXPERIMENT_NAME = "distillguard-intent"
# What a logged intent model needs to load (skops is its serialisation), pinned on logging.
PACKAGES = ("mlflow", "numpy", "pandas", "scikit-learn", "scipy", "skops")
AS_OF_TAG, THRESHOLD_TAG, TEXT_CHARS_TAG = "as_of", "threshold", "text_chars"
_LOADED: dict[str, Any] = {}


def labelled_accounts(incidents: DataFrame, as_of: date) -> DataFrame:
    """(account_id, label, window_start, window_end) of incidents decided by ``as_of``;
    an account in both a distillation and a benign incident counts as distillation."""
    return incidents.where((F.col("decided_on") <= F.lit(as_of)) & F.col("label").isin(POSITIVE, BENIGN)).select(
        "account_id",
        (F.col("label") == POSITIVE).cast("int").alias("label"),
        "window_start",
        F.least("window_end", F.lit(as_of)).alias("window_end"),
    )


def training_prompts(raw: DataFrame, incidents: DataFrame, as_of: date, settings: IntentSettings = INTENT) -> DataFrame:
    """(account_id, label, request_id, prompt_text): at most ``prompts_per_account`` prompts
    per account, each cut to ``prompt_chars``; labelled accounts within their windows,
    sampled unlabelled accounts within the last ``unlabelled_days`` before ``as_of``."""
    with_text = raw.where(F.col("prompt_text").isNotNull() & (F.col("event_date") <= F.lit(as_of)))
    labels = labelled_accounts(incidents, as_of)
    labelled = (
        with_text.join(labels, "account_id")
        .where((F.col("event_date") >= F.col("window_start")) & (F.col("event_date") <= F.col("window_end")))
        .groupBy("account_id", "request_id", "prompt_text")
        .agg(F.max("label").alias("label"))
    )
    known = incidents.where(F.col("decided_on") <= F.lit(as_of)).select("account_id").distinct()
    unlabelled = (
        with_text.where(F.col("event_date") > F.lit(as_of - timedelta(days=settings.unlabelled_days)))
        .join(known, "account_id", "left_anti")
        .where(_hash_unit("account_id", seed=settings.sample_seed) < settings.unlabelled_sample_fraction)
        .select("account_id", "request_id", "prompt_text", F.lit(0).alias("label"))
    )
    rows = labelled.unionByName(unlabelled).withColumn("pick_key", _hash_unit("request_id", seed=settings.sample_seed))
    # Sail cannot order a window by an expression: the hash is a column first.
    pick = Window.partitionBy("account_id").orderBy("pick_key", "request_id")
    return (
        rows.withColumn("pick", F.row_number().over(pick))
        .where(F.col("pick") <= settings.prompts_per_account)
        .select(
            "account_id",
            "label",
            "request_id",
            F.substring("prompt_text", 1, settings.prompt_chars).alias("prompt_text"),
        )
    )


def pipeline(settings: IntentSettings = INTENT) -> Pipeline:
    return make_pipeline(
        HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(settings.ngram_min, settings.ngram_max),
            n_features=settings.hash_features,
            alternate_sign=False,
            lowercase=True,
        ),
        LogisticRegression(C=settings.regularization_c, class_weight="balanced", max_iter=1_000),
    )


def calibration_accounts(accounts: pd.DataFrame, settings: IntentSettings = INTENT) -> set[str]:
    """One account in ``calibration_every`` per class, by a stable hash order (rank 0 first)."""
    ordered = accounts.assign(key=pd.util.hash_pandas_object(accounts["account_id"], index=False).astype("uint64"))
    ordered = ordered.sort_values(["label", "key", "account_id"])
    rank = ordered.groupby("label").cumcount()
    return set(ordered.loc[rank % settings.calibration_every == 0, "account_id"])


def _auc(label: pd.Series, value: pd.Series) -> float:
    """ROC AUC of per-account values against per-account labels (NaN with one class)."""
    if label.nunique() < 2:
        return float("nan")
    return float(roc_auc_score(label.to_numpy(), value.reindex(label.index).to_numpy()))


def choose_threshold(
    score: np.ndarray, y: np.ndarray, accounts: np.ndarray, rates: tuple[float, ...]
) -> tuple[float, float, float]:
    """(threshold, negative prompt rate, account AUC): for each rate, the score that at most
    that share of negative prompts reach; kept is the one whose per-account share of prompts
    at or above it has the highest ROC AUC between accounts (ties and a one-class holdout:
    the strictest rate)."""
    if not rates:
        raise DistillguardError("IntentSettings.negative_prompt_rates is empty: give at least one rate")
    label = pd.Series(y).groupby(accounts).max()
    options = []
    for rate in sorted(rates):
        threshold = float(np.quantile(score[y == 0], 1 - rate, method="higher"))
        options.append((threshold, rate, _auc(label, pd.Series(score >= threshold).groupby(accounts).mean())))
    best = options[0]
    for option in options[1:]:
        if option[2] > best[2]:
            best = option
    return best


@dataclass(frozen=True)
class IntentFit:
    pipeline: Pipeline
    threshold: float
    metrics: dict[str, float]


def canonical_order(prompts: pd.DataFrame) -> pd.DataFrame:
    """The prompts sorted by (account_id, request_id, prompt_text, label), index reset: the
    engine hands rows over in whatever order its shuffles produced, and the solver's sums
    over rows (hence the last bits of the coefficients) follow that order."""
    keys = [c for c in ("account_id", "request_id", "prompt_text", "label") if c in prompts.columns]
    return prompts.sort_values(keys, kind="mergesort").reset_index(drop=True)


def fit(prompts: pd.DataFrame, settings: IntentSettings = INTENT) -> IntentFit | None:
    """Fit on the training accounts, choose the threshold on the held-out ones; None when
    either class has fewer than ``min_accounts_per_class`` accounts with prompts.

    Reproducible: the same rows in any order give the same coefficients and threshold, bit
    for bit. Rows are put in :func:`canonical_order` and the fit and holdout scoring run on
    one BLAS/OpenMP thread (a multi-threaded reduction splits its sums by thread count and
    timing). Coefficients near an operating threshold matter: a last-bit difference of
    ~1e-11 moves prompt scores across the intent threshold and changes per-account counts.
    """
    prompts = canonical_order(prompts)
    accounts = prompts.groupby("account_id", as_index=False)["label"].max()
    counts = accounts["label"].value_counts()
    if min(counts.get(0, 0), counts.get(1, 0)) < settings.min_accounts_per_class:
        return None
    held = prompts["account_id"].isin(calibration_accounts(accounts, settings)).to_numpy()
    train, hold = prompts[~held], prompts[held]
    model, texts = pipeline(settings), train["prompt_text"].tolist()
    with threadpool_limits(limits=1):
        # Pipeline.fit, step by step: the vectorizer only checks its parameters, and its
        # output (which hashed_features gives bit for bit, faster) fits the classifier.
        model.steps[0][1].fit(texts)
        model.steps[-1][1].fit(hashed_features(model, texts), train["label"].to_numpy())
        score = predict_scores(model, hold["prompt_text"].tolist())
    y = hold["label"].to_numpy()
    accounts = hold["account_id"].to_numpy()
    threshold, rate, account_auc = choose_threshold(score, y, accounts, settings.negative_prompt_rates)
    hits = pd.Series(score >= threshold, index=hold.index)
    share = hits.groupby(hold["account_id"]).mean()
    label = hold.groupby("account_id")["label"].max()
    mean_score = pd.Series(score, index=hold.index).groupby(hold["account_id"]).mean()
    metrics = {
        "holdout_prompt_roc_auc": float(roc_auc_score(y, score)),
        "chosen_negative_prompt_rate": rate,
        "holdout_account_share_roc_auc": account_auc,
        "holdout_account_mean_score_roc_auc": _auc(label, mean_score),
        "holdout_positive_prompt_recall": float(hits[y == 1].mean()),
        "holdout_negative_prompt_rate": float(hits[y == 0].mean()),
        "holdout_positive_account_mean_share": float(share[label == 1].mean()),
        "holdout_negative_account_mean_share": float(share[label == 0].mean()),
        "train_prompts": float(len(train)),
        "holdout_prompts": float(len(hold)),
        "train_accounts": float(train["account_id"].nunique()),
        "holdout_accounts": float(hold["account_id"].nunique()),
    }
    return IntentFit(model, threshold, metrics)


def _versions(mlflow_client: mlflow.MlflowClient) -> list[Any]:
    try:
        return list(mlflow_client.search_model_versions(f"name='{INTENT_MODEL_NAME}'"))
    except MlflowException:
        return []


def _newest(versions: list[Any], day: date) -> Any | None:
    usable = [v for v in versions if AS_OF_TAG in v.tags and date.fromisoformat(v.tags[AS_OF_TAG]) <= day]
    return max(usable, key=lambda v: (v.tags[AS_OF_TAG], int(v.version)), default=None)


def train(spark: SparkSession, lakehouse: Lakehouse, as_of: date, settings: IntentSettings = INTENT) -> dict[str, Any]:
    """Train, evaluate, log and register the intent model of ``as_of`` (once per ``as_of``)."""
    mlflow_client = registry.client(lakehouse)
    existing = [v for v in _versions(mlflow_client) if v.tags.get(AS_OF_TAG) == as_of.isoformat()]
    if existing:
        return {"as_of": as_of.isoformat(), "version": str(existing[0].version), "status": "exists"}
    for table in (Table.RAW_REQUESTS, Table.INCIDENTS):
        if not tables.exists(lakehouse, table):
            return {"as_of": as_of.isoformat(), "version": None, "status": f"no {table.value} table"}
    prompts = training_prompts(
        tables.read(spark, lakehouse, Table.RAW_REQUESTS),
        tables.read(spark, lakehouse, Table.INCIDENTS),
        as_of,
        settings,
    ).toPandas()
    fitted = fit(prompts, settings)
    if fitted is None:
        return {
            "as_of": as_of.isoformat(),
            "version": None,
            "status": f"fewer than {settings.min_accounts_per_class} accounts with prompts in a class",
        }
    experiment = registry.experiment_id(lakehouse, mlflow_client, EXPERIMENT_NAME)
    with mlflow.start_run(experiment_id=experiment, run_name=f"intent-{as_of}") as active:
        mlflow.log_params({**{f"setting_{k}": v for k, v in asdict(settings).items()}, "as_of": as_of.isoformat()})
        mlflow.log_metrics({**fitted.metrics, "threshold": fitted.threshold})
        info = mlflow.sklearn.log_model(
            fitted.pipeline,
            name="model",
            pip_requirements=registry.pinned(*PACKAGES),
        )
        try:
            mlflow_client.get_registered_model(INTENT_MODEL_NAME)
        except MlflowException:
            mlflow_client.create_registered_model(
                INTENT_MODEL_NAME,
                description="Prompt-level extraction intent (hashed char n-grams, logistic "
                "regression); tags as_of and threshold. Features of day D use the "
                "newest version with as_of <= D.",
            )
        version = mlflow.register_model(
            info.model_uri,
            INTENT_MODEL_NAME,
            tags={
                AS_OF_TAG: as_of.isoformat(),
                THRESHOLD_TAG: repr(fitted.threshold),
                TEXT_CHARS_TAG: str(settings.prompt_chars),
                "run_id": active.info.run_id,
            },
        )
    return {
        "as_of": as_of.isoformat(),
        "version": str(version.version),
        "status": "registered",
        "threshold": fitted.threshold,
        "metrics": fitted.metrics,
    }


def train_every(
    spark: SparkSession, lakehouse: Lakehouse, days: list[date], settings: IntentSettings = INTENT
) -> list[dict[str, Any]]:
    """One model as of every ``demo_every_days``-th day (from the 7th): the demo's
    stand-in for a weekly retrain, so each feature day sees only what was decided by then."""
    return [
        train(spark, lakehouse, day, settings) for day in days[settings.demo_every_days - 1 :: settings.demo_every_days]
    ]


def scorer_as_of(lakehouse: Lakehouse, day: date) -> IntentScorer | None:
    """The newest registered intent model with ``as_of`` <= ``day`` (None when there is none)."""
    if registry._in_lakehouse(lakehouse) and not lakehouse.mlflow_dir.is_dir():
        return None
    newest = _newest(_versions(registry.client(lakehouse)), day)
    if newest is None:
        return None
    uri = f"models:/{INTENT_MODEL_NAME}/{newest.version}"
    key = f"{lakehouse.mlflow_tracking_uri}|{newest.run_id}|{uri}"
    if key not in _LOADED:
        _LOADED[key] = mlflow.sklearn.load_model(uri)
    return IntentScorer(
        _LOADED[key],
        float(newest.tags[THRESHOLD_TAG]),
        str(newest.version),
        newest.tags[AS_OF_TAG],
        int(newest.tags[TEXT_CHARS_TAG]),
    )
