"""Blob events under the faults that would lose or double a run: the queue service going away
(the reconciling listing goes on, the feed comes back) and a full disk under the database (the
messages stay until their fires can be recorded, and fire once). Real daemon, real Azurite
(blob and queue services), real tmpfs; the test plays Event Grid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from tests.e2e.test_store_process import fill, tiny_disk
from tests.support import azurite, eventgrid
from tests.support.azurite import AzuriteServer
from tests.support.daemon import DaemonProcess, probe, runs_json

ENV = "TRIGGERD_TEST_EVENTS_FAULTS_CONN"
FAST = {"TRIGGERD_HEARTBEAT_INTERVAL": "1s"}


@pytest.fixture
def server() -> Iterator[AzuriteServer]:
    """Azurite of its own: a test stops and starts its queue service."""
    problem = azurite.missing(queues=True)
    if problem:
        pytest.fail(problem, pytrace=False)
    started = azurite.start(queues=True)
    yield started
    started.stop()


def restart_queue_service(server: AzuriteServer) -> None:
    """The queue service again, on the same port (in memory: its queues are gone)."""
    assert server.queue_port is not None
    argv = [
        str(azurite.AZURITE_QUEUE),
        "--queueHost",
        "127.0.0.1",
        "--queuePort",
        str(server.queue_port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
        "--silent",
    ]
    workdir = server.workdir / "queue-again"
    workdir.mkdir()
    server.queue_process = subprocess.Popen(argv, cwd=workdir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            QueueClient.from_connection_string(server.connection_string, "probe").create_queue()
            return
        time.sleep(0.2)
    raise AssertionError("the queue service did not come back")


def setup(
    tmp_path: Path,
    server: AzuriteServer,
    *,
    reconcile: str,
    visibility: str = "2s",
    deliveries: int = 5,
) -> tuple[Path, ContainerClient, QueueClient]:
    name = f"f{uuid.uuid4().hex[:10]}"
    container = ContainerClient.from_connection_string(server.connection_string, name)
    container.create_container()
    queue = QueueClient.from_connection_string(server.connection_string, f"{name}-q")
    queue.create_queue()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
datastores:
  landing:
    kind: azure_blob
    container: {name}
    connection_string_env: {ENV}
    events:
      queue: {name}-q
      reconcile_interval: {reconcile}
      visibility_timeout: {visibility}
      max_dequeue_count: {deliveries}
pipelines:
  job: {{kind: command, argv: ["true"]}}
schedules:
  - name: orders
    pipeline: job
    datastore: landing
    path_on_datastore: orders
""",
        encoding="utf-8",
    )
    return config, container, queue


def fired(daemon: DaemonProcess, name: str) -> bool:
    return any(e.get("data_path", "").find(f"'{name}'") >= 0 for e in daemon.named("fire.planned"))


def test_a_queue_service_that_goes_away_stops_no_listing_and_comes_back(
    tmp_path: Path, server: AzuriteServer
) -> None:
    config, container, queue = setup(tmp_path, server, reconcile="2s")
    env = {**FAST, ENV: server.connection_string}
    daemon = DaemonProcess(config, tmp_path / "state", env=env)
    try:
        url = daemon.wait_event("http.listening")["url"]
        daemon.wait_event("poll.completed", baseline=True)
        assert server.queue_process is not None
        server.queue_process.terminate()
        server.queue_process.wait(10)
        failed = daemon.wait_event("events.queue_failed", 20)
        assert "cannot reach the storage account" in failed["reason"]
        # The listing goes on: a blob whose event never comes fires from it.
        container.upload_blob("orders/listed.csv", b"1")
        daemon.wait_for(lambda: fired(daemon, "orders/listed.csv"), 30, what="the listing's fire")
        ready = probe(f"{url}/readyz")
        assert ready[0] == 200 and "events queue " in ready[1] and "failing" in ready[1]
        metrics = probe(f"{url}/metrics")[1]
        assert f'triggerd_blob_events_queue_up{{queue="{queue.queue_name}"}} 0.0' in metrics
        # The queue service comes back (empty: it kept nothing in memory).
        restart_queue_service(server)
        queue.create_queue()
        container.upload_blob("orders/evented.csv", b"2")
        eventgrid.send(queue, eventgrid.blob_created(container, "orders/evented.csv"))
        daemon.wait_event("events.queue_recovered", 90)
        daemon.wait_for(lambda: fired(daemon, "orders/evented.csv"), 30, what="the event's fire")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        daemon.kill()
    runs = runs_json(tmp_path / "state", config)
    paths = sorted(r["data_path"]["relative_path"] for r in runs)
    assert paths == ["orders/evented.csv", "orders/listed.csv"]  # each once


def test_a_full_disk_keeps_the_messages_until_their_fires_are_recorded_once(
    tmp_path: Path, server: AzuriteServer
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    # The listing reconciles once an hour: what fires here, fires from its event. Three
    # deliveries at most: a feed that kept receiving while the disk is full would poison them.
    config, container, queue = setup(tmp_path, server, reconcile="1h", deliveries=3)
    env = {**FAST, ENV: server.connection_string}
    with tiny_disk(tmp_path / "disk") as disk:
        state = disk / "state"
        daemon = DaemonProcess(config, state, env=env)
        try:
            url = daemon.wait_event("http.listening")["url"]
            daemon.wait_event("poll.completed", baseline=True)
            daemon.wait_for(lambda: probe(f"{url}/readyz")[0] == 200, what="ready")
            filler = fill(disk)
            names = [f"orders/full-{i}.csv" for i in range(5)]
            for name in names:
                container.upload_blob(name, name.encode())
                eventgrid.send(queue, eventgrid.blob_created(container, name))
            unrecorded = daemon.wait_event("events.unrecorded", 30)
            assert "full" in unrecorded["reason"]
            daemon.wait_for(lambda: probe(f"{url}/readyz")[0] == 503, 15, what="not ready")
            time.sleep(6)  # three visibility timeouts: the feed must not keep receiving them
            assert not daemon.named("fire.planned")
            assert not daemon.named("events.poisoned")
            filler.unlink()
            daemon.wait_for(lambda: all(fired(daemon, n) for n in names), 60, what="the five fires")
            daemon.wait_for(
                lambda: queue.get_queue_properties().approximate_message_count == 0,
                30,
                what="the queue emptied",
            )
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(30) == 0
        finally:
            daemon.kill()
        runs = runs_json(state, config)
    assert sorted(r["data_path"]["relative_path"] for r in runs) == names
    assert not daemon.named("events.poisoned")
