"""Noticing wall-clock steps: the wall clock against the monotonic clock.

The wall clock can jump (an NTP correction, ``date -s``, a VM resumed from a snapshot, a host
whose clock was wrong); the monotonic clock never does. Their difference stays put, up to the
slow slewing NTP does (at most 0.5 ms a second), so a change of more than ``threshold`` between
two looks is a step. A suspended machine looks the same: the monotonic clock stops while it
sleeps, the wall clock does not — and the daemon was indeed not running meanwhile.

``check()`` is cheap (two clock reads) and thread-safe; whoever calls it first after a step
reports it, once, to ``on_step`` — and other callers wait until ``on_step`` has returned. The
planner calls it after reading the time for a pass, so no pass plans a stepped-to time before
the step is known.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

STEP_THRESHOLD = timedelta(seconds=5)


@dataclass(frozen=True)
class ClockStep:
    """The wall clock read ``actual`` where the monotonic clock says it should read ``expected``."""

    expected: datetime
    actual: datetime

    @property
    def size(self) -> timedelta:
        """Positive: the clock jumped forward (``expected`` .. ``actual`` never happened here)."""
        return self.actual - self.expected

    @property
    def forward(self) -> bool:
        return self.actual > self.expected


class ClockWatch:
    def __init__(
        self,
        wall: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        threshold: timedelta = STEP_THRESHOLD,
        on_step: Callable[[ClockStep], None] = lambda step: None,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._threshold = threshold.total_seconds()
        self._on_step = on_step
        self._lock = threading.RLock()  # held through on_step (which must not block long)
        self._seen_wall, self._seen_mono = wall(), monotonic()

    def check(self) -> ClockStep | None:
        """The step since the previous look, if the clock stepped; reported once."""
        with self._lock:
            mono, wall = self._monotonic(), self._wall()
            expected = self._seen_wall + timedelta(seconds=mono - self._seen_mono)
            self._seen_wall, self._seen_mono = wall, mono
            if abs((wall - expected).total_seconds()) <= self._threshold:
                return None
            step = ClockStep(expected, wall)
            self._on_step(step)
        return step
