"""The poll loop: every datastore schedule's poll, every ``polling_interval``, on the monotonic
clock.

Poll times are monotonic, so a wall-clock step (either way) neither delays nor hastens a poll.
Polls run on worker threads of their own — daemon threads, at most ``workers`` at once — and
never touch the time scheduler, so a poll stuck in a slow listing can neither hold up the time
schedules nor keep the process from stopping: ``stop()`` waits a moment for polls in flight and
then leaves them (what a poll writes is one transaction, fenced by its lease).

A schedule's polls never overlap. They keep a fixed pace: the next poll is at the next multiple
of the interval since the schedule was added, unless the poll asks to come back sooner (a
retry after a failure, files still settling) or a folder watch wakes it. An early poll less
than half an interval before a pace point takes that point's place.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from triggerd.observability.logging import get_logger

Poll = Callable[[], timedelta | None]
WORKERS = 10


@dataclass
class _Entry:
    interval: float
    poll: Poll
    anchor: float  # the pace: polls are due at anchor + k * interval
    due: float
    running: bool = False
    woken: float | None = None  # a wake that came while the poll was running
    removed: bool = False
    early: bool = False  # ``due`` is off the pace: a retry, a follow-up or a wake


class PollLoop:
    def __init__(
        self, *, workers: int = WORKERS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._ready: queue.SimpleQueue[tuple[str, _Entry] | None] = queue.SimpleQueue()
        self._stopping = False
        self._threads = [threading.Thread(target=self._loop, name="polls", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"poll-{i}", daemon=True)
            for i in range(workers)
        ]
        self._log = get_logger()
        self.loop_at = monotonic()  # when the loop last went round (liveness)

    # -- the schedules -------------------------------------------------------------------------

    def add(self, name: str, interval: timedelta, poll: Poll) -> None:
        """Poll ``name`` every ``interval``, the first time at once (replaces an earlier add)."""
        now = self._monotonic()
        with self._cond:
            self._drop(name)
            entry = _Entry(max(interval.total_seconds(), 0.001), poll, now, now)
            self._entries[name] = entry
            self._push(name, entry)

    def remove(self, name: str) -> None:
        with self._cond:
            self._drop(name)

    def _drop(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        if entry is not None:
            entry.removed = True  # a poll in flight finishes; it is not due again

    def wake(self, name: str, delay: timedelta = timedelta(seconds=0.5)) -> None:
        """Bring the next poll forward to ``delay`` from now; later polls keep their pace."""
        soon = self._monotonic() + delay.total_seconds()
        with self._cond:
            entry = self._entries.get(name)
            if entry is None:
                return
            if entry.running:
                entry.woken = soon if entry.woken is None else min(entry.woken, soon)
            elif soon < entry.due:
                entry.due, entry.early = soon, True
                self._push(name, entry)

    def _push(self, name: str, entry: _Entry) -> None:
        heapq.heappush(self._heap, (entry.due, next(self._seq), name))
        self._cond.notify()

    # -- the threads ---------------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, wait: float) -> list[str]:
        """Start no more polls; wait up to ``wait`` seconds for those in flight. Returns the
        schedules whose polls were still running (their threads are left to end by themselves)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for _ in self._threads[1:]:
            self._ready.put(None)
        deadline = time.monotonic() + wait
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._cond:
            return sorted(name for name, entry in self._entries.items() if entry.running)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self.loop_at = self._monotonic()
                if self._stopping:
                    return
                wait = self._release_due(self.loop_at)
                self._cond.wait(timeout=wait)

    def _release_due(self, now: float) -> float:
        """Hand the due polls to the workers; how long until the next one is due (at most 1 s,
        so that the loop's liveness shows)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, name = heapq.heappop(heap)
            entry = self._entries.get(name)
            if entry is None or entry.running or entry.due != due:
                continue  # removed, replaced, running, or moved by a wake
            entry.running = True
            self._ready.put((name, entry))
        return min(1.0, heap[0][0] - now) if heap else 1.0

    def _work(self) -> None:
        while True:
            item = self._ready.get()
            if item is None:
                return
            name, entry = item
            if self._stopping:  # handed over just before the stop: not started
                with self._cond:
                    entry.running = False
                continue
            retry_in = self._run(name, entry.poll)
            with self._cond:
                self._finished(name, entry, retry_in)

    def _run(self, name: str, poll: Poll) -> timedelta | None:
        try:
            return poll()
        except Exception as exc:  # the store was unavailable, say: poll again next time
            self._log.error("poll.crashed", schedule=name, error=str(exc), exc_info=True)
            return None

    def _finished(self, name: str, entry: _Entry, retry_in: timedelta | None) -> None:
        entry.running = False
        if entry.removed or self._entries.get(name) is not entry:
            return
        now = self._monotonic()
        periods = (now - entry.anchor) // entry.interval + 1
        pace = entry.anchor + periods * entry.interval  # the next poll at the schedule's pace
        if entry.early and pace - now < entry.interval / 2:
            # This poll came early, close before a pace point: it stands for that point. (A
            # failing listing retries just under the interval; without this the pace poll
            # followed it seconds later, two polls a period for as long as the failure lasted.)
            pace += entry.interval
        due = pace
        if retry_in is not None:
            due = min(due, now + retry_in.total_seconds())
        if entry.woken is not None:
            due = min(due, max(now, entry.woken))
            entry.woken = None
        entry.due, entry.early = due, due != pace
        self._push(name, entry)
