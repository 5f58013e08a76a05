"""What the overview says in words: a trigger, and how a datastore schedule's polls are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triggerd.config import Config, load_config_from_texts
from triggerd.store import ScheduleState
from triggerd.views.pages import poll_health, trigger_words, when

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # Berlin springs forward at 01:00 UTC

CONFIG = """\
pipelines:
  p: {kind: command, argv: [echo]}
datastores:
  inbox: {kind: local, path: /srv/inbox}
  landing:
    kind: azure_blob
    container: landing
    account_url: https://acct.blob.core.windows.net
    events: {queue: landing-events, reconcile_interval: 30m}
schedules:
  - name: quarter
    pipeline: p
    recurrence: {frequency: Minute, interval: 15, time_zone: W. Europe Standard Time}
  - name: mornings
    pipeline: p
    recurrence:
      frequency: Week
      interval: 1
      week_days: [Monday, Tuesday, Wednesday, Thursday, Friday]
      hours: [7]
      minutes: [30]
      time_zone: W. Europe Standard Time
  - name: files
    pipeline: p
    datastore: inbox
    path_on_datastore: incoming/
    polling_interval: 5
  - name: blobs
    pipeline: p
    datastore: landing
"""


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config_from_texts({"/etc/triggerd/t.yaml": CONFIG})


def polled(ago: timedelta | None, entries: int | None = 41) -> ScheduleState:
    last = NOW - ago if ago is not None else None
    return ScheduleState("files", NOW - timedelta(days=1), None, None, last, entries)


def test_a_trigger_in_words(config: Config) -> None:
    words = {name: trigger_words(s) for name, s in config.schedules.items()}
    assert words["files"] == "new files in inbox/incoming"
    assert words["blobs"] == "new files in landing"
    assert "15 minutes" in words["quarter"] and "W. Europe" in words["quarter"]
    assert words["mornings"] == (
        "every week on Monday through Friday at 07:30 (W. Europe Standard Time)"
    )


@pytest.mark.parametrize(
    ("ago", "said", "health"),
    [
        (timedelta(minutes=2), "listed 2m ago, 41 files (every 5m)", "ok"),
        # Two intervals and a minute is still on time; a second more is late.
        (timedelta(minutes=11), "listed 11m ago, 41 files (every 5m)", "ok"),
        (timedelta(minutes=11, seconds=1), "listed 11m1s ago, 41 files (every 5m)", "late"),
        (timedelta(hours=3), "listed 3h ago, 41 files (every 5m)", "late"),
        (None, "not listed yet", "late"),
    ],
)
def test_how_the_polls_are(config: Config, ago: timedelta | None, said: str, health: str) -> None:
    assert poll_health(config.schedules["files"], polled(ago), config, NOW) == (said, health)


def test_a_schedule_never_seen_is_not_listed_yet_and_a_time_schedule_has_no_polls(
    config: Config,
) -> None:
    assert poll_health(config.schedules["files"], None, config, NOW) == ("not listed yet", "late")
    assert poll_health(config.schedules["quarter"], polled(None), config, NOW) is None


def test_an_event_fed_folder_is_late_after_two_reconciles(config: Config) -> None:
    blobs = config.schedules["blobs"]
    said, health = poll_health(blobs, polled(timedelta(minutes=50), None), config, NOW) or ("", "")
    assert (said, health) == (
        "fed by events (queue landing-events); listed 50m ago (every 30m)",
        "ok",
    )
    assert poll_health(blobs, polled(timedelta(minutes=62), None), config, NOW) == (
        "fed by events (queue landing-events); listed 1h2m ago (every 30m)",
        "late",
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("2026-03-29T01:30:00.187855+00:00", "2026-03-29 01:30:00Z"),
        # A next fire in its zone keeps its offset: the DST change shows.
        ("2026-03-29T01:30:00+01:00", "2026-03-29 01:30:00+01:00"),
        ("2026-03-29T03:30:00+02:00", "2026-03-29 03:30:00+02:00"),
        (None, "-"),
    ],
)
def test_times_on_the_pages(text: str | None, shown: str) -> None:
    assert when(text) == shown
