"""The bundle: databricks.yml with its resources/*.yml merged as the Databricks CLI merges
them, valid against the official bundle schema, wired to real CLI commands, and with a
daily job whose tasks are the local DAG's steps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from distillguard.cli import _resolve_days, build_parser
from distillguard.jobs.daily import STEP_NAMES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "databricks" / "bundle_schema.json"
PLACEHOLDER = re.compile(r"\{\{[^}]+\}\}")
JOBS = {"distillguard_daily", "distillguard_weekly_retrain", "distillguard_backfill", "distillguard_maintain"}


def _leaf_errors(error: jsonschema.ValidationError) -> list[str]:
    """Every field also accepts a ${...} string, so the useful error sits inside oneOf."""
    if not error.context:
        return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"]
    return [leaf for sub in error.context for leaf in _leaf_errors(sub)]


def _included() -> list[Path]:
    root = yaml.safe_load((ROOT / "databricks.yml").read_text())
    return sorted(path for pattern in root["include"] for path in ROOT.glob(pattern))


def load_bundle() -> dict:
    """databricks.yml plus every included file; a resource defined twice is an error."""
    bundle = yaml.safe_load((ROOT / "databricks.yml").read_text())
    resources = bundle.setdefault("resources", {})
    for path in _included():
        part = yaml.safe_load(path.read_text())
        assert set(part) == {"resources"}, f"{path.name} holds more than resources"
        for kind, items in part["resources"].items():
            clash = set(items) & set(resources.get(kind, {}))
            assert not clash, f"{path.name} redefines {kind} {sorted(clash)}"
            resources.setdefault(kind, {}).update(items)
    return bundle


def _tasks() -> list[tuple[str, dict]]:
    return [(job_name, task) for job_name, job in load_bundle()["resources"]["jobs"].items() for task in job["tasks"]]


def _commands() -> dict[str, object]:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    return subparsers.choices


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


def test_merged_bundle_matches_official_schema() -> None:
    errors = [leaf for error in _validator().iter_errors(load_bundle()) for leaf in _leaf_errors(error)]
    assert errors == []


def test_one_file_per_job_and_each_file_is_valid() -> None:
    files = {path.name: yaml.safe_load(path.read_text()) for path in _included()}
    job_files = {name: set(part["resources"]["jobs"]) for name, part in files.items() if "jobs" in part["resources"]}
    assert job_files == {
        "daily.yml": {"distillguard_daily"},
        "weekly_retrain.yml": {"distillguard_weekly_retrain"},
        "backfill.yml": {"distillguard_backfill"},
        "maintain.yml": {"distillguard_maintain"},
    }
    assert "resources" not in yaml.safe_load((ROOT / "databricks.yml").read_text())
    for name, part in files.items():
        errors = [leaf for error in _validator().iter_errors(part) for leaf in _leaf_errors(error)]
        assert errors == [], name


def test_daily_tasks_are_the_local_dag_steps_chained_in_order() -> None:
    tasks = load_bundle()["resources"]["jobs"]["distillguard_daily"]["tasks"]
    assert tuple(t["task_key"] for t in tasks) == STEP_NAMES
    assert [[d["task_key"] for d in t.get("depends_on", [])] for t in tasks] == [[]] + [
        [previous] for previous in STEP_NAMES[:-1]
    ]
    assert [t["python_wheel_task"]["parameters"][0] for t in tasks] == list(STEP_NAMES)


def test_daily_job_processes_yesterdays_finished_folder() -> None:
    job = load_bundle()["resources"]["jobs"]["distillguard_daily"]
    assert job["schedule"] == {"quartz_cron_expression": "0 30 2 * * ?", "timezone_id": "UTC"}
    assert job["parameters"] == [{"name": "date", "default": "yesterday"}]
    for task in job["tasks"]:
        parameters = task["python_wheel_task"]["parameters"]
        assert parameters[1:5] == ["--date", "{{job.parameters.date}}", "--today", "{{job.start_time.iso_date}}"]
        # A run started 2026-11-04 02:30 (or retried after midnight) processes 2026-11-03.
        args = build_parser().parse_args(
            [
                p.replace("{{job.parameters.date}}", "yesterday")
                .replace("{{job.start_time.iso_date}}", "2026-11-04")
                .replace("${var.enforcement_group}", "g")
                for p in parameters
            ]
        )
        _resolve_days(args)
        assert str(args.date) == "2026-11-03"


def test_targets_isolate_dev_and_run_prod_as_a_service_principal() -> None:
    bundle = load_bundle()
    dev, prod = bundle["targets"]["dev"], bundle["targets"]["prod"]
    assert dev["mode"] == "development" and dev["default"] is True and prod["mode"] == "production"
    assert dev["variables"]["experiment_dir"].startswith("/Workspace/Users/${workspace.current_user.userName}/")
    assert prod["run_as"] == {"service_principal_name": "${var.service_principal}"}
    assert {p["level"] for p in prod["permissions"]} == {"CAN_MANAGE"}
    assert {
        "catalog",
        "schema",
        "volume",
        "landing_dir",
        "experiment_dir",
        "enforcement_group",
        "node_type_id",
        "spark_version",
    } <= set(bundle["variables"])


def test_catalog_resources_and_grants() -> None:
    resources = load_bundle()["resources"]
    assert resources["schemas"]["distillguard"]["name"] == "${var.schema}"
    enforcement = [
        g for g in resources["schemas"]["distillguard"]["grants"] if g["principal"] == "${var.enforcement_group}"
    ]
    assert enforcement == [{"principal": "${var.enforcement_group}", "privileges": ["USE_SCHEMA"]}]
    model = resources["registered_models"]["distillation"]
    assert (model["catalog_name"], model["schema_name"], model["name"]) == (
        "${var.catalog}",
        "${resources.schemas.distillguard.name}",
        "distillguard_distillation",
    )
    assert "${var.enforcement_group}" not in {g["principal"] for g in model["grants"]}
    assert {e["name"] for e in resources["experiments"].values()} == {
        "${var.experiment_dir}/distillguard-train",
        "${var.experiment_dir}/distillguard-score",
    }
    export = next(t for _, t in _tasks() if t["python_wheel_task"]["parameters"][0] == "export")
    assert export["python_wheel_task"]["parameters"][-2:] == ["--grant-to", "${var.enforcement_group}"]
    granting = [t["task_key"] for _, t in _tasks() if "--grant-to" in t["python_wheel_task"]["parameters"]]
    assert granting == ["export"]


def test_every_job_cluster_names_its_catalog_and_secrets() -> None:
    jobs = load_bundle()["resources"]["jobs"]
    assert set(jobs) == JOBS
    clusters = [job["job_clusters"][0]["new_cluster"] for job in jobs.values()]
    assert all(cluster == clusters[0] for cluster in clusters)
    cluster = clusters[0]
    assert cluster["node_type_id"] == "${var.node_type_id}"
    env = cluster["spark_env_vars"]
    assert env["DISTILLGUARD_CATALOG"] == "${var.catalog}"
    assert env["DISTILLGUARD_SCHEMA"] == "${resources.schemas.distillguard.name}"
    assert env["DISTILLGUARD_MODEL"] == "${resources.registered_models.distillation.name}"
    assert env["DISTILLGUARD_HOME"] == (
        "/Volumes/${var.catalog}/${resources.schemas.distillguard.name}/${resources.volumes.lakehouse.name}"
    )
    assert env["MLFLOW_TRACKING_URI"] == "databricks"
    assert env["DISTILLGUARD_PSEUDONYM_KEY"].startswith("{{secrets/")
    for job in jobs.values():
        assert job["email_notifications"]["on_failure"] == ["${var.notification_email}"]
        assert job["timeout_seconds"] > 0 and job["max_concurrent_runs"] == 1
        for task in job["tasks"]:
            assert task["max_retries"] >= 1 and task["timeout_seconds"] > 0
            # Relative to the resources/ file that names it, as the CLI resolves it.
            assert task["libraries"] == [{"whl": "../dist/*.whl"}]


def test_backfill_takes_a_date_range() -> None:
    job = load_bundle()["resources"]["jobs"]["distillguard_backfill"]
    assert "schedule" not in job
    assert [p["name"] for p in job["parameters"]] == ["start", "end"]
    assert [t["python_wheel_task"]["parameters"] for t in job["tasks"]] == [
        ["features", "--start", "{{job.parameters.start}}", "--end", "{{job.parameters.end}}"]
    ]


@pytest.mark.parametrize("job_name, task", _tasks(), ids=lambda v: v if isinstance(v, str) else v["task_key"])
def test_every_task_runs_a_real_cli_command(job_name: str, task: dict) -> None:
    """The console script with a real subcommand whose options parse (placeholders as a date)."""
    wheel_task = task["python_wheel_task"]
    assert (wheel_task["package_name"], wheel_task["entry_point"]) == ("distillguard", "distillguard")
    parameters = wheel_task["parameters"]
    assert parameters[0] in _commands()
    args = build_parser().parse_args(
        [PLACEHOLDER.sub("2026-11-03", p).replace("${var.enforcement_group}", "g") for p in parameters]
    )
    assert args.command == parameters[0] and callable(args.handler)
