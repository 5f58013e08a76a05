"""The event feeds the config asks for: one ``QueueFeed`` per queue, feeding every datastore
schedule that watches a folder of a container whose ``events:`` name that queue.

Datastores that share a queue (two folders of one container, or two containers of one account
with one Event Grid subscription) share its feed: one consumer decides each message for all of
them, and never deletes a message another datastore still needed. A queue is known by its URL,
told offline from the config (or, while a secret it needs is missing, by how the config reaches
its account). On reload a feed whose queue, settings and schedules are unchanged goes
on; any other is stopped and started anew.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from triggerd.config import Config, Schedule
from triggerd.config.blob_events import BlobEvents
from triggerd.config.models import AzureBlobDatastore
from triggerd.config.triggers import DatastoreTrigger
from triggerd.datastores.filters import watch_filter
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.datastores.settle import SettleResult
from triggerd.datastores.snapshot import Entry
from triggerd.engine.eventfeed import QueueFeed
from triggerd.engine.eventroute import Watched
from triggerd.engine.fileplan import plan_datastore_fires
from triggerd.errors import ListingError
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun
from triggerd.store import Store

if TYPE_CHECKING:
    from triggerd.datastores.event_queue import EventQueue

STOP_WAIT = 5.0  # seconds a stopping feed's turn in flight is waited for


@dataclass(frozen=True)
class _Wanted:
    events: BlobEvents
    datastore: AzureBlobDatastore
    watched: tuple[Watched, ...]


def queue_key(datastore: AzureBlobDatastore, events: BlobEvents) -> str:
    """The queue's URL (``http://127.0.0.1:10001/devstoreaccount1/landing-events``), or, when a
    secret it needs is missing, how the config reaches it (``env:LANDING_CONN/landing-events``)."""
    from triggerd.datastores.event_queue import WayIn, queue_address  # the Azure SDK: see _queue

    address = queue_address(datastore)
    if address is not None:
        return address.lower()
    return f"{WayIn.of(datastore).label}/{events.queue}"


def wanted_feeds(config: Config) -> dict[str, _Wanted]:
    """The feeds ``config`` asks for, by queue key."""
    found: dict[str, tuple[BlobEvents, AzureBlobDatastore, list[Watched]]] = {}
    accounts: dict[str, str | None] = {}
    for name in sorted(config.schedules):
        schedule = config.schedules[name]
        events = config.events_of(schedule)
        if events is None:
            continue
        assert isinstance(schedule.trigger, DatastoreTrigger)
        store_name = schedule.trigger.datastore
        datastore = config.datastores[store_name]
        assert isinstance(datastore, AzureBlobDatastore)
        if store_name not in accounts:
            accounts[store_name] = _account(datastore)
        target = Watched(
            schedule=name,
            datastore=store_name,
            account=accounts[store_name],
            container=datastore.container,
            prefix=normalise_path_on_datastore(schedule.trigger.path_on_datastore) or "",
            file_filter=watch_filter(schedule.trigger),
        )
        entry = found.setdefault(queue_key(datastore, events), (events, datastore, []))
        entry[2].append(target)
    return {key: _Wanted(e, d, tuple(w)) for key, (e, d, w) in found.items()}


def _account(datastore: AzureBlobDatastore) -> str | None:
    """The datastore's storage account, lower case (None when it cannot be told offline)."""
    from triggerd.datastores.azure_blob import account_name, account_url_of  # see _queue

    try:
        return account_name(account_url_of(datastore)).lower()
    except (ListingError, ValueError):
        return None


def _queue(datastore: AzureBlobDatastore) -> EventQueue:
    """The datastore's event queue, opened. The Azure SDK (blob and queue, with requests,
    cryptography and isodate: ~300 modules, ~0.13 s) is imported here and by ``queue_key`` and
    ``_account``, which run only for datastores with ``events:``: a daemon without them never
    loads it (``tests/unit/test_lazy_imports.py``)."""
    from triggerd.datastores.event_queue import EventQueue

    return EventQueue.for_datastore(datastore)


class EventFeeds:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        is_enabled: Callable[[Schedule], bool],
        on_recorded: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._is_enabled = is_enabled
        self._on_recorded = on_recorded
        self._metrics = metrics
        self._config = Config()
        self._feeds: dict[str, tuple[_Wanted, QueueFeed]] = {}
        self._started = False
        # Whether the database takes writes (the daemon sets it to its heartbeat's word).
        self.store_ok: Callable[[], bool] = lambda: True

    def use(self, config: Config) -> None:
        """Run the feeds ``config`` asks for (started at once when the feeds are running)."""
        wanted = wanted_feeds(config)
        for key in list(self._feeds):
            old, feed = self._feeds[key]
            if wanted.get(key) != old:
                del self._feeds[key]
                feed.stop(STOP_WAIT)
                if key not in wanted:
                    feed.forget_metrics()
        self._config = config  # after the old feeds stopped: they planned with the old one
        for key, want in wanted.items():
            if key in self._feeds:
                continue
            feed = QueueFeed(
                key,
                want.events,
                want.watched,
                open_queue=functools.partial(_queue, want.datastore),
                store=self._store,
                clock=self._clock,
                plan=self._plan,
                on_recorded=self._on_recorded,
                metrics=self._metrics,
                store_ok=lambda: self.store_ok(),
            )
            self._feeds[key] = (want, feed)
            if self._started:
                feed.start()

    def start(self) -> None:
        self._started = True
        for _, feed in self._feeds.values():
            feed.start()

    def stop(self, wait: float = STOP_WAIT) -> None:
        """Every feed stops at once; each turn in flight is waited for, ``wait`` in all."""
        self._started = False
        feeds = [feed for _, feed in self._feeds.values()]
        for feed in feeds:
            feed.stopping()
        deadline = time.monotonic() + wait
        for feed in feeds:
            feed.join(max(0.0, deadline - time.monotonic()))

    def problems(self) -> list[str]:
        """Why queues cannot be read now, one line each (for ``/readyz``'s text)."""
        return [
            f"events queue {feed.name} failing: {feed.problem}"
            for _, feed in self._feeds.values()
            if feed.problem is not None
        ]

    def _plan(self, target: Watched, path: str, entry: Entry, now: datetime) -> NewRun:
        """The run an event fires for ``target``: as a poll would record it."""
        schedule = self._config.schedules[target.schedule]
        (run,) = plan_datastore_fires(
            SettleResult(fire=[(path, entry)]),
            schedule=schedule.name,
            datastore=target.datastore,
            parameters=schedule.pipeline_parameters,
            now=now,
            enabled=self._is_enabled(schedule),
        )
        return run
