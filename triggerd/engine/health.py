"""Is the daemon alive, and is it ready? What ``/healthz``, ``/readyz`` and systemd's watchdog
are told.

Alive: the scheduler's loop and its job pool, the poll loop and the dispatcher's loop all went
round within ``STALE_LOOP``, and the database file is still the one the daemon opened. Ready:
alive enough to be started, the database answers, and its writes succeed (a full disk makes the
daemon not ready, not dead: restarting it would not help).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from triggerd.store import Store, instances
from triggerd.store.identity import DatabaseFile

STALE_LOOP = 15.0  # seconds without a beat before the daemon counts as wedged
PING_EVERY = 1.0  # seconds: /readyz asks the database at most this often


class _Loop(Protocol):
    @property
    def loop_at(self) -> float:
        """When the loop last went round (monotonic)."""
        ...


class Health:
    def __init__(
        self,
        store: Store,
        *,
        scheduler: _Loop,
        running: Callable[[], bool],
        loops: dict[str, _Loop],
        schedules: Callable[[], int],
        monotonic: Callable[[], float] = time.monotonic,
        notes: Callable[[], list[str]] = list,
    ) -> None:
        """``scheduler`` and ``running()``: APScheduler's loop and whether it runs; ``loops``:
        the other loops by name; ``schedules()``: how many schedules are loaded; ``notes()``:
        what is failing that a restart would not mend (an event queue out of reach), said in
        the ready text while the daemon stays ready."""
        self._store = store
        self._scheduler = scheduler
        self._running = running
        self._loops = loops
        self._schedules = schedules
        self._monotonic = monotonic
        self._notes = notes
        self._database_file = DatabaseFile.of(store.engine)
        self._beat_at = monotonic()
        self.started = False  # set once the start-up catch-up is done
        self.store_lost: str | None = None
        self.write_failure: str | None = None  # why the last heartbeat could not be written
        self._pinged: tuple[float, str | None] = (-PING_EVERY, None)  # (when, why it failed)

    def beat(self) -> None:
        """A scheduler job: proof that the scheduler's job pool still runs jobs."""
        self._beat_at = self._monotonic()

    def alive(self) -> tuple[bool, str]:
        if self.store_lost is not None:
            return False, f"database lost: {self.store_lost}"
        if not self.started:
            return True, "starting (catching up)"
        now = self._monotonic()
        scheduler_age = now - min(self._beat_at, self._scheduler.loop_at)
        if not self._running() or scheduler_age > STALE_LOOP:
            return False, f"scheduler loop silent for {scheduler_age:.0f}s"
        for name, loop in self._loops.items():
            if now - loop.loop_at > STALE_LOOP:
                return False, f"{name} loop silent for {now - loop.loop_at:.0f}s"
        return True, "scheduler and dispatcher running"

    def ready(self) -> tuple[bool, str]:
        if self.store_lost is not None:
            return False, f"database lost: {self.store_lost}"
        if not self.started:
            return False, "starting"
        unreachable = self._ping()
        if unreachable is not None:
            return False, f"database unreachable: {unreachable}"
        if self.write_failure is not None:
            return False, f"database writes failing: {self.write_failure}"
        return True, "; ".join([f"{self._schedules()} schedules loaded", *self._notes()])

    def _ping(self) -> str | None:
        """Why the database does not answer; asked at most every ``PING_EVERY`` seconds, so a
        flood of probes never takes the connections the daemon's own work needs."""
        at, failed = self._pinged
        now = self._monotonic()
        if now - at < PING_EVERY:
            return failed
        try:
            self._store.read(instances.ping)
        except Exception as exc:
            failed = type(exc).__name__
        else:
            failed = None
        self._pinged = (now, failed)
        return failed

    def database_lost(self) -> str | None:
        """Why the database file is no longer the one opened, the first time that is so."""
        if self._database_file is None or self.store_lost is not None:
            return None
        self.store_lost = self._database_file.lost()
        return self.store_lost
