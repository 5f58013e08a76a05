"""What the views share: what they read (:class:`Sources`), times as ISO 8601, a schedule's
blob events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triggerd.clock import utcnow
from triggerd.config import Config
from triggerd.config.blob_events import BlobEvents
from triggerd.settings import Settings
from triggerd.store import ScheduleState, Store


@dataclass(frozen=True)
class Sources:
    """What the pages and the API read: the store, the config in force (``config()``: it
    changes on reload), the settings (where the config files are, which ``daemons`` compares
    with what each daemon loaded; the heartbeat) and the clock."""

    store: Store
    config: Callable[[], Config]
    settings: Settings
    clock: Callable[[], datetime] = utcnow


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def events_view(events: BlobEvents | None, state: ScheduleState | None) -> dict[str, Any] | None:
    """A schedule's blob events as ``schedules list --json`` and ``describe --json`` show them
    (a documented contract); None for a schedule whose folder is only listed."""
    if events is None:
        return None
    return {
        "queue": events.queue,
        "reconcile_interval_s": events.reconcile_interval.total_seconds(),
        "last_event_at": iso(state.last_event_at) if state else None,
        "last_reconcile_at": iso(state.last_poll_at) if state else None,
    }
