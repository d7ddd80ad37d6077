"""Keys for pseudonymising identities and matching partner HMACs: never from the repo.

A key comes from its environment variable (on Databricks, set it from a secret scope).
Without one, only a demo lakehouse may run: one the synthetic generator created (it
refuses to mark a home that already holds data) and only while every landing file in it
is one the generator wrote, unchanged (path, size and modification time, recorded when
generation finished). A single file dropped in or edited by anyone else, or any table
written while generation had not finished, ends the demo status: the run then refuses
without keys instead of processing real data under a random key. Demo keys are random,
created once under ``<home>/secrets``, with a loud warning every time.
"""

from __future__ import annotations

import json
import logging
import os
import secrets as token_source

from distillguard.config import Lakehouse
from distillguard.errors import DistillguardError

log = logging.getLogger(__name__)

PARTNER_HMAC_KEY_ENV = "DISTILLGUARD_PARTNER_HMAC_KEY"
PSEUDONYM_KEY_ENV = "DISTILLGUARD_PSEUDONYM_KEY"
DEMO_MARKER = "DEMO_LAKEHOUSE"


def _landing_files(lakehouse: Lakehouse) -> dict[str, list[int]]:
    """Every landing file as path (relative to the landing zone) -> [size, mtime_ns]."""
    if not lakehouse.landing.is_dir():
        return {}
    return {
        str(path.relative_to(lakehouse.landing)): [path.stat().st_size, path.stat().st_mtime_ns]
        for path in sorted(lakehouse.landing.rglob("*"))
        if path.is_file()
    }


def _marker(lakehouse: Lakehouse) -> dict | None:
    path = lakehouse.home / DEMO_MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None


def _holds_data(lakehouse: Lakehouse) -> bool:
    return lakehouse.tables_root.is_dir() and any(lakehouse.tables_root.iterdir())


def _landing_name(lakehouse: Lakehouse) -> str:
    """The landing zone as recorded: relative to the home when inside it (a copied demo
    home stays a demo), else absolute."""
    landing = lakehouse.landing
    return str(landing.relative_to(lakehouse.home)) if landing.is_relative_to(lakehouse.home) else str(landing)


def mark_demo(lakehouse: Lakehouse) -> None:
    """The generator starts writing a demo: refused on a home that holds data of its own."""
    earlier = _marker(lakehouse)
    if earlier is None and (_holds_data(lakehouse) or _landing_files(lakehouse)):
        raise DistillguardError(
            f"{lakehouse.home} already holds data that the generator did not write; generate into a new --home"
        )
    status = demo_status(lakehouse) if earlier is not None else None
    if earlier is not None and earlier.get("finished") and status is not None:
        raise DistillguardError(
            f"{lakehouse.home} is no longer a demo lakehouse ({status}); generate into a new --home"
        )
    # Tables of an earlier demo (regenerated with --overwrite) are demo tables too.
    trusted = earlier is not None and (status is None or earlier.get("tables_are_demo", False))
    lakehouse.home.mkdir(parents=True, exist_ok=True)
    (lakehouse.home / DEMO_MARKER).write_text(
        json.dumps({"generator": "distillguard.synthetic", "finished": False, "tables_are_demo": trusted}) + "\n"
    )


def seal_demo(lakehouse: Lakehouse) -> None:
    """Generation finished: record every landing file it wrote, so any later change shows."""
    (lakehouse.home / DEMO_MARKER).write_text(
        json.dumps(
            {
                "generator": "distillguard.synthetic",
                "finished": True,
                "landing": _landing_name(lakehouse),
                "files": _landing_files(lakehouse),
            },
            indent=0,
        )
        + "\n"
    )


def demo_status(lakehouse: Lakehouse) -> str | None:
    """None for a demo lakehouse, else why it is not one."""
    marker = _marker(lakehouse)
    if marker is None:
        return f"no {DEMO_MARKER} marker written by the generator"
    if not marker.get("finished"):
        # Generation under way: only the generator itself runs, nothing is ingested yet.
        if _holds_data(lakehouse) and not marker.get("tables_are_demo"):
            return "generation did not finish, yet tables exist"
        return None
    if marker.get("landing") != _landing_name(lakehouse):
        return f"the landing zone is {lakehouse.landing}, not the generated {marker.get('landing')}"
    recorded, present = marker.get("files", {}), _landing_files(lakehouse)
    foreign = sorted(name for name in present if recorded.get(name) != present[name])
    if foreign:
        return f"{len(foreign)} landing file(s) not written by the generator or changed since (e.g. {foreign[0]})"
    return None


def is_demo(lakehouse: Lakehouse) -> bool:
    return demo_status(lakehouse) is None


def get_key(lakehouse: Lakehouse, env_name: str) -> bytes:
    value = os.environ.get(env_name)
    if value:
        return value.encode()
    reason = demo_status(lakehouse)
    if reason is not None:
        raise DistillguardError(
            f"{env_name} is not set; only a synthetic demo lakehouse may run without it, "
            f"and {lakehouse.home} is not one: {reason}"
        )
    path = lakehouse.home / "secrets" / env_name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token_source.token_hex(32))
        path.chmod(0o600)
    log.warning("%s not set: using a random DEMO key from %s. Never run real data like this.", env_name, path)
    return path.read_text().strip().encode()
