"""Great Expectations gates: suites kept as JSON in ``expectations/``, run inside the jobs.

A gate validates a DataFrame before the job writes anything that depends on it. Gates run
through a file-backed GX project under ``<home>/gx`` (``Lakehouse.gx_project``): one
checkpoint per suite, and GX's validation-results store keeps every validation. Data Docs
under ``<home>/data_docs`` are built once per job run, when its gates close, for that run's
validations (the index lists each run of each gate, not only the last): rendering is the
costly part of a gate on small data, so it is not repeated per suite. Every expectation
result also lands in the gate-results Delta table; a failed expectation of severity
``critical`` then stops the job (``GateFailed``), one of severity ``warning`` is only
recorded. Jobs hand gates derived columns (lengths, kinds, flags), never client_ip or
prompt_text, so no sample of personal data reaches the results table, the stored
validations or the HTML.

Suites are re-read from ``expectations/`` on every run (the JSON files are the source of
truth; the copies GX keeps under ``<home>/gx/expectations`` follow them): the stored suite
carries the SHA-256 of its file, and the suite, validation definition and checkpoint are
written again only when that hash (or the checkpoint's shape) changed, and looked up once
per suite and job run. A one-row summary the job computed itself (the raw_requests gate's
aggregates) is checked as a pandas frame: the same expectations on the same values, without
a Spark query per metric (about a third of such a gate's time). Row conditions
use GX 1.x condition objects (``{"type": "comparison", "column": {"name": ...}, ...}``),
not the deprecated strings with ``condition_parser``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations.core import ExpectationSuite
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from pyspark.sql import DataFrame, SparkSession

from distillguard import tables
from distillguard.config import Lakehouse, Table
from distillguard.errors import DistillguardError

log = logging.getLogger(__name__)

SUITES: dict[str, Table] = {
    "raw_requests": Table.RAW_REQUESTS,
    "accounts": Table.ACCOUNTS,
    "incidents": Table.INCIDENTS,
    "partner_indicators": Table.PARTNER_INDICATORS,
    "account_daily": Table.ACCOUNT_DAILY,
    "training_set": Table.TRAINING_SET,
    "flagged_accounts": Table.FLAGGED_ACCOUNTS,
    "exports": Table.EXPORTS,
}
DATASOURCE, BATCH, DOCS_SITE = "lakehouse", "whole_dataframe", "lakehouse"
# Datasource of the small pandas frames (one-row summaries) the jobs hand to gates.
SUMMARIES = "summaries"
RESULT_FORMAT = "SUMMARY"
# Key in a stored suite's meta: the SHA-256 of the expectations/ file it was made from.
SPEC_KEY = "distillguard_spec_sha256"
RESULT_COLUMNS = (
    "run_id",
    "suite",
    "table_name",
    "evaluated_at",
    "expectation_type",
    "column_name",
    "severity",
    "success",
    "observed_value",
    "unexpected_count",
    "unexpected_percent",
    "kwargs",
)
RESULT_SCHEMA = (
    "run_id string, suite string, table_name string, evaluated_at timestamp, "
    "expectation_type string, column_name string, severity string, success boolean, "
    "observed_value string, unexpected_count long, unexpected_percent double, kwargs string"
)


class GateFailed(DistillguardError):
    """A critical expectation failed: the job stops before writing its output."""


@dataclass
class GateOutcome:
    suite: str
    run_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def critical_failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if not r["success"] and r["severity"] == "critical"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if not r["success"] and r["severity"] != "critical"]

    def describe(self, rows: list[dict[str, Any]]) -> str:
        return "; ".join(
            f"{r['expectation_type']}({r['column_name'] or 'table'}) observed "
            f"{r['observed_value'] if r['observed_value'] is not None else r['unexpected_count']}"
            for r in rows
        )


def suite_json(name: str) -> dict[str, Any]:
    return json.loads(resources.files("distillguard.expectations").joinpath(f"{name}.json").read_text())


def suite_from_spec(spec: dict[str, Any]) -> ExpectationSuite:
    """Build a suite; raises if GX skipped any expectation (GX 1.x only logs an invalid
    one, which would silently weaken the gate)."""
    suite = ExpectationSuite(**spec)
    if len(suite.expectations) != len(spec["expectations"]):
        raise DistillguardError(
            f"suite {spec['name']!r}: {len(spec['expectations'])} expectations in the file "
            f"but GX loaded {len(suite.expectations)}; fix the invalid ones"
        )
    return suite


def load_suite(name: str) -> ExpectationSuite:
    """The suite kept in ``expectations/<name>.json``."""
    return suite_from_spec(suite_json(name))


def spec_digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _plain(value: Any) -> Any:
    """A numpy scalar (what GX reports on a pandas frame) as the Python value Spark gives."""
    return value.item() if isinstance(value, np.generic) else value


def _text(value: Any) -> str | None:
    value = _plain(value)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


class Gates:
    """The gates of one job run: ``check`` each DataFrame, then ``close`` once.

    ``check`` runs the suite's checkpoint (its validation is stored); ``close`` builds Data
    Docs for the run's validations, writes every result row to Delta in one commit and
    raises on a critical failure.
    """

    def __init__(self, spark: SparkSession, lakehouse: Lakehouse, run_id: str) -> None:
        self.spark, self.lakehouse, self.run_id = spark, lakehouse, run_id
        self.outcomes: list[GateOutcome] = []
        self.validations: list[ValidationResultIdentifier] = []
        self.context = gx.get_context(mode="file", context_root_dir=str(lakehouse.gx_project))
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        sites = self.context.get_config().data_docs_sites or {}
        if DOCS_SITE not in sites:
            # Relative to the GX project, so a lakehouse that moves keeps its Data Docs.
            self.context.add_data_docs_site(
                site_name=DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": f"../{lakehouse.data_docs.name}/",
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        for name in set(sites) - {DOCS_SITE}:
            self.context.delete_data_docs_site(name)
        # persist=False: the source's config is kept, never the DataFrames handed to it.
        self.source = (
            self.context.data_sources.get(DATASOURCE)
            if DATASOURCE in self.context.data_sources.all()
            else self.context.data_sources.add_spark(DATASOURCE, persist=False)
        )
        self.checkpoints: dict[tuple[str, str], gx.Checkpoint] = {}

    def _source(self, name: str) -> Any:
        if name == DATASOURCE:
            return self.source
        sources = self.context.data_sources
        return sources.get(name) if name in sources.all() else sources.add_pandas(name)

    def _stored_checkpoint(self, suite_name: str, digest: str, source: str = DATASOURCE) -> gx.Checkpoint | None:
        """The stored checkpoint when it still matches the suite file and this module's
        shape (one validation, no actions, SUMMARY results), else None."""
        try:
            checkpoint = self.context.checkpoints.get(suite_name)
            [definition] = checkpoint.validation_definitions
            current = (
                definition.suite.meta.get(SPEC_KEY) == digest
                and definition.batch_definition.name == BATCH
                and definition.data_source.name == source
                and not checkpoint.actions
                and checkpoint.result_format == RESULT_FORMAT
            )
        except Exception:  # noqa: BLE001 - anything stale or missing is simply written again
            return None
        return checkpoint if current else None

    def _checkpoint(self, suite_name: str, source_name: str = DATASOURCE) -> gx.Checkpoint:
        """The suite's checkpoint on datasource ``source_name``, looked up once per job run
        (its suite refreshed from ``expectations/`` when the file changed)."""
        if (suite_name, source_name) not in self.checkpoints:
            self.checkpoints[suite_name, source_name] = self._current_checkpoint(suite_name, source_name)
        return self.checkpoints[suite_name, source_name]

    def _current_checkpoint(self, suite_name: str, source_name: str) -> gx.Checkpoint:
        spec = suite_json(suite_name)
        digest = spec_digest(spec)
        stored = self._stored_checkpoint(suite_name, digest, source_name)
        if stored is not None:
            return stored
        source = self._source(source_name)
        assets = source.get_asset_names()
        asset = source.get_asset(suite_name) if suite_name in assets else source.add_dataframe_asset(suite_name)
        batches = {definition.name for definition in asset.batch_definitions}
        batch = (
            asset.get_batch_definition(BATCH) if BATCH in batches else asset.add_batch_definition_whole_dataframe(BATCH)
        )
        # The spec itself is left as it is (its digest is what the next run compares).
        suite = suite_from_spec({**spec, "meta": {**(spec.get("meta") or {}), SPEC_KEY: digest}})
        suite = self.context.suites.add_or_update(suite)
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
        )
        return self.context.checkpoints.add_or_update(
            gx.Checkpoint(name=suite_name, validation_definitions=[definition], result_format=RESULT_FORMAT, actions=[])
        )

    def check(
        self,
        suite_name: str,
        df: DataFrame | pd.DataFrame,
        parameters: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> GateOutcome:
        """Validate ``df`` against a suite (stored; shown in Data Docs once the gates close);
        nothing is raised yet. ``df``: a Spark DataFrame, or a small pandas one (a summary
        the job computed). ``run_id``: the job run it belongs to, when one job run records
        several (an ingest of several folder dates); default the gates' own."""
        run_id = run_id or self.run_id
        checkpoint = self._checkpoint(suite_name, SUMMARIES if isinstance(df, pd.DataFrame) else DATASOURCE)
        run = checkpoint.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=parameters or {},
            run_id=RunIdentifier(run_name=run_id),
        )
        [(identifier, result)] = run.run_results.items()
        self.validations.append(identifier)
        evaluated_at = datetime.now(timezone.utc).replace(tzinfo=None)
        outcome = GateOutcome(suite=suite_name, run_id=run_id)
        for item in result.results:
            config = item.expectation_config
            details = item.result or {}
            kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
            raised = (item.exception_info or {}).get("raised_exception")
            outcome.rows.append(
                {
                    "run_id": run_id,
                    "suite": suite_name,
                    "table_name": SUITES[suite_name].value,
                    "evaluated_at": evaluated_at,
                    "expectation_type": config.type,
                    "column_name": kwargs.get("column") or _text(kwargs.get("column_list")),
                    "severity": getattr(config.severity, "value", str(config.severity)),
                    "success": bool(item.success) and not raised,
                    "observed_value": _text(details.get("observed_value")),
                    "unexpected_count": _plain(details.get("unexpected_count")),
                    "unexpected_percent": _plain(details.get("unexpected_percent")),
                    "kwargs": _text(kwargs),
                }
            )
        self.outcomes.append(outcome)
        return outcome

    def publish(self) -> None:
        """Build Data Docs for this run's validations, record every result (one commit) and
        log warnings."""
        if self.validations:
            suites = {ExpectationSuiteIdentifier(name=v.expectation_suite_identifier.name) for v in self.validations}
            self.context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[*self.validations, *suites])
        rows = [tuple(row[name] for name in RESULT_COLUMNS) for o in self.outcomes for row in o.rows]
        if rows:
            tables.append(self.spark.createDataFrame(rows, RESULT_SCHEMA), self.lakehouse, Table.GATE_RESULTS)
        for outcome in self.outcomes:
            if outcome.warnings:
                log.warning(
                    "gate %s: %d warning(s): %s",
                    outcome.suite,
                    len(outcome.warnings),
                    outcome.describe(outcome.warnings),
                )

    def failure(self, run_id: str | None = None) -> GateFailed | None:
        """The error naming each failed critical expectation of ``run_id`` (default the
        gates' own), or None when it passed."""
        run_id = run_id or self.run_id
        failed = [
            f"{o.suite}: {o.describe(o.critical_failures)}"
            for o in self.outcomes
            if o.run_id == run_id and o.critical_failures
        ]
        if not failed:
            return None
        return GateFailed(
            f"quality gate failed (run {run_id}): {' | '.join(failed)}; nothing was "
            f"written. Details: {self.lakehouse.data_docs / 'index.html'}"
        )

    def close(self) -> list[GateOutcome]:
        """``publish``, then raise ``GateFailed`` naming each failed critical expectation."""
        self.publish()
        failure = self.failure()
        if failure is not None:
            raise failure
        return self.outcomes
