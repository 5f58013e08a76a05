"""Polling one datastore schedule: list the folder, settle what changed, record the fires.

A poll is one non-recursive listing. New or changed files that have settled become pending
runs in the same transaction that advances the persisted snapshot, so a crash loses nothing
and fires nothing twice. A poll that finds no change writes nothing (but the poll statistics,
at most once a minute). A failed listing is logged, retried with backoff, and the old snapshot
stays the baseline: the schedule never stops by itself.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from triggerd.config import Config, Schedule
from triggerd.config.models import LocalDatastore
from triggerd.config.triggers import DatastoreTrigger
from triggerd.datastores.factory import build_lister
from triggerd.datastores.filters import watch_filter
from triggerd.datastores.listers import Lister
from triggerd.datastores.names import shown, unstorable
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.datastores.settle import SettleResult, Tracked, settle
from triggerd.errors import LeaseLost, ListingError
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import (
    DataPath,
    NewRun,
    RunStatus,
    TriggerKind,
    datastore_fire_key,
    refused_fire_key,
)
from triggerd.store import Store, leases, snapshots, states

FOLLOW_UP = timedelta(seconds=5)  # with a folder watch: poll again this soon while files settle
STATS_EVERY_S = 60.0  # seconds: poll statistics of unchanged polls are written this often
LEASE_TTL = timedelta(seconds=30)  # a poll lease not renewed this long goes to another daemon
LEASE_MARGIN = timedelta(seconds=5)  # a poll renews a lease this close to its expiry itself
FIRST_RETRY = timedelta(seconds=5)


def retry_delay(failures: int, interval: timedelta) -> timedelta:
    """Exponential backoff from 5 s, never longer than the polling interval, with 10% jitter."""
    delay: timedelta = min(FIRST_RETRY * (1 << max(0, min(failures, 30) - 1)), interval)
    return delay * (0.9 + 0.1 * random.random())  # noqa: S311 - jitter, not security


class DatastorePoller:
    def __init__(
        self,
        schedule: Schedule,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], datetime],
        is_enabled: Callable[[], bool],
        owner: str = "local",
        on_recorded: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
    ) -> None:
        assert isinstance(schedule.trigger, DatastoreTrigger)
        self.metrics = metrics
        self.schedule = schedule
        self.watch = schedule.trigger
        self.datastore = config.datastores[self.watch.datastore]
        self.store = store
        self.clock = clock
        self.is_enabled = is_enabled
        self.on_recorded = on_recorded
        self.owner = owner
        self.lease_name = f"poll:{schedule.name}"  # the one place a poll lease is named
        self._token: int | None = None  # the fencing token of the lease this poller holds
        self._lease_until: datetime | None = None
        self.failures = 0
        self.watched = False  # set when inotify wakes this poller early (local folders)
        self._lister: Lister | None = None
        self._tracked: dict[str, Tracked] | None = None
        self._stats_at: float | None = None  # when the statistics were last written (monotonic)
        self._refused: dict[str, str] = {}  # unstorable path -> the version recorded as refused
        self._unreadable: dict[str, str] = {}  # entry name -> why the lister could not read it
        self._first_poll = True
        self._settling: set[str] = set()  # paths with a candidate version still settling
        # The lister's previous listing was settled, committed and applied to ``_tracked``: a
        # listing found unchanged then has nothing to decide. False until a poll completes.
        self._in_step = False
        self._entries = 0  # files in the last listing
        self._busy = threading.Lock()
        self._closed = False
        self._log = get_logger(schedule=schedule.name)

    def lister(self) -> Lister:
        if self._lister is None:
            self._lister = build_lister(
                self.datastore, self.watch.path_on_datastore, watch_filter(self.watch)
            )
        return self._lister

    def local_folder(self) -> Path | None:
        """The watched folder when it is on this machine (for an inotify watch)."""
        if not isinstance(self.datastore, LocalDatastore):
            return None
        prefix = normalise_path_on_datastore(self.watch.path_on_datastore)
        return self.datastore.path / prefix if prefix else self.datastore.path

    def close(self) -> None:
        """No more polls; a poll in flight ends quietly (its lister's connections are gone)."""
        self._closed = True
        if self._lister is not None:
            self._lister.close()
            self._lister = None

    def poll(self) -> timedelta | None:
        """One poll; polls never overlap. Returns how soon to poll again when that should be
        sooner than the interval (a retry after a failure, files settling under a watch)."""
        if self._closed:
            return None
        if not self._busy.acquire(blocking=False):
            self._log.info("poll.skipped", reason="the previous poll is still running")
            return None
        try:
            return self._poll()
        finally:
            self._busy.release()

    @property
    def holds_lease(self) -> bool:
        return self._token is not None

    def lease_renewed(self, token: int | None, now: datetime) -> None:
        """The heartbeat renewed this daemon's leases at ``now``: ``token`` is this one's, or
        None when another daemon took it over."""
        if self._token is None:
            return
        if token != self._token:
            self._lose_lease()
        else:
            self._lease_until = now + LEASE_TTL

    def release_lease(self) -> None:
        if self._token is not None:
            self.store.write(leases.release, self.lease_name, self.owner, self.clock())
            self._token = None

    def _lose_lease(self) -> None:
        """Another daemon polls now: what this one remembers may be stale."""
        self._token = None
        self._lease_until = None
        self._tracked = None
        self._in_step = False

    def _take_lease(self) -> bool:
        now = self.clock()
        if self._token is not None and self._lease_until and now < self._lease_until - LEASE_MARGIN:
            return True  # held and renewed by the heartbeat: no write (the fence still checks)
        token = self.store.write(leases.acquire, self.lease_name, self.owner, now, LEASE_TTL)
        if token is None:
            if self._token is not None:
                self._lose_lease()
            self._log.debug("poll.skipped", reason="another daemon holds the lease")
            return False
        if token != self._token:
            self._tracked = None  # the lease changed hands: reload what the others wrote
            self._in_step = False
            self._token = token
        self._lease_until = now + LEASE_TTL
        return True

    def _poll(self) -> timedelta | None:
        if not self._take_lease():
            return None
        started = time.monotonic()
        in_step = self._in_step and not self._settling
        self._in_step = False  # until what this poll sees is committed and applied
        try:
            listing = self.lister().list_if_changed() if in_step else self.lister().list()
        except (ListingError, ValueError) as exc:
            return self._failed(exc)
        self.failures = 0
        now = self.clock()
        tracked = self._load_tracked(now)
        baseline = self._first_poll and self.watch.on_existing == "ignore"
        if listing is None:
            result = SettleResult()  # the steady state: nothing changed, nothing to decide
        else:
            result = settle(tracked, listing, now=now, window=self.watch.settle, baseline=baseline)
            self._entries = len(listing)
            self._report_unreadable()
        refused = self._refuse(result, now, baseline)
        new_runs = self._new_runs(result, now)
        created = self._record(result, [*new_runs, *refused])
        if created is None:
            return None  # the lease went to another daemon
        self._apply(result)
        self._first_poll = False
        self._in_step = True
        self._report(result, new_runs, refused, baseline, time.monotonic() - started)
        if created:
            self.on_recorded()
        if self.watched and self._settling:
            return min(FOLLOW_UP, self.watch.polling_interval)
        return None

    def _failed(self, exc: Exception) -> timedelta | None:
        if self._closed:  # closed under it (a stop, a reload): not a failure of the datastore
            self._log.debug("poll.abandoned", reason=str(exc))
            return None
        self.failures += 1
        delay = retry_delay(self.failures, self.watch.polling_interval)
        if self.metrics:
            self.metrics.poll_failed(self.schedule.name)
        self._log.warning(
            "poll.failed",
            reason=str(exc),
            failures=self.failures,
            retry_in_s=round(delay.total_seconds(), 1),
        )
        return delay

    def _load_tracked(self, now: datetime) -> dict[str, Tracked]:
        """What this poller tracks: the stored snapshot, read at its first poll."""
        if self._tracked is None:
            name = self.schedule.name
            state = self.store.write(states.ensure, name, now.replace(microsecond=0))
            self._tracked = self.store.read(snapshots.load, name)
            self._settling = {p for p, t in self._tracked.items() if t.candidate is not None}
            self._first_poll = state.last_poll_at is None
        return self._tracked

    def _record(self, result: SettleResult, new_runs: list[NewRun]) -> list[int] | None:
        """Commit the poll (nothing at all when nothing changed and no statistics are due);
        the new pending runs' ids, or None when the lease was lost."""
        now = self.clock()
        stats_due = self._stats_at is None or time.monotonic() - self._stats_at >= STATS_EVERY_S
        if not (result.writes or new_runs or stats_due):
            return []
        try:
            created = self.store.record_poll(
                self.schedule.name, result, new_runs, now=now, entries=self._entries,
                stats_only=not (result.writes or new_runs),
                lease=(self.lease_name, self.owner, self._token or 0),
            )  # fmt: skip
        except LeaseLost as exc:
            self._log.warning("poll.lease_lost", reason=str(exc))
            self._lose_lease()
            return None
        self._stats_at = time.monotonic()
        return created

    def _report(
        self,
        result: SettleResult,
        new_runs: list[NewRun],
        refused: list[NewRun],
        baseline: bool,
        took: float,
    ) -> None:
        name = self.schedule.name
        if self.metrics:
            self.metrics.poll_completed(name, took, self._entries)
            for new in [*new_runs, *refused]:
                outcome = "planned" if new.status == "pending" else "skipped"
                self.metrics.fire_recorded(name, "datastore", outcome)
        self._log.info(
            "poll.completed",
            entries=self._entries,
            changes=result.changes,
            fires=len(new_runs),
            refused=len(refused),
            baseline=baseline,
            duration_ms=round(took * 1000, 1),
        )
        for new in [*new_runs, *refused]:
            event = "fire.planned" if new.status == "pending" else "fire.skipped"
            self._log.info(event, fire_key=new.fire_key, data_path=new.data_path, reason=new.reason)

    def _refuse(self, result: SettleResult, now: datetime, baseline: bool) -> list[NewRun]:
        """Take the files whose names the store cannot hold out of ``result`` (they are not
        tracked, so the rest of the folder goes on as usual) and record each version once as a
        skipped fire, with the reason (a baseline file would not have fired: it is only
        logged)."""
        if not result.writes:
            return []
        found = unstorable([*result.inserts, *result.updates])
        if not found:
            return []
        result.fire = [(path, entry) for path, entry in result.fire if path not in found]
        skipped = []
        for path, reason in found.items():
            state = result.inserts.pop(path, None) or result.updates.pop(path)
            entry = state.last_seen
            assert entry is not None
            if self._refused.get(path) == entry.version:
                continue  # recorded (or logged) already
            self._refused[path] = entry.version
            shown_path = shown(path)
            if baseline:
                self._log.info("poll.entry_refused", path=shown_path, reason=reason)
                continue
            skipped.append(
                NewRun(
                    schedule=self.schedule.name,
                    trigger=TriggerKind.DATASTORE,
                    fire_key=refused_fire_key(self.schedule.name, path, entry.version),
                    scheduled_for=now,
                    parameters=dict(self.schedule.pipeline_parameters),
                    data_path=DataPath(self.watch.datastore, shown_path),
                    status=RunStatus.SKIPPED,
                    reason=f"not fired: {reason}",
                )
            )
        return skipped

    def _report_unreadable(self) -> None:
        """Entries the lister could not read are left out of the listing; each is logged once."""
        for name, reason in self.lister().unreadable.items():
            if self._unreadable.get(name) != reason:
                self._unreadable[name] = reason
                self._log.warning("poll.entry_unreadable", path=shown(name), reason=reason)

    def _new_runs(self, result: SettleResult, now: datetime) -> list[NewRun]:
        enabled = self.is_enabled()
        name = self.schedule.name
        datastore = self.watch.datastore
        return [
            NewRun(
                schedule=name,
                trigger=TriggerKind.DATASTORE,
                fire_key=datastore_fire_key(name, path, entry.version),
                scheduled_for=now,
                parameters=dict(self.schedule.pipeline_parameters),
                data_path=DataPath(datastore, path),
                status=RunStatus.PENDING if enabled else RunStatus.SKIPPED,
                reason=None if enabled else "schedule disabled",
            )
            for path, entry in result.fire
        ]

    def _apply(self, result: SettleResult) -> None:
        """Keep the in-memory snapshot in step with what was just committed."""
        assert self._tracked is not None
        for changed in (result.inserts, result.updates):
            self._tracked.update(changed)
            for path, state in changed.items():
                if state.candidate is None:
                    self._settling.discard(path)
                else:
                    self._settling.add(path)
        for path in result.removals:
            del self._tracked[path]
            self._settling.discard(path)
