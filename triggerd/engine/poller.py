"""Polling one datastore schedule: list the folder, settle what changed, record the fires.

A poll is one non-recursive listing. New or changed files that have settled become pending
runs in the same transaction that advances the persisted snapshot, so a crash loses nothing
and fires nothing twice. A poll that finds no change writes nothing (but the poll statistics,
at most once a minute) and logs at debug. A poll that did something (a change, a fire, the
baseline, a failure) is kept in the schedule's poll history, and the files it left out (a
pattern, not a regular file, a name the store cannot hold) with why, written when that set
changes. A failed listing is logged, retried with backoff, and the old snapshot stays the
baseline: the schedule never stops by itself.

A poll goes lease -> list -> settle -> plan (``fileplan.py``, pure) -> record -> apply.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import compress
from operator import attrgetter
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from triggerd.config import Config, Schedule
from triggerd.config.models import AzureBlobDatastore, LocalDatastore
from triggerd.config.triggers import DatastoreTrigger
from triggerd.datastores.factory import build_lister
from triggerd.datastores.filters import watch_filter
from triggerd.datastores.listers import Lister
from triggerd.datastores.names import MAX_PATH, shown
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.datastores.settle import SettleResult, Tracked, settle
from triggerd.datastores.snapshot import UNREPRESENTABLE, Ignored, IgnoredChange, Listing
from triggerd.engine.collector import collector_paused
from triggerd.engine.fileplan import Refusal, plan_datastore_fires, refuse_unstorable
from triggerd.engine.lease import PollLease
from triggerd.errors import LeaseLost, ListingError
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, RunStatus
from triggerd.store import Store, polls, snapshots, states
from triggerd.store.polls import PollRecord

FOLLOW_UP = timedelta(seconds=5)  # with a folder watch: poll again this soon while files settle
STATS_EVERY_S = 60.0  # seconds: poll statistics of unchanged polls are written this often
FIRST_RETRY = timedelta(seconds=5)
ERROR_KEPT = 2000  # characters of a failed listing's reason kept in the poll history


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
        # Fed by blob events: this poller's listing only reconciles, every reconcile_interval,
        # and the events write the snapshot too, so each listing starts from the stored one.
        events = self.datastore.events if isinstance(self.datastore, AzureBlobDatastore) else None
        self.event_fed = events is not None
        self.interval = events.reconcile_interval if events else self.watch.polling_interval
        self.store = store
        self.clock = clock
        self.is_enabled = is_enabled
        self.on_recorded = on_recorded
        self.owner = owner
        self.lease = PollLease(store, schedule.name, owner=owner, clock=clock, on_lost=self._stale)
        self.failures = 0
        self.watched = False  # set when inotify wakes this poller early (local folders)
        self._lister: Lister | None = None
        self._tracked: dict[str, Tracked] | None = None
        self._stats_at: float | None = None  # when the statistics were last written (monotonic)
        self._refused: dict[str, str] = {}  # unstorable path -> the version recorded as refused
        self._unreadable: dict[str, str] = {}  # entry name -> why the lister could not read it
        self._ignored: dict[str, Ignored] = {}  # shown path -> why it is left out, as stored
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
            # A listing with a change makes an object or more per file (a first poll of
            # 100,000 files: ~500,000 that all survive it), which would set the cyclic collector
            # off again and again (~30% of such a poll); a poll makes no reference cycles.
            with collector_paused():
                return self._poll()
        finally:
            self._busy.release()

    @property
    def holds_lease(self) -> bool:
        return self.lease.held

    @property
    def lease_name(self) -> str:
        return self.lease.name

    def lease_renewed(self, token: int | None, now: datetime) -> None:
        """The heartbeat renewed this daemon's leases at ``now``: ``token`` is this one's, or
        None when another daemon took it over."""
        self.lease.renewed(token, now)

    def release_lease(self) -> None:
        self.lease.release()

    def _stale(self) -> None:
        """The lease changed hands: what this poller remembers may be stale."""
        self._tracked = None
        self._in_step = False

    def _poll(self) -> timedelta | None:
        if not self.lease.take():
            self._log.debug("poll.skipped", reason="another daemon holds the lease")
            return None
        started, started_at = time.monotonic(), self.clock()
        if self.event_fed:
            self._stale()  # what the events recorded since the last listing is in the store
        in_step = self._in_step and not self._settling
        self._in_step = False  # until what this poll sees is committed and applied
        try:
            listing = self.lister().list_if_changed() if in_step else self.lister().list()
        except (ListingError, ValueError) as exc:
            return self._failed(exc, started_at, started)
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
        refusal, fires = self._plan(result, now, baseline)
        ignored = self._left_out(listing, refusal)
        change = IgnoredChange.between(self._ignored, ignored) if ignored is not None else None
        history = self._history(
            started_at, started, result, refusal, fires, baseline, ignored, bool(change)
        )
        created = self._record(refusal.result, [*fires, *refusal.runs], baseline, history, change)
        if created is None:
            return None  # the lease went to another daemon
        self._apply(refusal.result)
        self._refused.update(refusal.versions)
        if ignored is not None:
            self._ignored = ignored
        self._first_poll = False
        self._in_step = True
        self._report(refusal, fires, baseline, time.monotonic() - started, quiet=history is None)
        if created:
            self.on_recorded()
        if self.watched and self._settling:
            return min(FOLLOW_UP, self.interval)
        return None

    def _plan(
        self, result: SettleResult, now: datetime, baseline: bool
    ) -> tuple[Refusal, list[NewRun]]:
        """The files refused for their names, and the runs of those that fire (asking whether
        the schedule is enabled only when some fire: a steady poll reads nothing)."""
        name, parameters = self.schedule.name, self.schedule.pipeline_parameters
        refusal = refuse_unstorable(
            result, schedule=name, datastore=self.watch.datastore, parameters=parameters,
            now=now, refused_before=self._refused, baseline=baseline,
        )  # fmt: skip
        if not refusal.result.fire:
            return refusal, []
        fires = plan_datastore_fires(
            refusal.result, schedule=name, datastore=self.watch.datastore,
            parameters=parameters, now=now, enabled=self.is_enabled(),
        )  # fmt: skip
        return refusal, fires

    def _failed(self, exc: Exception, started_at: datetime, started: float) -> timedelta | None:
        if self._closed:  # closed under it (a stop, a reload): not a failure of the datastore
            self._log.debug("poll.abandoned", reason=str(exc))
            return None
        self.failures += 1
        delay = retry_delay(self.failures, self.interval)
        if self.metrics:
            self.metrics.poll_failed(self.schedule.name)
        self._log.warning(
            "poll.failed",
            reason=str(exc),
            failures=self.failures,
            retry_in_s=round(delay.total_seconds(), 1),
        )
        record = PollRecord(
            started_at=started_at,
            duration_ms=round((time.monotonic() - started) * 1000),
            listed=None,
            settling=len(self._settling),
            excluded=len(self._ignored),
            error=str(exc)[:ERROR_KEPT],
        )
        try:
            self.store.write(polls.append, self.schedule.name, record)
        except SQLAlchemyError as error:  # the database is down too: the retry still comes
            self._log.warning("poll.unrecorded", reason=str(error).split("\n", 1)[0])
        return delay

    def _load_tracked(self, now: datetime) -> dict[str, Tracked]:
        """What this poller tracks: the stored snapshot, read at its first poll."""
        if self._tracked is None:
            name = self.schedule.name
            state = self.store.write(states.ensure, name, now.replace(microsecond=0))
            self._tracked = self.store.read(snapshots.load, name)
            self._ignored = self.store.read(polls.load_ignored, name)
            self._settling = {p for p, t in self._tracked.items() if t.candidate is not None}
            self._first_poll = state.last_poll_at is None
        return self._tracked

    def _left_out(self, listing: Listing | None, refusal: Refusal) -> dict[str, Ignored] | None:
        """What the listing left out, by path as the store holds it (None: nothing listed)."""
        if listing is None:
            return None
        found = {_storable(path): why for path, why in self.lister().ignored.items()}
        for path, reason in refusal.present.items():
            found[_storable(path)] = Ignored(UNREPRESENTABLE, reason)
        return found

    def _history(
        self,
        started_at: datetime,
        started: float,
        result: SettleResult,
        refusal: Refusal,
        fires: list[NewRun],
        baseline: bool,
        ignored: dict[str, Ignored] | None,
        ignored_changed: bool,
    ) -> PollRecord | None:
        """The poll's history row; None for a poll that found nothing new (it is not kept)."""
        kept = refusal.result
        if not (baseline or fires or refusal.runs or kept.writes or ignored_changed):
            return None
        left_out = self._ignored if ignored is None else ignored
        return PollRecord(
            started_at=started_at,
            duration_ms=round((time.monotonic() - started) * 1000),
            listed=self._entries,
            new=len(kept.inserts),
            changed=result.changes - len(result.inserts) - len(result.removals),
            fired=len(fires),
            settling=self._settling_after(kept),
            excluded=len(left_out),
            baseline=baseline,
        )

    def _settling_after(self, result: SettleResult) -> int:
        """How many files will be settling once ``result`` is applied."""
        after = set(self._settling)
        _still_settling(after, result)
        return len(after)

    def _record(
        self,
        result: SettleResult,
        new_runs: list[NewRun],
        baseline: bool,
        history: PollRecord | None,
        ignored: IgnoredChange | None,
    ) -> int | None:
        """Commit the poll (nothing at all when nothing changed and no statistics are due);
        how many pending runs it recorded, or None when the lease was lost."""
        now = self.clock()
        stats_due = self._stats_at is None or time.monotonic() - self._stats_at >= STATS_EVERY_S
        if not (result.writes or new_runs or stats_due or history or ignored):
            return 0
        try:
            created = self.store.record_poll(
                self.schedule.name, result, new_runs, now=now, entries=self._entries,
                stats_only=not (result.writes or new_runs), lease=self.lease.fence,
                baseline=baseline, history=history, ignored=ignored or None,
            )  # fmt: skip
        except LeaseLost as exc:
            self._log.warning("poll.lease_lost", reason=str(exc))
            self.lease.lose()
            return None
        self._stats_at = time.monotonic()
        return created

    def _report(
        self, refusal: Refusal, fires: list[NewRun], baseline: bool, took: float, *, quiet: bool
    ) -> None:
        """Metrics and log lines; ``quiet``: a poll that found nothing new logs at debug."""
        name, result = self.schedule.name, refusal.result
        recorded = [*fires, *refusal.runs]
        if self.metrics:
            self.metrics.poll_completed(name, took, self._entries)
            for new in recorded:
                outcome = "planned" if new.status == RunStatus.PENDING else "skipped"
                self.metrics.fire_recorded(name, "datastore", outcome)
        (self._log.debug if quiet else self._log.info)(
            "poll.completed",
            entries=self._entries,
            changes=result.changes,
            fires=len(fires),
            refused=len(refusal.runs),
            baseline=baseline,
            duration_ms=round(took * 1000, 1),
        )
        for path, reason in refusal.reasons.items() if baseline else ():
            self._log.info("poll.entry_refused", path=path, reason=reason)
        for new in recorded:
            event = "fire.planned" if new.status == RunStatus.PENDING else "fire.skipped"
            self._log.info(event, fire_key=new.fire_key, data_path=new.data_path, reason=new.reason)

    def _report_unreadable(self) -> None:
        """Entries the lister could not read are left out of the listing; each is logged once."""
        for name, reason in self.lister().unreadable.items():
            if self._unreadable.get(name) != reason:
                self._unreadable[name] = reason
                self._log.warning("poll.entry_unreadable", path=shown(name), reason=reason)

    def _apply(self, result: SettleResult) -> None:
        """Keep the in-memory snapshot in step with what was just committed."""
        assert self._tracked is not None
        self._tracked.update(result.inserts)
        self._tracked.update(result.updates)
        for path in result.removals:
            del self._tracked[path]
        _still_settling(self._settling, result)


def _still_settling(settling: set[str], result: SettleResult) -> None:
    """``settling`` (the paths with a candidate) once ``result`` is applied; in C, for the
    100,000 inserts of a first poll."""
    for changed in (result.inserts, result.updates):
        settling.difference_update(changed)
        settling.update(compress(changed, map(_candidate, changed.values())))
    settling.difference_update(result.removals)


_candidate = attrgetter("candidate")  # an Entry (a non-empty tuple: true) or None


def _storable(path: str) -> str:
    """A path as ``datastore_ignored`` holds it: shown, when the store cannot hold it as it is."""
    return path if path.isascii() and len(path) <= MAX_PATH else shown(path)
