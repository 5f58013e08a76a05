"""The poll loop: polls at their pace on the monotonic clock, sooner when asked, and a stop that
never waits for a stuck poll (issue 11, faults 1 and 2)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

from triggerd.engine.polls import PollLoop, _Entry


class Mono:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def finished(loop: PollLoop, entry: _Entry, retry_in: timedelta | None = None) -> float:
    loop._entries["s"] = entry
    entry.running = True
    with loop._cond:
        loop._finished("s", entry, retry_in)
    return entry.due


def test_the_next_poll_keeps_the_pace_of_the_interval_whatever_a_poll_took() -> None:
    mono = Mono()
    loop = PollLoop(workers=1, monotonic=mono)
    entry = _Entry(interval=10.0, poll=lambda: None, anchor=500.0, due=500.0)
    mono.now = 503.2  # the poll took 3.2 s
    assert finished(loop, entry) == 510.0
    mono.now = 534.0  # a slow poll (24 s) skips the due times it overran
    assert finished(loop, entry) == 540.0


def test_a_retry_or_a_wake_brings_the_next_poll_forward_never_back() -> None:
    mono = Mono()
    loop = PollLoop(workers=1, monotonic=mono)
    entry = _Entry(interval=60.0, poll=lambda: None, anchor=500.0, due=500.0)
    mono.now = 501.0
    assert finished(loop, entry, timedelta(seconds=5)) == 506.0
    assert finished(loop, entry, timedelta(hours=1)) == 560.0  # a retry later than the pace
    entry.woken = 502.0  # a folder event came while the poll ran
    assert finished(loop, entry) == 502.0


def test_polls_run_on_their_own_threads_and_a_stop_leaves_a_stuck_one() -> None:
    loop = PollLoop(workers=2)
    never = threading.Event()
    ran = threading.Event()
    counted: list[float] = []

    def stuck() -> timedelta | None:
        never.wait(60)  # an unreachable endpoint, say
        return None

    def quick() -> timedelta | None:
        counted.append(time.monotonic())
        if len(counted) >= 3:
            ran.set()
        return None

    loop.add("stuck", timedelta(seconds=1), stuck)
    loop.add("quick", timedelta(seconds=0.05), quick)
    loop.start()
    try:
        assert ran.wait(10), "the quick schedule kept its pace beside the stuck one"
    finally:
        began = time.monotonic()
        left = loop.stop(0.3)
        never.set()
    assert time.monotonic() - began < 2
    assert left == ["stuck"]


def test_a_removed_schedule_is_not_polled_again() -> None:
    loop = PollLoop(workers=1)
    calls: list[int] = []
    loop.add("gone", timedelta(seconds=0.02), lambda: calls.append(1) or None)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        loop.remove("gone")
        time.sleep(0.05)  # a poll in flight when it was removed may still end
        settled = len(calls)
        time.sleep(0.2)
    finally:
        loop.stop(1)
    assert calls and len(calls) == settled


def test_a_failing_listing_is_polled_once_a_period_not_twice() -> None:
    """The retry after a failure comes just under the interval (backoff capped at it, with
    jitter): the pace point seconds later is not polled as well."""
    mono = Mono()
    loop = PollLoop(workers=1, monotonic=mono)
    entry = _Entry(interval=60.0, poll=lambda: None, anchor=500.0, due=500.0)
    polled = [500.0]
    for _ in range(5):  # every poll fails; the poller asks to come back in 57 s
        mono.now = polled[-1] + 0.01
        polled.append(finished(loop, entry, timedelta(seconds=57)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(polled)]
    assert all(50 < gap <= 60 for gap in gaps), gaps
    mono.now = polled[-1] + 0.01  # the listing works again: back on the pace
    assert finished(loop, entry) == 860.0
    mono.now = 860.5  # the poll on the pace point does not skip the next one
    assert finished(loop, entry) == 920.0


def test_a_wake_close_before_a_pace_point_stands_for_it() -> None:
    mono = Mono()
    loop = PollLoop(workers=1, monotonic=mono)
    entry = _Entry(interval=60.0, poll=lambda: None, anchor=500.0, due=560.0)
    mono.now = 545.0
    loop._entries["s"] = entry
    loop.wake("s", timedelta(0))  # a file event, 15 s before the pace point
    assert entry.due == 545.0 and entry.early
    assert finished(loop, entry) == 620.0
    mono.now = 625.0
    loop.wake("s", timedelta(0))  # 55 s before the next: that one is still polled
    assert finished(loop, entry) == 680.0
