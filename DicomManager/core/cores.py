"""How many cores this process may use: what the pools for encoding, decoding, deflating and converting size themselves by."""

from __future__ import annotations

import os

ALL_CORES = -1
"""``workers`` value: a worker per core where the pool that is given it finds that it pays."""


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
