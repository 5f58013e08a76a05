"""Coalescing wake-ups: schedules that come due together are planned and committed together.

APScheduler wakes each schedule's job on its own pool thread. With a thousand schedules on the
same minute, a transaction per wake-up would queue on the database; instead each wake-up only
names its schedule here, and one planning thread takes everything named so far, a few
milliseconds after the first name arrived, in one pass and one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection

from triggerd.observability.logging import get_logger

GATHER_S = 0.005  # how long the first wake-up waits for the others of the same instant


class TickBatcher:
    def __init__(self, tick_many: Callable[[Collection[str]], object]) -> None:
        self._tick_many = tick_many
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="planner", daemon=True)
        self._log = get_logger()

    def request(self, *names: str) -> None:
        """These schedules came due (called from APScheduler's threads)."""
        with self._lock:
            self._pending.update(names)
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """No more passes; wait up to ``wait`` seconds for one in flight (its transaction
        commits or not: either is safe)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=wait)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            if self._stopping.wait(GATHER_S):
                break
            self._wake.clear()
            with self._lock:
                names, self._pending = sorted(self._pending), set()
            if not names:
                continue
            try:
                self._tick_many(names)
            except Exception as exc:  # the database may be away: ask again at the next pass
                self._log.error("schedule.tick_failed", schedules=len(names), error=str(exc))
                with self._lock:
                    self._pending.update(names)
                self._stopping.wait(1.0)
                self._wake.set()
