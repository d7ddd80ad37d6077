"""databricks.yml: valid against the official bundle schema, wired to real CLI commands, and
the wheel it deploys carries the entry point, the job modules and the GX suites."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from distillguard.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "databricks" / "bundle_schema.json"
PLACEHOLDER = re.compile(r"\{\{[^}]+\}\}")
# What the wheel build needs; everything else in the tree (venv, lakehouse, tests) stays out.
SOURCES = ("pyproject.toml", "README.md", "distillguard", "synthetic", "ingest", "features", "models", "scoring", "enforcement",
           "jobs", "expectations")


def _leaf_errors(error: jsonschema.ValidationError) -> list[str]:
    """Every field also accepts a ${...} string, so the useful error sits inside oneOf."""
    if not error.context:
        return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"]
    return [leaf for sub in error.context for leaf in _leaf_errors(sub)]


def load_bundle() -> dict:
    return yaml.safe_load((ROOT / "databricks.yml").read_text())


def _tasks() -> list[tuple[str, dict]]:
    return [(job_name, task) for job_name, job in load_bundle()["resources"]["jobs"].items() for task in job["tasks"]]


def _commands() -> dict[str, object]:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    return subparsers.choices


def test_bundle_matches_official_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = [leaf for error in validator.iter_errors(load_bundle()) for leaf in _leaf_errors(error)]
    assert errors == []


def test_bundle_targets_and_schedule() -> None:
    bundle = load_bundle()
    assert set(bundle["targets"]) == {"dev", "prod"}
    assert bundle["targets"]["dev"]["mode"] == "development" and bundle["targets"]["prod"]["mode"] == "production"
    assert {"catalog", "schema", "lakehouse_home", "landing_dir"} <= set(bundle["variables"])
    jobs = bundle["resources"]["jobs"]
    assert set(jobs) == {"distillguard_daily", "distillguard_weekly_retrain", "distillguard_backfill"}
    assert jobs["distillguard_daily"]["schedule"] == {"quartz_cron_expression": "0 30 2 * * ?", "timezone_id": "UTC"}
    assert jobs["distillguard_weekly_retrain"]["schedule"]["timezone_id"] == "UTC"
    assert "schedule" not in jobs["distillguard_backfill"]
    for job in jobs.values():
        assert job["email_notifications"]["on_failure"] == ["${var.notification_email}"]
        assert job["timeout_seconds"] > 0 and job["max_concurrent_runs"] == 1
        env = job["job_clusters"][0]["new_cluster"]["spark_env_vars"]
        assert env["DISTILLGUARD_HOME"] == "${var.lakehouse_home}"
        assert env["DISTILLGUARD_PSEUDONYM_KEY"].startswith("{{secrets/")
        for task in job["tasks"]:
            assert task["max_retries"] >= 1 and task["timeout_seconds"] > 0
            assert task["libraries"] == [{"whl": "./dist/*.whl"}]


def test_daily_tasks_form_the_pipeline_in_order() -> None:
    tasks = load_bundle()["resources"]["jobs"]["distillguard_daily"]["tasks"]
    assert [(t["task_key"], [d["task_key"] for d in t.get("depends_on", [])]) for t in tasks] == [
        ("ingest", []), ("features", ["ingest"]), ("score", ["features"]), ("export", ["score"])]
    assert all(t["python_wheel_task"]["parameters"][1:] == ["--date", "{{job.parameters.date}}"] for t in tasks)


def test_backfill_takes_a_date_range() -> None:
    job = load_bundle()["resources"]["jobs"]["distillguard_backfill"]
    assert [p["name"] for p in job["parameters"]] == ["start", "end"]
    assert [t["python_wheel_task"]["parameters"] for t in job["tasks"]] == [
        ["features", "--start", "{{job.parameters.start}}", "--end", "{{job.parameters.end}}"]]


@pytest.mark.parametrize("job_name, task", _tasks(), ids=lambda v: v if isinstance(v, str) else v["task_key"])
def test_every_task_runs_a_real_cli_command(job_name: str, task: dict) -> None:
    """The console script with a real subcommand whose options parse (placeholders as a date)."""
    wheel_task = task["python_wheel_task"]
    assert (wheel_task["package_name"], wheel_task["entry_point"]) == ("distillguard", "distillguard")
    parameters = wheel_task["parameters"]
    assert parameters[0] in _commands()
    args = build_parser().parse_args([PLACEHOLDER.sub("2026-11-03", p) for p in parameters])
    assert args.command == parameters[0] and callable(args.handler)


def _build_wheel(tmp_path: Path) -> Path:
    """The bundle's own build command, on a copy of the sources (the tree is left untouched)."""
    assert load_bundle()["artifacts"]["distillguard_wheel"]["build"] == \
        "python -m pip wheel --no-deps --wheel-dir dist ."
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", "dist", "."],
                          cwd=source, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = list((source / "dist").glob("distillguard-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_has_entry_point_job_modules_and_suites(tmp_path: Path) -> None:
    with zipfile.ZipFile(_build_wheel(tmp_path)) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        text = wheel.read(entry_points).decode()
    assert "[console_scripts]" in text and "distillguard = distillguard.cli:main" in text.splitlines()
    commands = {task["python_wheel_task"]["parameters"][0] for _, task in _tasks()}
    assert commands == {"ingest", "features", "score", "export", "train"}
    assert {f"distillguard/jobs/{command}.py" for command in commands} <= names
    suites = {f"distillguard/expectations/{p.name}" for p in (ROOT / "expectations").glob("*.json")}
    assert "distillguard/expectations/flagged_accounts.json" in suites and suites <= names
    assert not any(n.startswith(("tests/", "lakehouse/")) for n in names)
