"""Settling: which new or changed files are finished and fire now. Pure.

Each path of a watched folder is *tracked* with the version that last fired (or formed the
baseline) and, while a newer version is being written, that *candidate* version with when it
was first seen. A candidate fires once it has stayed unchanged across the settle window: by
default two consecutive listings, or a configured duration. A path that disappears stops being
tracked (a deletion fires nothing), so a file deleted and created again fires again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from operator import itemgetter
from typing import NamedTuple

from triggerd.datastores.snapshot import Entry

LISTINGS_TO_SETTLE = 2


class Tracked(NamedTuple):
    """A tuple (as ``Entry`` is): a first poll makes one per file, 100,000 of them, and a
    frozen dataclass cost twice the time of a tuple to build (``__setattr__`` per field)."""

    fired: Entry | None  # the version that fired or was the baseline; None: never fired
    candidate: Entry | None = None  # a newer version waiting to settle
    seen_at: datetime | None = None  # when the candidate was first seen
    polls: int = 0  # listings that saw the candidate unchanged

    @property
    def last_seen(self) -> Entry | None:
        return self.candidate if self.candidate is not None else self.fired


@dataclass
class SettleResult:
    fire: list[tuple[str, Entry]] = field(default_factory=list)
    inserts: dict[str, Tracked] = field(default_factory=dict)  # paths not tracked before
    updates: dict[str, Tracked] = field(default_factory=dict)  # tracked paths that changed
    removals: list[str] = field(default_factory=list)  # paths gone from the folder
    changes: int = 0  # paths whose listing differs from the previous one

    @property
    def writes(self) -> bool:
        return bool(self.inserts or self.updates or self.removals)


def settle(
    tracked: Mapping[str, Tracked],
    listing: Mapping[str, Entry],
    *,
    now: datetime,
    window: timedelta | None = None,
    baseline: bool = False,
) -> SettleResult:
    """Compare a listing with what is tracked.

    ``baseline``: this is the schedule's first poll and what is there must not fire.
    ``window``: how long a candidate must stay unchanged; None means two listings.
    """
    result = SettleResult()
    if baseline and not tracked:  # a first poll: every path is new and is the baseline
        result.inserts = _baseline(listing)
        result.changes = len(result.inserts)
        return result
    still_listed = 0  # tracked paths in the listing
    for path, entry in listing.items():
        known = tracked.get(path)
        if known is not None:
            still_listed += 1
            if known.fired == entry and known.candidate is None:
                continue  # the steady state: nothing to do, nothing to write
        if known is None or known.last_seen != entry:
            result.changes += 1
        if baseline:
            result.inserts[path] = Tracked(fired=entry)
            continue
        decided = _decide(known, entry, now, window)
        if decided is None:
            continue
        state, fires = decided
        if fires:
            result.fire.append((path, entry))
        (result.updates if known is not None else result.inserts)[path] = state
    if still_listed < len(tracked):  # (no set of 100,000 paths to find none is gone)
        result.removals = [path for path in tracked if path not in listing]
        result.changes += len(result.removals)
    result.fire.sort()
    return result


def _baseline(listing: Mapping[str, Entry]) -> dict[str, Tracked]:
    """``{path: Tracked(fired=entry)}`` for every path, made in C: ``tuple.__new__(Tracked,
    (entry, None, None, 0))`` is what ``Tracked(entry)`` does, without its Python frame (the
    per-path loop of ``settle`` was a fifth of a 100,000-file first poll)."""
    pairs = list(listing.items())
    fields = zip(map(_second, pairs), repeat(None), repeat(None), repeat(0))
    return dict(zip(map(_first, pairs), map(tuple.__new__, repeat(Tracked), fields), strict=True))


_first, _second = itemgetter(0), itemgetter(1)


def _decide(
    known: Tracked | None, entry: Entry, now: datetime, window: timedelta | None
) -> tuple[Tracked, bool] | None:
    """The path's new state and whether it fires now; None when nothing changes."""
    if known is not None and known.fired == entry:
        return Tracked(fired=entry), False  # the writer went back to the fired version
    if known is not None and known.candidate == entry and known.seen_at is not None:
        polls = known.polls + 1
        if window is None:
            if polls >= LISTINGS_TO_SETTLE:
                return Tracked(fired=entry), True
            return Tracked(known.fired, entry, known.seen_at, polls), False
        if now - known.seen_at >= window:
            return Tracked(fired=entry), True
        if known.seen_at > now:  # the wall clock went back: count the window from now
            return Tracked(known.fired, entry, now, polls), False
        return None  # still settling by time: nothing to write until it is old enough
    fired = known.fired if known is not None else None
    return Tracked(fired, entry, now, 1), False
