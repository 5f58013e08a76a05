"""Words for people: durations (``2d10m``, ``1h``, ``1m30s``; ``90s`` and ``0.5s`` for a
timeout) and lists of days (``Monday through Friday``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta


def human(delta: timedelta, *, seconds_up_to: timedelta = timedelta(0)) -> str:
    """The largest units first, zero parts left out; ``0s`` for nothing. A duration of at most
    ``seconds_up_to`` is given in seconds, fractions kept (``90s``, ``0.5s``): how a timeout
    reads best."""
    if timedelta(0) < delta <= seconds_up_to:
        return f"{delta.total_seconds():g}s"
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def human_timeout(delta: timedelta) -> str:
    """A timeout or a grace: seconds up to two minutes (``60s``), then ``5m``, ``1h30m``."""
    return human(delta, seconds_up_to=timedelta(minutes=2))


def in_order(chosen: Iterable[str], order: Sequence[str]) -> str:
    """``chosen`` (each one of ``order``) in that order, three or more in a row as one span:
    ``Monday through Friday``, ``Monday, Wednesday``, ``Monday through Wednesday, Saturday``."""
    spans: list[list[int]] = []
    for number in sorted({order.index(item) for item in chosen}):
        if spans and number == spans[-1][-1] + 1:
            spans[-1].append(number)
        else:
            spans.append([number])
    words: list[str] = []
    for span in spans:
        if len(span) >= 3:
            words.append(f"{order[span[0]]} through {order[span[-1]]}")
        else:
            words.extend(order[n] for n in span)
    return ", ".join(words)
