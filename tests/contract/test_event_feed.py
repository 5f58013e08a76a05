"""A queue's blob events against a real Azurite queue and container and a real store (SQLite and
PostgreSQL), one feed turn at a time, beside the schedule's reconciling listing.

The test plays Event Grid (``tests/support/eventgrid.py``): each message is built from the real
blob's properties. What fires is read back from the store, as an operator would.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from tests.support import azurite, eventgrid
from tests.support.azurite import AzuriteServer
from triggerd.config import Config, load_config
from triggerd.datastores.settle import Tracked
from triggerd.datastores.snapshot import Entry
from triggerd.engine.eventfeed import QueueFeed
from triggerd.engine.eventfeeds import EventFeeds
from triggerd.engine.poller import DatastorePoller
from triggerd.engine.worldcheck import check_world
from triggerd.observability.metrics import Metrics
from triggerd.store import Store, queries, snapshots, states

ENV = "TRIGGERD_TEST_EVENTS_CONN"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Berlin springs forward at 01:00

    def __call__(self) -> datetime:
        return self.now


class World:
    """A container, its event queue, a config with two schedules on it, and the feed."""

    def __init__(self, server: AzuriteServer, store: Store, tmp_path: Path, **events: Any) -> None:
        os.environ[ENV] = server.connection_string
        self.name = name = f"c{uuid.uuid4().hex[:12]}"
        self.container = ContainerClient.from_connection_string(server.connection_string, name)
        self.container.create_container()
        self.queue = QueueClient.from_connection_string(server.connection_string, f"{name}-q")
        self.queue.create_queue()
        self.poison = QueueClient.from_connection_string(
            server.connection_string, f"{name}-q-poison"
        )
        options = "".join(f", {k}: {v}" for k, v in events.items())
        (tmp_path / "c.yaml").write_text(
            f"""
datastores:
  landing:
    kind: azure_blob
    container: {name}
    connection_string_env: {ENV}
    events: {{queue: {name}-q{options}}}
pipelines:
  job: {{kind: command, argv: ["true"]}}
schedules:
  - name: orders
    pipeline: job
    datastore: landing
    path_on_datastore: orders
    data_path_parameter_name: f
  - name: top
    pipeline: job
    datastore: landing
    exclude: ["*.csv"]
""",
            encoding="utf-8",
        )
        self.config: Config = load_config(tmp_path / "c.yaml")
        self.store = store
        self.clock = Clock()
        self.metrics = Metrics(process=False)
        self.enabled = {"orders": True, "top": True}
        self.feeds = EventFeeds(
            store,
            clock=self.clock,
            is_enabled=lambda s: self.enabled[s.name],
            metrics=self.metrics,
        )
        self.feeds.use(self.config)
        ((_, self.feed),) = self.feeds._feeds.values()

    def poller(self, name: str) -> DatastorePoller:
        return self.poller_for(self.config, name)

    def poller_for(self, config: Config, name: str) -> DatastorePoller:
        return DatastorePoller(
            config.schedules[name],
            config,
            self.store,
            clock=self.clock,
            is_enabled=lambda: self.enabled.get(name, True),
        )

    def baseline(self) -> None:
        """The first listing of both schedules (what is there now does not fire)."""
        for name in ("orders", "top"):
            poller = self.poller(name)
            poller.poll()
            poller.close()

    def upload(self, name: str, data: bytes = b"a,b\n", *, event: bool = True) -> dict[str, Any]:
        self.container.upload_blob(name, data, overwrite=True)
        message = eventgrid.blob_created(self.container, name)
        if event:
            eventgrid.send(self.queue, message)
        return message

    def runs(self, schedule: str = "orders") -> list[tuple[str, str]]:
        found = self.store.read(queries.list_runs, schedule=schedule, limit=1000)
        return sorted((r.fire_key, r.status) for r in found)

    def left(self) -> int:
        return int(self.queue.get_queue_properties().approximate_message_count)

    def sample(self, metric: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(metric, labels)
        return 0.0 if value is None else value

    def close(self) -> None:
        self.feed.stop(1.0)
        self.queue.delete_queue()
        with contextlib.suppress(ResourceNotFoundError):  # only some tests make one
            self.poison.delete_queue()
        self.container.delete_container()


@pytest.fixture
def world(azurite_queues: AzuriteServer, store: Store, tmp_path: Path) -> Iterator[World]:
    made = World(azurite_queues, store, tmp_path)
    yield made
    made.close()


def test_nothing_is_received_before_the_first_listing(world: World) -> None:
    world.upload("orders/early.csv")
    assert world.feed.turn() > 0
    assert world.left() == 1  # still there, not even taken
    world.baseline()
    assert world.feed.turn() == 0
    # The baseline holds that very version: its event fires nothing.
    assert world.runs() == []
    assert world.left() == 0
    assert (
        world.sample(
            "triggerd_blob_events_ignored_total", queue=world.feed.name, reason="already_seen"
        )
        == 1
    )


def test_a_new_blob_fires_once_under_the_fire_key_a_listing_would_give(world: World) -> None:
    world.baseline()
    message = world.upload("orders/a.csv")
    etag = message["data"]["eTag"]
    world.clock.now += timedelta(seconds=1)
    assert world.feed.turn() == 0
    assert world.runs() == [(f"orders:orders/a.csv:{etag}", "pending")]
    assert world.left() == 0
    state = world.store.read(states.get, "orders")
    assert state is not None and state.last_event_at == world.clock.now
    # The listing that follows finds it fired: nothing new, no second run, ever.
    poller = world.poller("orders")
    for _ in range(3):
        poller.poll()
    assert world.runs() == [(f"orders:orders/a.csv:{etag}", "pending")]
    tracked = world.store.read(snapshots.load, "orders")["orders/a.csv"]
    assert tracked.fired is not None and tracked.fired.version == etag.strip('"')
    assert world.sample("triggerd_blob_events_fired_total", queue=world.feed.name) == 1


def test_a_redelivered_message_and_a_repeated_event_fire_nothing_more(world: World) -> None:
    world.baseline()
    message = world.upload("orders/a.csv")
    eventgrid.send(world.queue, message)  # Event Grid delivers at least once
    assert world.feed.turn() == 0
    eventgrid.send(world.queue, message, base64=False)
    assert world.feed.turn() == 0
    assert len(world.runs()) == 1
    assert world.left() == 0


def test_a_listing_that_fired_first_leaves_the_late_event_nothing(world: World) -> None:
    world.baseline()
    message = world.upload("orders/late.csv", event=False)
    poller = world.poller("orders")
    poller.poll()  # a candidate
    poller.poll()  # settled: fired by the listing
    assert len(world.runs()) == 1
    eventgrid.send(world.queue, message)
    assert world.feed.turn() == 0
    assert len(world.runs()) == 1
    assert world.left() == 0


def test_a_changed_blob_fires_again_and_one_queue_feeds_both_schedules(world: World) -> None:
    world.baseline()
    world.upload("orders/a.csv", b"1")
    world.upload("orders/a.csv", b"22")  # a new version: a new ETag
    world.upload("b.json")  # the container's top: the other schedule
    world.upload("b.csv")  # excluded there
    world.upload("orders/sub/c.csv")  # a sub-folder of orders: nobody's
    assert world.feed.turn() == 0
    assert [status for _, status in world.runs()] == ["pending", "pending"]
    assert [key.split(":")[1] for key, _ in world.runs("top")] == ["b.json"]
    ignored = {
        reason: world.sample(
            "triggerd_blob_events_ignored_total", queue=world.feed.name, reason=reason
        )
        for reason in ("excluded", "subfolder")
    }
    assert ignored == {"excluded": 1, "subfolder": 1}
    assert world.left() == 0


def test_deletions_and_adls_create_file_events_fire_nothing(world: World) -> None:
    world.baseline()
    world.container.upload_blob("orders/gone.csv", b"x")
    eventgrid.send(world.queue, eventgrid.blob_deleted(world.container, "orders/gone.csv"))
    world.container.upload_blob("orders/adls.csv", b"")
    eventgrid.send(
        world.queue, eventgrid.blob_created(world.container, "orders/adls.csv", api="CreateFile")
    )
    assert world.feed.turn() == 0
    assert world.runs() == []
    assert world.left() == 0


def test_a_disabled_schedule_records_skipped_fires_as_its_listing_would(world: World) -> None:
    world.baseline()
    world.enabled["orders"] = False
    world.upload("orders/a.csv")
    assert world.feed.turn() == 0
    assert [status for _, status in world.runs()] == ["skipped"]


def test_malformed_and_too_often_delivered_messages_go_to_the_poison_queue(
    azurite_queues: AzuriteServer, store: Store, tmp_path: Path
) -> None:
    world = World(azurite_queues, store, tmp_path, max_dequeue_count=2, visibility_timeout="1s")
    try:
        world.baseline()
        message = world.upload("orders/a.csv")
        # Delivered twice already (taken and not deleted, as by a consumer that crashed).
        for _ in range(2):
            (taken,) = world.queue.receive_messages(visibility_timeout=1, max_messages=1)
            world.queue.update_message(taken, visibility_timeout=0)
        world.queue.send_message("not an event")  # its first delivery: poisoned at once
        assert world.feed.turn() == 0
        assert world.runs() == []  # its third delivery: poisoned, not fired
        poisoned = sorted(str(m.content) for m in world.poison.peek_messages(max_messages=32))
        assert poisoned == sorted(["not an event", eventgrid.encode(message)])
        assert world.left() == 0
        assert world.sample("triggerd_blob_events_poisoned_total", queue=world.feed.name) == 2
    finally:
        world.close()


def test_a_queue_out_of_reach_backs_off_and_says_why(store: Store, tmp_path: Path) -> None:
    os.environ[ENV] = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={azurite.ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    (tmp_path / "c.yaml").write_text(
        f"""
datastores:
  landing: {{kind: azure_blob, container: c, connection_string_env: {ENV}, events: {{queue: q-1}}}}
pipelines:
  job: {{kind: command, argv: ["true"]}}
schedules:
  - {{name: orders, pipeline: job, datastore: landing}}
""",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "c.yaml")
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    store.write(states.ensure, "orders", now)
    store.write(states.record_poll, "orders", now=now, entries=0)
    metrics = Metrics(process=False)
    feeds = EventFeeds(store, clock=lambda: now, is_enabled=lambda s: True, metrics=metrics)
    feeds.use(config)
    ((_, feed),) = feeds._feeds.values()
    assert isinstance(feed, QueueFeed)
    waits = [feed.turn() for _ in range(3)]
    assert 0.9 <= waits[0] <= 1.0 and waits[0] < waits[1] < waits[2]  # backing off
    (problem,) = feeds.problems()
    assert "cannot reach the storage account" in problem and "Connection refused" in problem
    assert azurite.ACCOUNT_KEY not in problem
    assert metrics.registry.get_sample_value("triggerd_blob_events_queue_up", {"queue": "q-1"}) == 0
    failures = metrics.registry.get_sample_value(
        "triggerd_blob_events_queue_failures_total", {"queue": "q-1"}
    )
    assert failures == 3
    feeds.stop(1.0)


def test_a_listing_that_raced_an_event_keeps_the_row_saying_it_fired(world: World) -> None:
    """A listing that began before an event was recorded sees the blob as new: its insert of a
    candidate row must neither fail the poll nor undo the event's row."""
    world.baseline()
    etag = world.upload("orders/a.csv")["data"]["eTag"]
    assert world.feed.turn() == 0
    seen = Tracked(None, Entry(4, etag), world.clock.now, 1)
    with world.store.writing() as conn:
        snapshots.write(conn, "orders", inserts={"orders/a.csv": seen}, updates={}, removals=[])
    tracked = world.store.read(snapshots.load, "orders")["orders/a.csv"]
    assert tracked.fired == Entry(4, etag) and tracked.candidate is None
    assert len(world.runs()) == 1


def test_validate_strict_reads_the_queue_and_names_the_key_when_it_cannot(
    azurite_queues: AzuriteServer, store: Store, tmp_path: Path
) -> None:
    world = World(azurite_queues, store, tmp_path)
    try:
        assert check_world(world.config, tmp_path / "c.yaml", blob_timeout=5) == []
        world.queue.delete_queue()
        (problem,) = check_world(world.config, tmp_path / "c.yaml", blob_timeout=5)
        assert problem.key == "datastores.landing.events.queue"
        assert problem.line == 7
        assert "cannot read the queue" in problem.message and "not found" in problem.message
        assert azurite.ACCOUNT_KEY not in str(problem)
        world.queue.create_queue()
    finally:
        world.close()


def test_two_containers_on_one_queue_share_its_consumer_however_the_config_names_it(
    azurite_queues: AzuriteServer, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two datastores on one queue must not delete each other's messages as other_container."""
    world = World(azurite_queues, store, tmp_path)
    other = ContainerClient.from_connection_string(
        azurite_queues.connection_string, f"{world.name}-b"
    )
    other.create_container()
    monkeypatch.setenv(f"{ENV}_B", azurite_queues.connection_string)
    config = tmp_path / "c.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "pipelines:",
            f"""  second:
    kind: azure_blob
    container: {world.name}-b
    connection_string_env: {ENV}_B
    events: {{queue: {world.name}-q}}
pipelines:""",
        )
        + "  - {name: second, pipeline: job, datastore: second}\n",
        encoding="utf-8",
    )
    feeds = EventFeeds(store, clock=world.clock, is_enabled=lambda s: True)
    feeds.use(load_config(config))
    try:
        ((_, feed),) = feeds._feeds.values()
        assert sorted(feed.schedules) == ["orders", "second", "top"]
        world.baseline()
        world.poller_for(load_config(config), "second").poll()
        world.upload("orders/a.csv")
        other.upload_blob("b.txt", b"b")
        eventgrid.send(world.queue, eventgrid.blob_created(other, "b.txt"))
        assert feed.turn() == 0
        assert len(world.runs("orders")) == 1 and len(world.runs("second")) == 1
    finally:
        feeds.stop(1.0)
        other.delete_container()
        world.close()
