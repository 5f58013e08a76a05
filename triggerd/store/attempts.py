"""A run's attempt history: when a new attempt starts, the previous one's start, end, exit code
and error leave the ``runs`` table's current columns for its ``history`` (a JSON list, oldest
first: ``{attempt, started_at, finished_at, exit_code, error}``, ``retried`` on the attempt
`runs retry` followed). Pure: the values an UPDATE of ``store/outbox.py`` sets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from triggerd.store.tables import runs

# What an attempt leaves in the current columns; the next attempt moves it into ``history``.
ATTEMPT = (
    runs.c.attempts,
    runs.c.started_at,
    runs.c.finished_at,
    runs.c.exit_code,
    runs.c.error,
    runs.c.history,
)


def move_attempt(
    row: Mapping[Any, Any], *, attempt: int, always: bool = False, **extra: Any
) -> dict[str, Any]:
    """The values that move an earlier attempt's results into ``history`` and clear them;
    nothing when there is none (``started_at`` is only set by an attempt; ``always`` moves
    the results of a run failed before it started, too). An error left without an attempt
    (a shutdown's, already in the history) is cleared."""
    if row["started_at"] is None and not always:
        return {"error": None} if row["error"] is not None else {}

    def text(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    entry = {
        "attempt": attempt,
        "started_at": text(row["started_at"]),
        "finished_at": text(row["finished_at"]),
        "exit_code": row["exit_code"],
        "error": row["error"],
        **extra,
    }
    return {
        "history": [*(row["history"] or []), entry],
        "started_at": None,
        "finished_at": None,
        "exit_code": None,
        "error": None,
    }
