"""Pausing Python's cyclic garbage collector around work that must not wait for it."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block: for a planning pass, where a full collection
    walking every object the daemon holds (tens of ms once thousands of runs went through it)
    would land on the clock of the fires being planned, and for loading a config, whose
    hundreds of thousands of new objects set off collection after collection (~1 s of a
    10,000-schedule load). It runs right after the block instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
