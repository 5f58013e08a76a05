"""Settling: a new or changed file fires once, after it stopped changing; deletions never fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triggerd.datastores.settle import Tracked, settle
from triggerd.datastores.snapshot import Entry

T0 = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
A1 = Entry(10, "1000")
A2 = Entry(20, "2000")
B1 = Entry(5, "500")


class Folder:
    """Runs polls against a tracked state the way the poller does, and collects the fires."""

    def __init__(self, window: timedelta | None = None) -> None:
        self.tracked: dict[str, Tracked] = {}
        self.fired: list[tuple[str, Entry]] = []
        self.window = window
        self.polls = 0

    def poll(self, listing: dict[str, Entry], at: datetime = T0) -> int:
        result = settle(self.tracked, listing, now=at, window=self.window, baseline=self.polls == 0)
        self.polls += 1
        self.tracked.update(result.inserts)
        self.tracked.update(result.updates)
        for path in result.removals:
            del self.tracked[path]
        self.fired.extend(result.fire)
        return result.changes


def test_the_first_poll_is_the_baseline_and_fires_nothing() -> None:
    folder = Folder()
    assert folder.poll({"in/a.csv": A1}) == 1
    folder.poll({"in/a.csv": A1})
    assert folder.fired == []


def test_a_new_file_fires_once_after_two_unchanged_listings() -> None:
    folder = Folder()
    folder.poll({})
    folder.poll({"in/a.csv": A1})
    assert folder.fired == []
    folder.poll({"in/a.csv": A1})
    assert folder.fired == [("in/a.csv", A1)]
    folder.poll({"in/a.csv": A1})
    assert folder.fired == [("in/a.csv", A1)]


def test_a_file_written_across_polls_fires_once_after_the_writer_stops() -> None:
    folder = Folder()
    folder.poll({})
    for size in (1, 2, 3, 4):
        folder.poll({"in/a.csv": Entry(size, str(size))})
    assert folder.fired == []
    folder.poll({"in/a.csv": Entry(4, "4")})
    assert folder.fired == [("in/a.csv", Entry(4, "4"))]


def test_a_modified_file_fires_again_and_a_deleted_one_does_not() -> None:
    folder = Folder()
    folder.poll({"in/a.csv": A1, "in/b.csv": B1})
    folder.poll({"in/a.csv": A2, "in/b.csv": B1})
    folder.poll({"in/a.csv": A2})
    assert folder.fired == [("in/a.csv", A2)]
    assert "in/b.csv" not in folder.tracked


def test_a_deleted_and_recreated_file_fires_again() -> None:
    folder = Folder()
    folder.poll({"in/a.csv": A1})
    folder.poll({})
    folder.poll({"in/a.csv": A1})
    folder.poll({"in/a.csv": A1})
    assert folder.fired == [("in/a.csv", A1)]


def test_a_writer_that_restores_the_fired_version_fires_nothing() -> None:
    folder = Folder()
    folder.poll({"in/a.csv": A1})
    folder.poll({"in/a.csv": A2})
    folder.poll({"in/a.csv": A1})
    folder.poll({"in/a.csv": A1})
    assert folder.fired == []
    assert folder.tracked["in/a.csv"] == Tracked(fired=A1)


def test_a_settle_duration_waits_for_the_file_to_be_old_enough() -> None:
    folder = Folder(window=timedelta(minutes=10))
    folder.poll({})
    folder.poll({"in/a.csv": A1}, T0)
    folder.poll({"in/a.csv": A1}, T0 + timedelta(minutes=9))
    assert folder.fired == []
    folder.poll({"in/a.csv": A1}, T0 + timedelta(minutes=10))
    assert folder.fired == [("in/a.csv", A1)]


def test_the_steady_state_writes_nothing() -> None:
    folder = Folder()
    listing = {f"in/{i}.csv": Entry(i, str(i)) for i in range(1000)}
    folder.poll(listing)
    result = settle(folder.tracked, listing, now=T0)
    assert (result.writes, result.changes, result.fire) == (False, 0, [])


def test_waiting_out_a_settle_duration_writes_nothing() -> None:
    folder = Folder(window=timedelta(minutes=10))
    folder.poll({})
    folder.poll({"in/a.csv": A1}, T0)
    waiting = settle(
        folder.tracked, {"in/a.csv": A1}, now=T0 + timedelta(minutes=5), window=folder.window
    )
    assert (waiting.writes, waiting.fire, waiting.changes) == (False, [], 0)


def test_a_wall_clock_step_back_restarts_a_settle_duration_rather_than_adding_the_step() -> None:
    folder = Folder(window=timedelta(minutes=10))
    folder.poll({})
    folder.poll({"in/a.csv": A1}, T0)
    folder.poll({"in/a.csv": A1}, T0 - timedelta(hours=1))  # the clock went back an hour
    assert folder.tracked["in/a.csv"].seen_at == T0 - timedelta(hours=1)
    folder.poll({"in/a.csv": A1}, T0 - timedelta(minutes=50))
    assert folder.fired == [("in/a.csv", A1)]  # ten minutes after the step, not 70


def test_a_first_poll_tracks_every_file_at_its_listed_version() -> None:
    """The first poll's states are built in one pass (no per-path loop): the same states, of
    the same type, as the loop builds for a baseline over paths already tracked."""
    listing = {f"in/{n:03d}.csv": Entry(n, str(1000 + n)) for n in range(50)}

    fresh = settle({}, listing, now=T0, baseline=True)
    again = settle({"in/other.csv": Tracked(fired=B1)}, listing, now=T0, baseline=True)

    assert fresh.inserts == again.inserts == {p: Tracked(fired=e) for p, e in listing.items()}
    assert all(type(state) is Tracked for state in fresh.inserts.values())
    assert fresh.inserts["in/007.csv"].last_seen == Entry(7, "1007")
    assert (fresh.changes, fresh.fire, fresh.updates, fresh.removals) == (50, [], {}, [])
