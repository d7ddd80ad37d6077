"""Where everything lives: the lakehouse root, its layers and every table, in one place.

Layers are named for what they hold, so a directory listing explains the pipeline:
``landing`` (what upstream drops, read-only to us), ``raw`` (parsed requests, the only
layer that may hold client_ip and prompt_text), ``quality`` (quarantine, audits, gate
results), ``refined`` (PII-free derived fields), ``features`` (daily and rolling
features, clusters), ``training`` and ``enforcement`` (flags and exports). Ground truth
of synthetic data sits in ``truth`` beside, never read by the pipeline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from distillguard.errors import DistillguardError

HOME_ENV = "DISTILLGUARD_HOME"
LANDING_ENV = "DISTILLGUARD_LANDING"
DEFAULT_HOME = "lakehouse"
# Read once at import: mlflow.set_tracking_uri() writes MLFLOW_TRACKING_URI into the
# environment itself, so reading it later would pin every lakehouse to the first one's store.
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


class Table(str, Enum):
    """Every Delta table of the pipeline, as ``layer/name`` under the tables root."""

    RAW_REQUESTS = "raw/requests"
    RAW_ACCOUNTS = "raw/accounts"
    QUARANTINE = "quality/quarantine"
    INGEST_RUNS = "quality/ingest_runs"
    GATE_RESULTS = "quality/gate_results"
    REQUEST_SIGNALS = "refined/request_signals"
    ACCOUNTS = "refined/accounts"
    INCIDENTS = "refined/incidents"
    PARTNER_INDICATORS = "refined/partner_indicators"
    ACCOUNT_DAILY = "features/account_daily"
    ACCOUNT_ROLLING = "features/account_rolling"
    ACCOUNT_KEYS = "features/account_keys_daily"
    ACCOUNT_CLUSTERS = "features/account_clusters"
    # Intermediate results of the features job (staged daily rows, label propagation).
    FEATURE_SCRATCH = "features/_scratch"
    TRAINING_SET = "training/training_set"
    FLAGGED_ACCOUNTS = "enforcement/flagged_accounts"
    EXPORTS = "enforcement/exports"
    # One row per export handed to enforcement (the ledger above holds its changed rows).
    EXPORT_RUNS = "enforcement/export_runs"
    # Invalid lines with their raw text (PII): quality/quarantine holds only reason and hash.
    RAW_QUARANTINE = "raw/quarantine"
    # Parsed landing lines of one ingest run, read back by its steps and removed at the end.
    RAW_STAGING = "raw/_staging"


@dataclass(frozen=True)
class Lakehouse:
    """Paths under one root; built once from CLI options and environment."""

    home: Path
    landing: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike | None = None,
                landing: str | os.PathLike | None = None) -> "Lakehouse":
        """CLI option first, then environment, then ``./lakehouse``."""
        home_path = Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
        landing_value = landing or os.environ.get(LANDING_ENV)
        landing_path = Path(landing_value).expanduser().resolve() if landing_value else home_path / "landing"
        for path in (home_path, landing_path):
            if path.exists() and not path.is_dir():
                raise DistillguardError(f"{path} exists and is not a directory")
        return cls(home=home_path, landing=landing_path)

    @property
    def tables_root(self) -> Path:
        return self.home / "tables"

    def table_path(self, table: Table) -> str:
        return str(self.tables_root / table.value)

    @property
    def truth(self) -> Path:
        """Synthetic ground truth: for evaluation only, nothing in the pipeline reads it."""
        return self.home / "truth"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        """sqlite store: MLflow >= 3.13 refuses a plain ./mlruns file store."""
        return _USER_TRACKING_URI or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def data_docs(self) -> Path:
        return self.home / "data_docs"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    def landing_dir(self, source: str) -> Path:
        """One of the contract's sources: request_logs, accounts, incidents, partner_indicators."""
        return self.landing / source


@dataclass(frozen=True)
class FeatureSettings:
    """Feature and clustering thresholds; one place to tune them (documented in features/)."""

    windows: tuple[int, ...] = (7, 28)
    # Accounts whose spend in 30 days passes this without KYC verification need review;
    # ~$5,000 a month is the publicly discussed review trigger.
    kyc_review_monthly_usd: float = 5_000.0
    new_account_days: int = 30
    # Cluster linking: a key shared by more accounts than its cap is a hub (public proxy,
    # cloud egress, carrier or office NAT, generic SDK template) and links nobody.
    ip_prefix_max_accounts: int = 20
    payment_max_accounts: int = 200
    template_max_accounts: int = 1_000
    # A template links accounts only when it dominates each account's own prompts.
    dominant_template_share: float = 0.2
    dominant_template_min_requests: int = 20
    max_label_iterations: int = 30


FEATURES = FeatureSettings()


@dataclass(frozen=True)
class TrainingSettings:
    """Training-set, model, evaluation and promotion settings (docs/evaluation.md).

    Two kinds of weight, never mixed: the *training* weight (``unlabelled_weight``, what the
    booster sees) and the *population* weight (1 / ``unlabelled_sample_fraction`` for a
    sampled unlabelled account, 1 for a labelled one: how many live accounts the row stands
    for), which every metric, the operating threshold and the gate use.
    """

    # Unlabelled accounts sampled as negatives: an assumption (most unlabelled accounts are
    # not distilling), so they weigh less than investigated-and-cleared ones in training.
    # The fraction sets the resolution of the benign FPR: one flagged sampled account moves
    # it by about fraction^-1 / population.
    unlabelled_sample_fraction: float = 0.25
    unlabelled_weight: float = 0.5
    sample_seed: int = 7
    # Time split: the most recently decided incident groups, at least this share of the
    # labelled accounts and this many of each class, are held out. Kept small: a campaign
    # group goes whole to one side, and labels arrive late, so a larger share pushes the
    # cutoff back until the training side holds only the first campaign or two.
    holdout_min_share: float = 0.05
    holdout_min_per_class: int = 5
    # Operating points as population-weighted benign false-positive rates, chosen on
    # out-of-fold scores: review (the model's ``threshold``) and suspend (``suspend_threshold``).
    target_fpr: float = 0.001
    suspend_fpr: float = 0.0001
    review_queue_k: int = 50
    cv_folds: int = 4
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 10
    # Inner models (leave-one-campaign-type-out, backtest): fewer trees and folds keep a
    # training run within minutes on 2 cores; they estimate how the recipe generalises.
    inner_n_estimators: int = 80
    inner_cv_folds: int = 3
    # Bootstrap over campaigns and benign groups: resamples and two-sided interval level.
    bootstrap_samples: int = 300
    interval_level: float = 0.95
    # Backtest: train as of (as_of - backtest_days), score each following day.
    backtest_days: int = 14
    caught_within_days: int = 3
    # Promotion gate (models/promotion.py): (b) the challenger's recall lower bound may sit at
    # most ``recall_tolerance`` under the champion's point recall on the same rows; (c) no
    # campaign type's leave-one-out recall may fall more than ``loo_tolerance``.
    recall_tolerance: float = 0.05
    loo_tolerance: float = 0.10
    # Expected calibration error on the holdout; tens of labelled accounts make it noisy
    # by several points, so the bound catches broken calibration, not fine drift.
    max_calibration_error: float = 0.2
    # Scores are probabilities at live prevalence (a few percent), so even a good ranking has
    # a small spread: the demo's model had std 0.025 with PR-AUC 0.44 against the rules' 0.01.
    min_score_std: float = 0.01


TRAINING = TrainingSettings()


@dataclass(frozen=True)
class ScoringSettings:
    """Risk tiers and policy rules next to the model (documented in scoring/policy.py)."""

    suspend_score: float = 0.97
    cluster_lift: float = 0.8
    cluster_lift_max_size: int = 1_000
    top_reasons: int = 3
    drift_warning_psi: float = 0.2
    drift_bins: int = 10


SCORING = ScoringSettings()
