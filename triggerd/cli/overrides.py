"""The words of `schedules enable | disable | reset` and of the STATUS column: who sets an
override, and what a status in force is and where it comes from."""

from __future__ import annotations

import os
import pwd
from typing import Any

from triggerd.config import Schedule
from triggerd.store import ScheduleState


def operator() -> str | None:
    """Who is at the keyboard: ``$SUDO_USER`` (the person behind ``sudo``), else ``$USER``,
    else the login name of this process's user; None if none is known."""
    for variable in ("SUDO_USER", "USER"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no passwd entry (some containers)
        return None


def status_text(status: str, override: dict[str, Any] | None) -> str:
    """The STATUS column: ``Disabled (override)`` when the CLI set it, else the config's
    (``status`` and ``override`` as a `schedules list --json` item has them)."""
    return status if override is None else f"{status} (override)"


def override_text(state: ScheduleState, *, label: str = "") -> str:
    """``Disabled by alice at 2026-12-01T11:23:05+00:00: "deploy freeze"`` (``label`` after
    the status)."""
    word = "Active" if state.enabled else "Disabled"
    by = f" by {state.override_by}" if state.override_by else ""
    at = f" at {state.override_at.replace(microsecond=0).isoformat()}" if state.override_at else ""
    note = f': "{state.override_note}"' if state.override_note else ""
    return f"{word}{label}{by}{at}{note}"


def set_message(schedule: Schedule, state: ScheduleState) -> str:
    """What `schedules enable|disable` did (two lines)."""
    return (
        f"{schedule.name}: {override_text(state, label=' (override)')}; the config says "
        f"{schedule.status}\ntakes effect at its next slot and survives restarts; back to the "
        f"config with: triggerd schedules reset {schedule.name}"
    )


def reset_message(schedule: Schedule, before: ScheduleState | None) -> str:
    """What `schedules reset` did, and the status in force now."""
    now = f"status now {schedule.status}, from the config ({schedule.source or 'status'})"
    if before is None or before.enabled is None:
        return f"{schedule.name}: no override to clear; {now}"
    return f"{schedule.name}: override cleared (was {override_text(before)}); {now}"
