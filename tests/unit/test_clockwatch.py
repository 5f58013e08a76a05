"""Noticing wall-clock steps against the monotonic clock (issue 11, fault 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triggerd.engine.clockwatch import ClockStep, ClockWatch

BERLIN_SPRING = datetime(2024, 3, 31, 0, 59, 50, tzinfo=UTC)  # 01:59:50 CET: DST starts at 02:00


class Clocks:
    def __init__(self) -> None:
        self.wall = BERLIN_SPRING
        self.mono = 1000.0

    def advance(self, seconds: float, *, wall_extra: float = 0.0) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds + wall_extra)


@pytest.mark.parametrize(
    ("elapsed", "extra", "stepped"),
    [
        (1.0, 0.0, None),  # the clocks move together
        (3600.0, 1.8, None),  # NTP slewing: 0.5 ms a second at most, well under 5 s an hour
        (1.0, 4.9, None),  # a step smaller than the threshold is not worth a word
        (1.0, 3600.0, 3600.0),  # forward an hour (DST never moves UTC: this is a real step)
        (1.0, -86_400.0, -86_400.0),  # back a day
    ],
)
def test_a_step_is_a_change_of_the_wall_minus_monotonic_offset(
    elapsed: float, extra: float, stepped: float | None
) -> None:
    clocks = Clocks()
    seen: list[ClockStep] = []
    watch = ClockWatch(lambda: clocks.wall, monotonic=lambda: clocks.mono, on_step=seen.append)
    clocks.advance(elapsed, wall_extra=extra)
    step = watch.check()
    if stepped is None:
        assert step is None and seen == []
        return
    assert step is not None and seen == [step]
    assert step.size == timedelta(seconds=stepped)
    assert step.forward == (stepped > 0)
    assert step.expected == BERLIN_SPRING + timedelta(seconds=elapsed)
    assert watch.check() is None  # reported once; the next look starts from the new offset


def test_a_step_is_reported_once_whoever_looks_first() -> None:
    clocks = Clocks()
    seen: list[ClockStep] = []
    watch = ClockWatch(lambda: clocks.wall, monotonic=lambda: clocks.mono, on_step=seen.append)
    clocks.advance(2.0, wall_extra=-30.0)
    assert [watch.check() is not None for _ in range(3)] == [True, False, False]
    assert len(seen) == 1
