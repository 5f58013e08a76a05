"""Event-fed blob schedules with the daemon as a process: Azurite's blob and queue services, and
the test playing Event Grid (each message built from the real blob's properties).

A long ``reconcile_interval`` (1 h) makes the start listing the only one, so whatever fires
after it was fired by an event; a short one shows the listing catching what no event announced.
The harness (``Landing``: container, queue, config, runs) is ``tests/support/eventfed.py``.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from tests.support import eventgrid
from tests.support.azurite import AzuriteServer
from tests.support.daemon import DaemonProcess
from tests.support.eventfed import (
    EVENTS,
    Landing,
    Samples,
    assert_once_each,
    fired_paths,
    ignored_paths,
    metric,
    scrape,
    wait_until,
)
from tests.support.postgres import PostgresServer
from triggerd.store import open_store

pytestmark = pytest.mark.e2e


@pytest.fixture
def landing(tmp_path: Path, azurite_queues: AzuriteServer) -> Iterator[Landing]:
    made = Landing(tmp_path, azurite_queues, reconcile_interval="1h")
    try:
        yield made
    finally:
        made.close()


def _baseline(daemon: DaemonProcess) -> None:
    daemon.wait_event("poll.completed", baseline=True)


# --- at-least-once in, exactly-once out ---------------------------------------------------------


def test_a_burst_of_300_with_a_sigkill_in_the_middle_runs_each_blob_exactly_once(
    landing: Landing,
) -> None:
    names = [f"incoming/burst-{i:03d}.csv" for i in range(300)]
    daemon = landing.start()
    _baseline(daemon)

    etags = landing.land(names[:150])
    # Killed while the first half is being consumed: some fires are recorded, some of them not
    # yet acknowledged (their messages come back after the 2 s visibility timeout).
    wait_until(lambda: landing.fired(), timeout=30, what="the burst under way")
    daemon.signal(signal.SIGKILL)
    daemon.wait()
    left = landing.waiting()
    assert left > 0, "the first half was consumed before the kill landed"
    etags |= landing.land(names[150:])  # the rest of the burst lands while nobody listens

    restarted = landing.start()
    landing.until_fired(names, timeout=90)
    landing.until_drained()
    landing.stop(restarted)

    assert landing.fired() == Counter(names)
    assert_once_each(landing, etags)
    assert landing.poisoned() == []


def test_two_replicas_on_postgresql_consume_one_queue_exactly_once(
    tmp_path: Path, azurite_queues: AzuriteServer, pg_server: PostgresServer
) -> None:
    database = pg_server.create_database(f"events_{uuid.uuid4().hex[:12]}")
    open_store(database).close()  # migrated once, up front (replicas racing on an empty database)
    landing = Landing(tmp_path, azurite_queues, database=database, reconcile_interval="1h")
    try:
        first = landing.start("state-0", TRIGGERD_HEARTBEAT_INTERVAL="1s")
        second = landing.start("state-1", TRIGGERD_HEARTBEAT_INTERVAL="1s")
        wait_until(
            lambda: any(d.named("poll.completed") for d in (first, second)),
            timeout=30,
            what="the first listing on either replica",
        )
        for daemon in (first, second):
            daemon.wait_event("events.started")
        names = [f"incoming/r-{i:03d}.csv" for i in range(200)]
        etags = landing.land(names[:100])  # both consume
        landing.until_fired(names[:100])
        # Each replica alone for a wave (the other paused): both have consumed some, for sure.
        for alone, paused, wave in ((first, second, names[100:150]), (second, first, names[150:])):
            paused.signal(signal.SIGSTOP)
            try:
                etags |= landing.land(wave)
                wait_until(
                    lambda: set(wave) <= set(fired_paths(alone)),  # noqa: B023 - called here
                    timeout=60,
                    what="the replica left alone to fire the wave",
                )
            finally:
                paused.signal(signal.SIGCONT)
        landing.until_drained()
        for daemon in (first, second):
            landing.stop(daemon)
        assert landing.fired() == Counter(names)
        assert_once_each(landing, etags)
    finally:
        landing.close()


# --- events and the reconciling listing ---------------------------------------------------------


def test_an_event_fires_without_waiting_for_a_listing(landing: Landing) -> None:
    daemon = landing.start()
    _baseline(daemon)

    landing.upload("incoming/fast.csv")
    etag = landing.announce("incoming/fast.csv")
    landing.until_fired(["incoming/fast.csv"], timeout=20)
    landing.until_drained()
    landing.stop(daemon)

    # reconcile_interval is 1 h: the start listing was the only one.
    assert len(daemon.named("poll.completed")) == 1
    assert fired_paths(daemon) == ["incoming/fast.csv"]
    assert_once_each(landing, {"incoming/fast.csv": etag})


def test_a_blob_whose_event_was_lost_is_fired_by_the_reconciling_listing(
    tmp_path: Path, azurite_queues: AzuriteServer
) -> None:
    landing = Landing(tmp_path, azurite_queues, reconcile_interval="2s")
    try:
        daemon = landing.start()
        _baseline(daemon)

        landing.upload("incoming/lost.csv")  # Event Grid never delivered its event
        etag = landing.container.get_blob_client("incoming/lost.csv").get_blob_properties().etag
        landing.until_fired(["incoming/lost.csv"], timeout=45)
        landing.stop(daemon)

        assert fired_paths(daemon) == []
        assert fired_paths(daemon, source=None) == ["incoming/lost.csv"]
        assert_once_each(landing, {"incoming/lost.csv": etag.strip('"')})
    finally:
        landing.close()


def test_an_unreachable_queue_is_retried_and_never_stops_the_reconciling_listing(
    tmp_path: Path, azurite_queues: AzuriteServer
) -> None:
    landing = Landing(tmp_path, azurite_queues, reconcile_interval="2s")
    try:
        landing.queue.delete_queue()  # not there yet: Event Grid's subscription comes later
        daemon = landing.start()
        failed = daemon.wait_event("events.queue_failed")
        assert landing.queue_name in failed["reason"]
        assert azurite_queues.account_key not in "\n".join(daemon.raw)
        url = daemon.wait_event("http.listening")["url"]
        assert metric(scrape(url), f"{EVENTS}_queue_up", queue=landing.queue_name) == 0

        landing.upload("incoming/listed.csv")
        landing.until_fired(["incoming/listed.csv"], timeout=45)
        landing.queue.create_queue()
        landing.upload("incoming/announced.csv")
        landing.announce("incoming/announced.csv")
        daemon.wait_event("events.queue_recovered", timeout=90)
        landing.until_fired(["incoming/announced.csv"], timeout=30)
        landing.stop(daemon)

        assert fired_paths(daemon, source=None)[0] == "incoming/listed.csv"
        assert landing.fired() == Counter(["incoming/listed.csv", "incoming/announced.csv"])
    finally:
        landing.close()


def test_blobs_of_the_baseline_never_fire_even_with_their_events_on_the_queue(
    landing: Landing,
) -> None:
    early = ["incoming/early-1.csv", "incoming/early-2.csv"]
    for name in early:
        landing.upload(name)
        landing.announce(name)
    daemon = landing.start()
    _baseline(daemon)

    landing.upload("incoming/late.csv")
    etag = landing.announce("incoming/late.csv")
    landing.announce("incoming/late.csv")  # Event Grid delivers at least once: a duplicate
    landing.until_fired(["incoming/late.csv"])
    landing.until_drained()
    landing.stop(daemon)

    assert_once_each(landing, {"incoming/late.csv": etag})
    assert set(early) <= ignored_paths([daemon]).get("already_seen", set())


# --- what fires nothing -------------------------------------------------------------------------


def test_events_that_fire_nothing_are_acknowledged_and_counted_by_reason(
    tmp_path: Path, azurite_queues: AzuriteServer
) -> None:
    # A long visibility timeout: every message is delivered once, so the counts are exact.
    landing = Landing(tmp_path, azurite_queues, reconcile_interval="1h", visibility_timeout="60s")
    try:
        _fire_nothing(landing, azurite_queues)
    finally:
        landing.close()


def _fire_nothing(landing: Landing, azurite_queues: AzuriteServer) -> None:
    daemon = landing.start()
    _baseline(daemon)

    def created(name: str, **options: Any) -> None:
        landing.upload(name)
        landing.announce(name, **options)

    created("incoming/deeper/nested.csv")
    created("incoming/skip.tmp")
    created("elsewhere/x.csv")
    created("incoming/foreign.csv", account="someotheraccount")
    with ContainerClient.from_connection_string(
        azurite_queues.connection_string, f"other{uuid.uuid4().hex[:12]}"
    ) as other:
        other.create_container()
        other.upload_blob("incoming/x.csv", b"x")
        eventgrid.send(landing.queue, eventgrid.blob_created(other, "incoming/x.csv"))
        other.delete_container()
    landing.upload("incoming/gone.csv")
    deleted = eventgrid.blob_deleted(landing.container, "incoming/gone.csv")
    landing.container.delete_blob("incoming/gone.csv")
    eventgrid.send(landing.queue, deleted)
    landing.upload("incoming/tiered.csv")
    tiered = eventgrid.blob_created(landing.container, "incoming/tiered.csv")
    eventgrid.send(landing.queue, tiered | {"eventType": "Microsoft.Storage.BlobTierChanged"})
    # ADLS Gen2: a zero-length CreateFile, then the FlushWithClose of the written file.
    landing.upload("incoming/adls.csv", b"")
    landing.announce("incoming/adls.csv", api="CreateFile")
    landing.upload("incoming/adls.csv", b"written\n")
    flushed = landing.announce("incoming/adls.csv", api="FlushWithClose")
    landing.upload("incoming/marker.csv")
    marked = landing.announce("incoming/marker.csv")

    landing.until_fired(["incoming/adls.csv", "incoming/marker.csv"])
    landing.until_drained()
    url = daemon.wait_event("http.listening")["url"]
    q = landing.queue_name

    def counted_all() -> Samples:
        """The samples once all 10 messages' decisions are counted (the last batch's report
        follows its deletes)."""
        samples = scrape(url)
        decided = metric(samples, f"{EVENTS}_fired_total", queue=q) + sum(
            v for n, labels, v in samples if n == f"{EVENTS}_ignored_total" and labels["queue"] == q
        )
        return samples if decided >= 10 else []

    counted: Samples = wait_until(counted_all, timeout=10, what="the batch's metrics")
    landing.stop(daemon)

    assert_once_each(landing, {"incoming/adls.csv": flushed, "incoming/marker.csv": marked})
    expected = {
        "subfolder": {"incoming/deeper/nested.csv"},
        "excluded": {"incoming/skip.tmp"},
        "other_folder": {"elsewhere/x.csv"},
        "other_account": {"incoming/foreign.csv"},
        "other_container": {"incoming/x.csv"},
        "deleted": {"incoming/gone.csv"},
        "not_created": {"incoming/tiered.csv"},
        "create_file": {"incoming/adls.csv"},
    }
    assert ignored_paths([daemon]) == expected
    assert landing.poisoned() == []
    ignored = {
        labels["reason"]: value
        for name, labels, value in counted
        if name == f"{EVENTS}_ignored_total" and labels["queue"] == q and value
    }
    assert ignored == dict.fromkeys(expected, 1.0)
    assert metric(counted, f"{EVENTS}_received_total", queue=q) == 10
    assert metric(counted, f"{EVENTS}_fired_total", queue=q) == 2
    assert metric(counted, f"{EVENTS}_poisoned_total", queue=q) == 0
    assert metric(counted, f"{EVENTS}_queue_up", queue=q) == 1
    assert metric(counted, "triggerd_blob_event_to_run_seconds_count") == 2


def test_malformed_and_over_delivered_messages_go_to_the_poison_queue(
    tmp_path: Path, azurite_queues: AzuriteServer
) -> None:
    landing = Landing(tmp_path, azurite_queues, reconcile_interval="1h", max_dequeue_count=2)
    try:
        # A message whose consumers kept failing: delivered twice before this daemon starts.
        landing.upload("incoming/old.csv")
        landing.announce("incoming/old.csv")
        [first] = landing.queue.receive_messages(max_messages=1, visibility_timeout=1)
        delivered = wait_until(
            lambda: list(landing.queue.receive_messages(max_messages=1, visibility_timeout=1)),
            timeout=15,
            what="the message to come back",
        )
        assert (delivered[0].id, delivered[0].dequeue_count) == (first.id, 2)
        bodies = {first.id: str(first.content)}
        for body in ("this is not an event", eventgrid.encode({"hello": "world"})):
            bodies[str(landing.queue.send_message(body).id)] = body

        daemon = landing.start()
        _baseline(daemon)
        landing.upload("incoming/after.csv")
        etag = landing.announce("incoming/after.csv")
        landing.until_fired(["incoming/after.csv"])
        wait_until(lambda: len(landing.poisoned()) == 3, timeout=30, what="3 poisoned messages")
        landing.until_drained()
        url = daemon.wait_event("http.listening")["url"]
        q = landing.queue_name
        wait_until(
            lambda: metric(scrape(url), f"{EVENTS}_poisoned_total", queue=q) == 3,
            timeout=10,
            what="the poisoned count",
        )
        landing.stop(daemon)

        assert sorted(landing.poisoned()) == sorted(bodies.values())
        poisoned = {e["message_id"]: e for e in daemon.named("events.poisoned")}
        assert set(poisoned) == set(bodies)
        assert poisoned[first.id]["dequeue_count"] == 3
        assert poisoned[first.id]["level"] == "warning"
        for message_id in set(bodies) - {first.id}:
            assert poisoned[message_id]["reason"].startswith("malformed")
        assert_once_each(landing, {"incoming/after.csv": etag})
    finally:
        landing.close()
