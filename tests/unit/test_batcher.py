"""Wake-ups that come together are planned together; a failed pass is tried again."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from triggerd.engine.batcher import TickBatcher


def test_simultaneous_wakeups_are_planned_in_one_pass() -> None:
    passes: list[list[str]] = []
    done = threading.Event()

    def tick_many(names: Collection[str]) -> None:
        passes.append(list(names))
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
        assert done.wait(10)
    finally:
        batcher.stop()
    assert sorted(n for p in passes for n in p) == [f"s{i:03d}" for i in range(300)]
    assert len(passes) <= 10  # not one transaction per schedule


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
