"""The wall clock, as an aware UTC time (what the daemon and the CLI pass around as ``now``)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
