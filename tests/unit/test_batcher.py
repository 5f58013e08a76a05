"""Wake-ups that come together are planned together; a failed pass is tried again."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from triggerd.engine.batcher import TickBatcher


def test_simultaneous_wakeups_are_planned_in_one_pass() -> None:
    """Every name requested while a pass runs is planned in the next one, together (held, not
    timed: the first pass waits until all 300 wake-ups have been made)."""
    passes: list[list[str]] = []
    all_requested = threading.Event()
    done = threading.Event()

    def tick_many(names: Collection[str]) -> None:
        passes.append(list(names))
        all_requested.wait(10)
        if sum(len(p) for p in passes) >= 300:
            done.set()

    batcher = TickBatcher(tick_many)
    batcher.start()
    try:
        threads = [
            threading.Thread(target=lambda i=i: batcher.request(f"s{i:03d}")) for i in range(300)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        all_requested.set()
        assert done.wait(10)
    finally:
        batcher.stop()
    assert sorted(n for p in passes for n in p) == [f"s{i:03d}" for i in range(300)]
    assert len(passes) <= 2  # the first wake-up's pass, then all the others: not one per schedule


def test_a_failed_pass_is_tried_again() -> None:
    calls: list[list[str]] = []
    done = threading.Event()

    def tick_many(names: Collection[str]) -> None:
        calls.append(list(names))
        if len(calls) == 1:
            raise RuntimeError("database is away")
        done.set()

    batcher = TickBatcher(tick_many)
    batcher.start()
    try:
        batcher.request("nightly")
        assert done.wait(10)
    finally:
        batcher.stop()
    assert calls == [["nightly"], ["nightly"]]


def test_stop_is_prompt() -> None:
    batcher = TickBatcher(lambda names: None)
    batcher.start()
    began = time.monotonic()
    batcher.stop()
    assert time.monotonic() - began < 5
