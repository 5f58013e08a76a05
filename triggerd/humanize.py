"""Durations for people: ``2d10m``, ``1h``, ``1m30s``."""

from __future__ import annotations

from datetime import timedelta


def human(delta: timedelta) -> str:
    """The largest units first, zero parts left out; ``0s`` for nothing."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
