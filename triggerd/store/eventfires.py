"""Recording what a batch of blob events fires, in ONE transaction (``Store.record_events``).

An event names one blob version. It fires unless the schedule's snapshot already holds that
version as fired or as the baseline (``already_seen``): a redelivered message, an event for a
blob the first listing found, or one the reconciling listing fired first. What fires is a run
under the poll's fire key (path + ETag), so a blob seen by an event and by a listing runs once,
and its snapshot row says the version fired, so the next listing finds nothing new. No lease is
taken: several replicas may consume one queue, and the fire key keeps them from firing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import null, select, update
from sqlalchemy.engine import Connection

from triggerd.datastores.snapshot import Entry
from triggerd.runs import NewRun
from triggerd.store import outbox
from triggerd.store.snapshots import FIRED
from triggerd.store.sql import chunks, insert
from triggerd.store.tables import datastore_entries as t
from triggerd.store.tables import schedule_state


@dataclass(frozen=True, slots=True)
class EventFire:
    """A run an event asks for: the blob version and the run it fires."""

    path: str
    entry: Entry
    run: NewRun
    event_time: datetime | None = None  # the event's eventTime (for the event-to-run metric)


@dataclass(frozen=True)
class EventsRecorded:
    created: list[int]  # ids of the new pending runs
    fired: list[EventFire]  # what the snapshot did not hold (recorded as runs)
    seen: list[EventFire]  # what it held already: nothing recorded


def record(
    conn: Connection, fires: Sequence[EventFire], schedules: Sequence[str], now: datetime
) -> EventsRecorded:
    """Record ``fires`` (one transaction: the caller's); ``schedules``: those an event reached,
    whose ``last_event_at`` moves to ``now``."""
    known = _fired_versions(conn, fires)
    fresh: list[EventFire] = []
    seen: list[EventFire] = []
    taken: set[tuple[str, str, str]] = set()  # a message may repeat another of the batch
    for fire in fires:
        version = fire.entry.version
        key = (fire.run.schedule, fire.path, version)
        if known.get(key[:2]) == version or key in taken:
            seen.append(fire)
        else:
            fresh.append(fire)
            taken.add(key)
    created = outbox.insert_runs(conn, [f.run for f in fresh], now) if fresh else []
    if fresh:
        _mark_fired(conn, fresh)
    if schedules:
        conn.execute(
            update(schedule_state)
            .where(schedule_state.c.name.in_(sorted(set(schedules))))
            .values(last_event_at=now)
        )
    return EventsRecorded(created, fresh, seen)


def _fired_versions(
    conn: Connection, fires: Sequence[EventFire]
) -> dict[tuple[str, str], str | None]:
    """The fired (or baseline) version the snapshot holds for each (schedule, path) named."""
    by_schedule: dict[str, list[str]] = {}
    for fire in fires:
        by_schedule.setdefault(fire.run.schedule, []).append(fire.path)
    known: dict[tuple[str, str], str | None] = {}
    for schedule, paths in by_schedule.items():
        for chunk in chunks(sorted(set(paths))):
            rows = conn.execute(
                select(t.c.path, t.c.fired_version).where(
                    t.c.schedule == schedule, t.c.path.in_(chunk)
                )
            )
            known.update({(schedule, path): version for path, version in rows})
    return known


def _mark_fired(conn: Connection, fires: Sequence[EventFire]) -> None:
    """The snapshot rows of what fired: this version fired, no candidate (an upsert: the row
    may be new, or hold an older version, or a candidate a listing saw settling)."""
    rows = {
        (f.run.schedule, f.path): {
            "schedule": f.run.schedule,
            "path": f.path,
            "fired_size": f.entry.size,
            "fired_version": f.entry.version,
            "candidate_size": None,
            "candidate_version": None,
            "candidate_seen_at": None,
            "candidate_polls": 0,
            "origin": FIRED,
        }
        for f in fires
    }
    stmt = insert(conn.dialect, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=["schedule", "path"],
        set_={
            "fired_size": stmt.excluded.fired_size,
            "fired_version": stmt.excluded.fired_version,
            "candidate_size": null(),
            "candidate_version": null(),
            "candidate_seen_at": null(),
            "candidate_polls": 0,
            "origin": FIRED,
        },
    )
    conn.execute(stmt, list(rows.values()))
