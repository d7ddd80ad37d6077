"""databricks.yml validates against the official bundle JSON schema (shared reference)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "databricks" / "bundle_schema.json"


def _leaf_errors(error: jsonschema.ValidationError) -> list[str]:
    """Every field also accepts a ${...} string, so the useful error sits inside oneOf."""
    if not error.context:
        return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"]
    return [leaf for sub in error.context for leaf in _leaf_errors(sub)]


def load_bundle() -> dict:
    return yaml.safe_load((ROOT / "databricks.yml").read_text())


def test_bundle_matches_official_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = [leaf for error in validator.iter_errors(load_bundle()) for leaf in _leaf_errors(error)]
    assert errors == []


def test_bundle_targets_and_schedule() -> None:
    bundle = load_bundle()
    assert set(bundle["targets"]) == {"dev", "prod"}
    assert bundle["targets"]["prod"]["mode"] == "production"
    daily = bundle["resources"]["jobs"]["distillguard_daily"]
    assert daily["schedule"]["timezone_id"] == "UTC"
    for task in daily["tasks"]:
        assert task["python_wheel_task"]["entry_point"] == "distillguard"
        assert task["max_retries"] >= 1 and task["timeout_seconds"] > 0
