"""Event-fed blob schedules for process tests: a container, its event queue and a config
watching ``incoming/`` of it, with the test playing Event Grid (``eventgrid.py``), and the runs,
log lines and metrics a test reads back.

Every schedule runs ``/bin/true``: what is under test is which runs are recorded (the store, and
``runs list --json``), not the command.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support import eventgrid
from tests.support.azurite import AzuriteServer
from tests.support.daemon import DaemonProcess, runs_json
from triggerd.runs import RunRecord, datastore_fire_key
from triggerd.store import Store, open_store, queries

ENV = "TEST_AZURE_STORAGE"
SCHEDULE = "landed"
EVENTS = "triggerd_blob_events"  # the metrics' prefix
_names = itertools.count()


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Poll ``predicate`` (bounded) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            assert value, f"timed out after {timeout}s waiting for {what}"
            return value
        time.sleep(0.1)


class Landing:
    """A container, its event queue, a config watching ``incoming/``, and the runs recorded."""

    def __init__(
        self, tmp_path: Path, azurite: AzuriteServer, *, database: str | None = None, **events: Any
    ) -> None:
        self.tmp = tmp_path
        self.azurite = azurite
        self.database = database
        suffix = f"{next(_names)}-{uuid.uuid4().hex[:10]}"
        self.container = ContainerClient.from_connection_string(
            azurite.connection_string, f"landing{suffix}"
        )
        self.container.create_container()
        self.queue_name = f"events{suffix}"
        self.queue = self._queue(self.queue_name)
        self.queue.create_queue()
        self.poison = self._queue(f"{self.queue_name}-poison")
        options = {"queue": self.queue_name, "visibility_timeout": "2s", **events}
        self.config = tmp_path / "config.yaml"
        self.config.write_text(
            f"""
datastores:
  landing:
    kind: azure_blob
    container: {self.container.container_name}
    connection_string_env: {ENV}
    events: {json.dumps(options)}
pipelines:
  noop: {{kind: command, argv: ["/bin/true"]}}
schedules:
  - name: {SCHEDULE}
    pipeline: noop
    datastore: landing
    path_on_datastore: incoming
    exclude: ["*.tmp"]
""",
            encoding="utf-8",
        )
        self.daemons: list[DaemonProcess] = []
        self._store: Store | None = None

    def _queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.azurite.connection_string, name)

    def start(self, state: str = "state", *extra: str, **env: str) -> DaemonProcess:
        if self.database is not None:
            extra = ("--database", self.database, *extra)
        daemon = DaemonProcess(
            self.config,
            self.tmp / state,
            *extra,
            env={ENV: self.azurite.connection_string, **env},
        )
        self.daemons.append(daemon)
        return daemon

    def close(self) -> None:
        for daemon in self.daemons:
            if daemon.proc.poll() is None:
                daemon.proc.send_signal(signal.SIGCONT)
            daemon.kill()
        if self._store is not None:
            self._store.close()
        self.container.delete_container()
        for client in (self.queue, self.poison):
            with contextlib.suppress(ResourceNotFoundError):  # the poison queue may not exist
                client.delete_queue()
            client.close()
        self.container.close()

    # -- playing Event Grid ----------------------------------------------------------------------

    def upload(self, name: str, data: bytes = b"a,b\n") -> None:
        self.container.upload_blob(name, data, overwrite=True)

    def announce(self, name: str, **options: Any) -> str:
        """Send the BlobCreated event of the blob as it is now; its ETag (unquoted)."""
        event = eventgrid.blob_created(self.container, name, **options)
        eventgrid.send(self.queue, event, base64=options.get("schema") != "cloudevents")
        return str(event["data"]["eTag"])

    def land(self, names: list[str]) -> dict[str, str]:
        """Upload and announce many blobs (8 at a time); name -> ETag. Half the events are
        CloudEvents sent as plain JSON, half Event Grid schema in Base64."""

        def one(item: tuple[int, str]) -> tuple[str, str]:
            index, name = item
            self.upload(name, f"{index}\n".encode())
            schema: eventgrid.Schema = "cloudevents" if index % 2 else "eventgrid"
            return name, self.announce(name, schema=schema)

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(pool.map(one, enumerate(names), timeout=120))

    def waiting(self) -> int:
        """Messages left on the queue, hidden ones included."""
        return int(self.queue.get_queue_properties().approximate_message_count or 0)

    def poisoned(self) -> list[str]:
        """What ``<queue>-poison`` holds (nothing when it was never made)."""
        try:
            return [m.content for m in self.poison.peek_messages(max_messages=32)]
        except ResourceNotFoundError:
            return []

    # -- what ran ------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            url = self.database or f"sqlite:///{self.tmp / 'state' / 'triggerd.db'}"
            self._store = open_store(url, create=False)
        return self._store

    def runs(self) -> list[RunRecord]:
        return [
            r
            for r in self.store.read(queries.list_runs, schedule=SCHEDULE, limit=None)
            if r.data_path is not None
        ]

    def fired(self) -> Counter[str]:
        """Blob name -> how many runs it has."""
        return Counter(r.data_path.relative_path for r in self.runs() if r.data_path)

    def until_fired(self, names: list[str], *, timeout: float = 60) -> None:
        wait_until(
            lambda: set(names) <= set(self.fired()), timeout=timeout, what=f"runs of {names[:3]}"
        )

    def until_drained(self, *, timeout: float = 30) -> None:
        wait_until(lambda: self.waiting() == 0, timeout=timeout, what="an empty queue")

    def stop(self, daemon: DaemonProcess) -> None:
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.log_text()

    def runs_json(self, state: str = "state") -> list[dict[str, Any]]:
        extra = ("--database", self.database) if self.database else ()
        return runs_json(self.tmp / state, self.config, *extra)


Samples = list[tuple[str, dict[str, str], float]]


def scrape(url: str) -> Samples:
    """Every sample of /metrics as (name, labels, value)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (0 when there is none)."""
    found = [v for n, have, v in samples if n == name and labels.items() <= have.items()]
    assert len(found) <= 1, f"{name} {labels} is ambiguous"
    return found[0] if found else 0.0


def fired_paths(daemon: DaemonProcess, *, source: str | None = "event") -> list[str]:
    """The blobs of the daemon's ``fire.planned`` lines (those of events, by default)."""
    head = f"{SCHEDULE}:"
    return [
        e["fire_key"].removeprefix(head).rsplit(":", 1)[0]
        for e in daemon.named("fire.planned")
        if source is None or e.get("source") == source
    ]


def ignored_paths(daemons: list[DaemonProcess]) -> dict[str, set[str]]:
    reasons: dict[str, set[str]] = {}
    for daemon in daemons:
        for e in daemon.named("events.ignored"):
            reasons.setdefault(e["reason"], set()).add(e["path"])
    return reasons


def assert_once_each(landing: Landing, etags: dict[str, str]) -> None:
    """``runs list --json`` holds exactly one run per blob, keyed as a poll would key it."""
    runs = [r for r in landing.runs_json() if r["schedule"] == SCHEDULE]
    paths = Counter(r["data_path"]["relative_path"] for r in runs)
    assert {p: n for p, n in paths.items() if n != 1} == {}, "blobs with more than one run"
    assert set(paths) == set(etags)
    assert sorted(r["fire_key"] for r in runs) == sorted(
        datastore_fire_key(SCHEDULE, name, etag) for name, etag in etags.items()
    )
