"""Keys for pseudonymising identities and matching partner HMACs: never from the repo.

A key comes from its environment variable (on Databricks, set it from a secret scope).
Without one, only a demo lakehouse (marked by the synthetic generator) may run: a random
key is created once under ``<home>/secrets`` and a loud warning is printed every time.
"""

from __future__ import annotations

import logging
import os
import secrets as token_source

from distillguard.config import Lakehouse
from distillguard.errors import DistillguardError

log = logging.getLogger(__name__)

PARTNER_HMAC_KEY_ENV = "DISTILLGUARD_PARTNER_HMAC_KEY"
PSEUDONYM_KEY_ENV = "DISTILLGUARD_PSEUDONYM_KEY"
DEMO_MARKER = "DEMO_LAKEHOUSE"


def mark_demo(lakehouse: Lakehouse) -> None:
    lakehouse.home.mkdir(parents=True, exist_ok=True)
    (lakehouse.home / DEMO_MARKER).write_text("synthetic data: demo keys allowed\n")


def is_demo(lakehouse: Lakehouse) -> bool:
    return (lakehouse.home / DEMO_MARKER).exists()


def get_key(lakehouse: Lakehouse, env_name: str) -> bytes:
    value = os.environ.get(env_name)
    if value:
        return value.encode()
    if not is_demo(lakehouse):
        raise DistillguardError(f"{env_name} is not set; only a synthetic demo lakehouse may run without it")
    path = lakehouse.home / "secrets" / env_name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token_source.token_hex(32))
        path.chmod(0o600)
    log.warning("%s not set: using a random DEMO key from %s. Never run real data like this.", env_name, path)
    return path.read_text().strip().encode()
