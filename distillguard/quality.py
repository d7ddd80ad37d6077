"""Great Expectations gates: suites kept as JSON in ``expectations/``, run inside the jobs.

A gate validates a DataFrame before the job writes anything that depends on it. Every
expectation result lands in the gate-results Delta table and in GX Data Docs (HTML) under
``<home>/data_docs``; a failed expectation of severity ``critical`` then stops the job
(``GateFailed``), one of severity ``warning`` is only recorded. Jobs hand gates derived
columns (lengths, kinds, flags), never client_ip or prompt_text, so no sample of personal
data reaches the results table or the HTML.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import great_expectations as gx
from great_expectations.core import ExpectationSuite
from great_expectations.data_context.types.base import ProgressBarsConfig
from pyspark.sql import DataFrame, SparkSession

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
RESULT_COLUMNS = ("run_id", "suite", "table_name", "evaluated_at", "expectation_type", "column_name",
                  "severity", "success", "observed_value", "unexpected_count", "unexpected_percent",
                  "kwargs")
RESULT_SCHEMA = ("run_id string, suite string, table_name string, evaluated_at timestamp, "
                 "expectation_type string, column_name string, severity string, success boolean, "
                 "observed_value string, unexpected_count long, unexpected_percent double, kwargs string")


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
        return "; ".join(f"{r['expectation_type']}({r['column_name'] or 'table'}) observed "
                         f"{r['observed_value'] if r['observed_value'] is not None else r['unexpected_count']}"
                         for r in rows)


def suite_json(name: str) -> dict[str, Any]:
    return json.loads(resources.files("distillguard.expectations").joinpath(f"{name}.json").read_text())


def suite_from_spec(spec: dict[str, Any]) -> ExpectationSuite:
    """Build a suite; raises if GX skipped any expectation (GX 1.x only logs an invalid
    one, which would silently weaken the gate)."""
    suite = ExpectationSuite(**spec)
    if len(suite.expectations) != len(spec["expectations"]):
        raise DistillguardError(f"suite {spec['name']!r}: {len(spec['expectations'])} expectations in the file "
                                f"but GX loaded {len(suite.expectations)}; fix the invalid ones")
    return suite


def load_suite(name: str) -> ExpectationSuite:
    """The suite kept in ``expectations/<name>.json``."""
    return suite_from_spec(suite_json(name))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


class Gates:
    """The gates of one job run: ``check`` each DataFrame, then ``close`` once.

    One ephemeral GX context per run; Data Docs are built once at the end and results
    written in one commit, so gates cost little beyond the metric queries themselves.
    """

    def __init__(self, spark: SparkSession, lakehouse: Lakehouse, run_id: str) -> None:
        self.spark, self.lakehouse, self.run_id = spark, lakehouse, run_id
        self.outcomes: list[GateOutcome] = []
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.context.add_data_docs_site(site_name="lakehouse", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(lakehouse.data_docs)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
        self.source = self.context.data_sources.add_spark("lakehouse", persist=False)

    def check(self, suite_name: str, df: DataFrame, parameters: dict[str, Any] | None = None) -> GateOutcome:
        """Validate ``df`` against a suite; nothing is raised or written yet."""
        batch = self.source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("batch")
        suite = self.context.suites.add(load_suite(suite_name))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite))
        result = definition.run(batch_parameters={"dataframe": df}, expectation_parameters=parameters or {},
                                result_format="SUMMARY")
        evaluated_at = datetime.now(timezone.utc).replace(tzinfo=None)
        outcome = GateOutcome(suite=suite_name, run_id=self.run_id)
        for item in result.results:
            config = item.expectation_config
            details = item.result or {}
            kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
            raised = (item.exception_info or {}).get("raised_exception")
            outcome.rows.append({
                "run_id": self.run_id, "suite": suite_name, "table_name": SUITES[suite_name].value,
                "evaluated_at": evaluated_at, "expectation_type": config.type,
                "column_name": kwargs.get("column") or _text(kwargs.get("column_list")),
                "severity": getattr(config.severity, "value", str(config.severity)),
                "success": bool(item.success) and not raised,
                "observed_value": _text(details.get("observed_value")),
                "unexpected_count": details.get("unexpected_count"),
                "unexpected_percent": details.get("unexpected_percent"),
                "kwargs": _text(kwargs),
            })
        self.outcomes.append(outcome)
        return outcome

    def close(self) -> list[GateOutcome]:
        """Record every result (one commit), build Data Docs, log warnings; raise
        ``GateFailed`` naming each failed critical expectation."""
        rows = [tuple(row[name] for name in RESULT_COLUMNS) for o in self.outcomes for row in o.rows]
        if rows:
            (self.spark.createDataFrame(rows, RESULT_SCHEMA).write.format("delta").mode("append")
             .save(self.lakehouse.table_path(Table.GATE_RESULTS)))
        self.context.build_data_docs()
        for outcome in self.outcomes:
            if outcome.warnings:
                log.warning("gate %s: %d warning(s): %s", outcome.suite, len(outcome.warnings),
                            outcome.describe(outcome.warnings))
        failed = [f"{o.suite}: {o.describe(o.critical_failures)}" for o in self.outcomes if o.critical_failures]
        if failed:
            raise GateFailed(f"quality gate failed (run {self.run_id}): {' | '.join(failed)}; nothing was "
                             f"written. Details: {self.lakehouse.data_docs / 'index.html'}")
        return self.outcomes
