"""Where everything lives: the lakehouse root, its layers and every table, in one place.

Layers are named for what they hold, so a directory listing explains the pipeline:
``landing`` (what upstream drops, read-only to us), ``raw`` (parsed requests, the only
layer that may hold client_ip and prompt_text), ``quality`` (quarantine, audits, gate
results), ``refined`` (PII-free derived fields), ``features`` (daily and rolling
features, clusters), ``training`` and ``enforcement`` (flags and exports). Ground truth
of synthetic data sits in ``truth`` beside, never read by the pipeline.

Naming: locally a table is a Delta folder ``<home>/tables/<layer>/<name>``. With a catalog
schema configured (``--schema``/``DISTILLGUARD_SCHEMA``, on Databricks a Unity Catalog
schema) the same tables are addressed by name, ``<catalog>.<schema>.<layer>_<name>``, so
they can carry grants; ``distillguard.tables`` reads and writes either way, and the
registered model and MLflow experiments follow the same setting (``ModelNames``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from distillguard.errors import DistillguardError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

HOME_ENV = "DISTILLGUARD_HOME"
LANDING_ENV = "DISTILLGUARD_LANDING"
CATALOG_ENV = "DISTILLGUARD_CATALOG"
SCHEMA_ENV = "DISTILLGUARD_SCHEMA"
# Absolute workspace folder of the MLflow experiments on Databricks (e.g. /Shared/distillguard).
EXPERIMENT_DIR_ENV = "DISTILLGUARD_EXPERIMENT_DIR"
# The registered model's own name inside the schema (a bundle passes the name it deployed).
MODEL_ENV = "DISTILLGUARD_MODEL"
DEFAULT_HOME = "lakehouse"
MODEL_BASE_NAME = "distillguard_distillation"
UC_REGISTRY = "databricks-uc"
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
    # Per model and day: first request, requests, requests with reasoning tokens (the
    # models reference of a day is the sum of these up to that day).
    MODEL_DAILY = "features/model_daily"
    # Link families (features/sketches.py, replay.py, lockstep.py): one partition per day.
    SKETCH_DAILY = "features/sketch_daily"
    REPLAY_DAILY = "features/replay_daily"
    LOCKSTEP_DAILY = "features/lockstep_daily"
    # Intermediate results of the features job (staged daily rows, label propagation).
    FEATURE_SCRATCH = "features/_scratch"
    TRAINING_SET = "training/training_set"
    FLAGGED_ACCOUNTS = "enforcement/flagged_accounts"
    EXPORTS = "enforcement/exports"
    # One row per export handed to enforcement (the ledger above holds its changed rows).
    EXPORT_RUNS = "enforcement/export_runs"
    # Contracted accounts (scored, never exported as flags); every add and removal is kept.
    ALLOW_LIST = "enforcement/allow_list"
    # Invalid lines with their raw text (PII): quality/quarantine holds only reason and hash.
    RAW_QUARANTINE = "raw/quarantine"
    # Parsed landing lines of one ingest run, read back by its steps and removed at the end.
    RAW_STAGING = "raw/_staging"
    # Landing files that could not be read (truncated or not gzip), kept whole (may hold PII)...
    RAW_QUARANTINED_FILES = "raw/quarantined_files"
    # ... and their PII-free record: path, size, SHA-256, reason, lines readable before the fault.
    QUARANTINED_FILES = "quality/quarantined_files"
    # One row per pipeline step done with every effect complete (distillguard/ledger.py).
    RUN_LEDGER = "quality/run_ledger"

    @property
    def catalog_name(self) -> str:
        """The table's name in a catalog schema: ``layer_name`` (``raw/requests`` -> ``raw_requests``)."""
        return self.value.replace("/", "_")

    @property
    def working(self) -> bool:
        """Scratch areas of one job run, and the run ledger (written with ``deltalake``, no engine):
        always folders under the lakehouse, never catalog tables."""
        return self in (Table.FEATURE_SCRATCH, Table.RAW_STAGING, Table.RUN_LEDGER)


@dataclass(frozen=True)
class ModelNames:
    """Where the model and the experiments live: local names on the lakehouse store, or the
    Unity Catalog registry (``catalog.schema.distillguard_distillation``) and absolute
    workspace experiment paths when a catalog schema is configured."""

    model: str
    registry_uri: str | None
    experiment_dir: str | None

    def experiment(self, name: str) -> str:
        """``name`` inside the experiment folder (an absolute name is kept as given)."""
        if name.startswith("/") or not self.experiment_dir:
            return name
        return f"{self.experiment_dir.rstrip('/')}/{name}"


def model_names(catalog: str | None = None, schema: str | None = None) -> ModelNames:
    """Model and experiment names for a catalog schema (default: the environment's).

    A catalog puts the model in Unity Catalog (``databricks-uc``) as
    ``catalog.schema.distillguard_distillation``; experiments go under
    ``DISTILLGUARD_EXPERIMENT_DIR`` (an absolute workspace folder) when it is set."""
    catalog = catalog or os.environ.get(CATALOG_ENV) or None
    schema = schema or os.environ.get(SCHEMA_ENV) or None
    experiment_dir = os.environ.get(EXPERIMENT_DIR_ENV) or None
    base = os.environ.get(MODEL_ENV) or MODEL_BASE_NAME
    if schema is None:
        return ModelNames(base, None, experiment_dir)
    model = ".".join(part for part in (catalog, schema, base) if part)
    return ModelNames(model, UC_REGISTRY if catalog else None, experiment_dir)


@dataclass(frozen=True)
class Lakehouse:
    """Paths under one root; built once from CLI options and environment."""

    home: Path
    landing: Path
    # Set: tables are addressed as catalog.schema.table (Unity Catalog), not as folders.
    catalog: str | None = None
    schema: str | None = None

    @classmethod
    def resolve(
        cls,
        home: str | os.PathLike | None = None,
        landing: str | os.PathLike | None = None,
        catalog: str | None = None,
        schema: str | None = None,
    ) -> Lakehouse:
        """CLI option first, then environment, then ``./lakehouse`` (and tables as folders)."""
        home_path = Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
        landing_value = landing or os.environ.get(LANDING_ENV)
        landing_path = Path(landing_value).expanduser().resolve() if landing_value else home_path / "landing"
        for path in (home_path, landing_path):
            if path.exists() and not path.is_dir():
                raise DistillguardError(f"{path} exists and is not a directory")
        catalog = catalog or os.environ.get(CATALOG_ENV) or None
        schema = schema or os.environ.get(SCHEMA_ENV) or None
        if catalog and not schema:
            raise DistillguardError(f"a catalog ({catalog}) needs a schema: pass --schema or set {SCHEMA_ENV}")
        for part in (catalog, schema):
            if part is not None and not _IDENTIFIER.fullmatch(part):
                raise DistillguardError(f"not a catalog or schema name (letters, digits, _): {part!r}")
        return cls(home=home_path, landing=landing_path, catalog=catalog, schema=schema)

    @property
    def by_name(self) -> bool:
        """Tables live in a catalog schema and are read and written by name."""
        return self.schema is not None

    @property
    def tables_root(self) -> Path:
        return self.home / "tables"

    def table_path(self, table: Table) -> str:
        """The table's folder in the lakehouse (folder mode, and working tables in every mode)."""
        return str(self.tables_root / table.value)

    def table_name(self, table: Table) -> str:
        """``[catalog.]schema.layer_name``: the table's name in the configured schema."""
        if not self.by_name or table.working:
            raise DistillguardError(f"{table.value} is not addressed by name in this lakehouse")
        return ".".join(part for part in (self.catalog, self.schema, table.catalog_name) if part)

    def addressed_by_name(self, table: Table) -> bool:
        return self.by_name and not table.working

    @property
    def models(self) -> ModelNames:
        return model_names(self.catalog, self.schema)

    @property
    def truth(self) -> Path:
        """Synthetic ground truth: for evaluation only, nothing in the pipeline reads it."""
        return self.home / "truth"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        """The workspace's tracking server on Databricks, else a sqlite store under the
        lakehouse (MLflow >= 3.13 refuses a plain ./mlruns file store)."""
        if _USER_TRACKING_URI:
            return _USER_TRACKING_URI
        if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
            return "databricks"
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def data_docs(self) -> Path:
        return self.home / "data_docs"

    @property
    def gx_project(self) -> Path:
        """The file-backed Great Expectations project: suites, checkpoints, every validation result."""
        return self.home / "gx"

    @property
    def allow_list_csv(self) -> Path:
        """Where the demo's agreements land (``account_id,added_by,reason,added_on``)."""
        return self.home / "agreements" / "allow_list.csv"

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
    # Dates whose daily features one pass builds (signals, daily tables, one gate); a
    # backfill runs its dates in batches of this many (memory grows with the batch), and
    # so does the window part (rolling and link families once per batch).
    daily_batch_dates: int = 7
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
    # Model pivot: a model first seen within this many days (and after the first day the
    # lakehouse has data for) is new.
    new_model_days: int = 7
    # Template sketches (features/sketches.py): shingle length, LSH bands x rows, and the
    # account count above which a bucket is a popular prompt.
    sketch_shingle_chars: int = 5
    sketch_bands: int = 4
    sketch_rows: int = 2
    sketch_hub_accounts: int = 50
    # Lockstep (features/lockstep.py): Jaccard of (bucket, hour) sets over this window, only
    # over buckets with at most lockstep_hub_accounts accounts that day.
    lockstep_window_days: int = 7
    lockstep_hub_accounts: int = 50
    lockstep_min_jaccard: float = 0.5
    lockstep_min_shared: int = 12
    # Reasoning replay: refs of another account sent back at least this often make an edge.
    replay_min_refs: int = 2
    # Lineage (features/lineage.py): how far back the keys of banned accounts are read.
    lineage_lookback_days: int = 90


FEATURES = FeatureSettings()


def window_suffix(days: int) -> str:
    """Column suffix of a rolling window (``_28d``): the one spelling of window names."""
    return f"_{days}d"


LONGEST_WINDOW = window_suffix(max(FEATURES.windows))


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
    # it by about fraction^-1 / population: at 0.25 one account weighed 0.15% of the demo's
    # training-side negatives, over the 0.1% review target, so every account is kept up to the cap.
    unlabelled_sample_fraction: float = 1.0
    unlabelled_weight: float = 0.5
    # Cap on the sampled unlabelled rows the driver trains on (~140 float features: 200,000
    # rows are ~250 MB of pandas); above it each activity stratum keeps at least the floor.
    unlabelled_max_rows: int = 200_000
    unlabelled_stratum_floor: int = 2_000
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

# Registered MLflow model of the prompt-level extraction-intent scorer (models/intent.py).
INTENT_MODEL_NAME = "distillguard_intent"


@dataclass(frozen=True)
class IntentSettings:
    """Prompt-level intent scorer (documented in models/intent.py and docs/features.md)."""

    # Hashed character n-grams: language-agnostic, no vocabulary to ship.
    ngram_min: int = 2
    ngram_max: int = 4
    hash_features: int = 2**18
    regularization_c: float = 1.0
    # Prompts read per account (a deterministic hashed pick) and characters per prompt.
    prompts_per_account: int = 40
    prompt_chars: int = 1_000
    # Unlabelled accounts sampled as negatives, from this many days before as_of.
    unlabelled_sample_fraction: float = 0.05
    unlabelled_days: int = 28
    sample_seed: int = 11
    # One account in this many (per class, hashed) is held out to choose the threshold.
    calibration_every: int = 4
    # Threshold candidates: the share of held-out negative prompts allowed above it. The one whose
    # per-account share of prompts above it best separates held-out accounts is kept (models/intent.py);
    # at most 10%, so a hit stays a minority event for benign accounts (the baseline's 30% rule).
    negative_prompt_rates: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1)
    min_accounts_per_class: int = 2
    # The demo trains one intent model per this many days of data (point in time).
    demo_every_days: int = 7


INTENT = IntentSettings()


@dataclass(frozen=True)
class MaintenanceSettings:
    """``distillguard maintain``: how long raw personal data is kept (documented in
    distillguard/maintenance.py)."""

    # client_ip and prompt_text of raw requests and raw quarantine older than this are erased.
    pii_retention_days: int = 30
    # Time travel kept by VACUUM on tables that hold no personal data.
    vacuum_retention_hours: int = 168


MAINTENANCE = MaintenanceSettings()
