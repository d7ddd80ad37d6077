"""The gates' expected-volume bounds, from what earlier folder dates brought.

Pure functions of figures already known, so a run over several folder dates gives each
date the bounds a day-by-day run would have: earlier dates of the same run count as
history as soon as they are classified.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta

VOLUME_HISTORY_DAYS = 7
VOLUME_MIN_HISTORY = 3
UNBOUNDED = 10**15


def volume_bounds(accepted_by_date: dict[date, int], landing_date: date) -> dict[str, int]:
    """Bounds on a date's accepted rows from the median of the trailing week's dates
    (``accepted_by_date``: accepted rows of each earlier folder date that succeeded)."""
    history = [
        accepted
        for day, accepted in accepted_by_date.items()
        if landing_date - timedelta(days=VOLUME_HISTORY_DAYS) <= day < landing_date
    ]
    if len(history) < VOLUME_MIN_HISTORY:
        return {
            "volume_min_critical": 0,
            "volume_max_critical": UNBOUNDED,
            "volume_min_warning": 0,
            "volume_max_warning": UNBOUNDED,
        }
    median = statistics.median(history)
    return {
        "volume_min_critical": int(median * 0.1),
        "volume_max_critical": int(median * 10),
        "volume_min_warning": int(median * 0.5),
        "volume_max_warning": int(median * 2),
    }


def account_bounds(accounts_by_snapshot: dict[date, int], snapshot_date: date) -> dict[str, int]:
    """Accounts are never deleted: fewer than the previous snapshot means a truncated file
    (``accounts_by_snapshot``: accounts of each stored snapshot)."""
    earlier = [day for day in accounts_by_snapshot if day < snapshot_date]
    previous = accounts_by_snapshot[max(earlier)] if earlier else 0
    if not previous:
        return {
            "accounts_min_critical": 1,
            "accounts_max_critical": UNBOUNDED,
            "accounts_min_warning": 1,
            "accounts_max_warning": UNBOUNDED,
        }
    return {
        "accounts_min_critical": int(previous * 0.9),
        "accounts_max_critical": previous * 2,
        "accounts_min_warning": previous,
        "accounts_max_warning": int(previous * 1.2),
    }
