"""One queue's blob events, consumed on a thread of their own: receive, decide, commit, delete.

A turn takes up to a batch of messages (hidden from other consumers for the visibility
timeout), reads each as Event Grid or CloudEvents events (``datastores/blob_events.py``),
routes them to the schedules the queue feeds (``eventroute.py``), records what fires in ONE
transaction (``store/eventfires.py``), and only then deletes the messages: a crash in between
makes them visible again, and the fire key deduplicates the redelivery (at-least-once in,
exactly-once out). A message delivered more than ``max_dequeue_count`` times, or one that is no
event at all, moves to ``<queue>-poison``.

Until every schedule the queue feeds has had its first listing (its baseline, on whichever
replica holds its lease), nothing is received: an event for a blob the baseline will hold must
not fire. A queue that cannot be reached is retried with backoff (1 s doubling to a minute),
shown in the metrics and in ``/readyz``'s text; it never touches the schedules' reconciling
listings, which run in the poll loop. A database that refuses the batch (a full disk) leaves its
messages to come back after the visibility timeout, and the feed receives nothing more until
the database takes writes again (the daemon's heartbeat says so): every receive counts as a
delivery, and an outage must not push good messages over ``max_dequeue_count``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from triggerd.config.blob_events import BlobEvents
from triggerd.datastores.blob_events import BlobEvent, MalformedMessage, parse_message
from triggerd.datastores.names import shown
from triggerd.datastores.snapshot import Entry
from triggerd.engine.eventroute import ALREADY_SEEN, REASONS, Watched, route
from triggerd.errors import QueueError
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, RunStatus
from triggerd.store import Store, eventfires, states
from triggerd.store.eventfires import EventFire, EventsRecorded

if TYPE_CHECKING:  # the queue (and the Azure SDK) is imported only when a feed is configured
    from triggerd.datastores.event_queue import EventQueue, Received

EMPTY_WAIT = 1.0  # seconds: an empty queue is asked again this soon
BASELINE_WAIT = 1.0  # seconds: how often a feed waiting for first listings looks again
STORE_WAIT = 1.0  # seconds: how often a feed whose batch the database refused looks again
FIRST_RETRY = 1.0  # seconds: the first retry after a failure; doubles up to MAX_RETRY
MAX_RETRY = 60.0

Plan = Callable[[Watched, str, Entry, datetime], NewRun]


def retry_delay(failures: int) -> float:
    """1 s, 2 s, 4 s ... at most a minute, with 10% jitter."""
    delay = min(FIRST_RETRY * (1 << max(0, min(failures, 30) - 1)), MAX_RETRY)
    return delay * (0.9 + 0.1 * random.random())  # noqa: S311 - jitter, not security


class QueueFeed:
    def __init__(
        self,
        key: str,
        events: BlobEvents,
        watched: Sequence[Watched],
        *,
        open_queue: Callable[[], EventQueue],
        store: Store,
        clock: Callable[[], datetime],
        plan: Plan,
        on_recorded: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
        store_ok: Callable[[], bool] = lambda: True,
    ) -> None:
        """``key`` identifies the queue (its account and name); ``plan(target, path, entry,
        now)`` makes the run an event fires (pending, or skipped while disabled);
        ``store_ok()``: whether the database takes writes again (the daemon's heartbeat)."""
        self.key = key
        self.events = events
        self.watched = list(watched)
        self.name = events.queue
        self._open_queue = open_queue
        self._queue: EventQueue | None = None
        self._store = store
        self._clock = clock
        self._plan = plan
        self._on_recorded = on_recorded
        self._all_metrics = metrics
        self._metrics = metrics.events if metrics else None
        self._store_ok = store_ok
        self._unrecorded = False  # the last batch could not be recorded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"events-{self.name}", daemon=True)
        self._baselined: set[str] = set()
        self._waiting_logged = False
        self.failures = 0
        self.problem: str | None = None  # why the queue cannot be read now (for /readyz)
        self.last_event_at: datetime | None = None
        self._log = get_logger(queue=self.name)

    @property
    def schedules(self) -> list[str]:
        return sorted({w.schedule for w in self.watched})

    def start(self) -> None:
        if self._metrics:
            self._metrics.started(self.name, REASONS)
        self._thread.start()

    def stop(self, wait: float) -> None:
        """No more turns; the turn in flight finishes (its messages are safe either way)."""
        self.stopping()
        self.join(wait)

    def stopping(self) -> None:
        """Start no more turns (``join`` waits for the one in flight)."""
        self._stop.set()

    def join(self, wait: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=wait)
        if self._queue is not None:
            self._queue.close()

    def forget_metrics(self) -> None:
        if self._metrics:
            self._metrics.stopped(self.name, REASONS)

    def _run(self) -> None:
        self._log.info(
            "events.started",
            datastores=sorted({w.datastore for w in self.watched}),
            schedules=self.schedules,
        )
        while not self._stop.is_set():
            try:
                wait = self.turn()
            except Exception as exc:  # never end the thread: the next turn tries again
                self._log.error("events.crashed", error=str(exc), exc_info=True)
                wait = MAX_RETRY
            if wait:
                self._stop.wait(wait)
        self._log.info("events.stopped")

    def turn(self) -> float:
        """One receive and what follows; how long to wait before the next."""
        if self._unrecorded and not self._store_ok():
            # Each receive counts as a delivery: receiving while the database refuses every
            # batch would send good messages to the poison queue. Wait for it to take writes.
            return STORE_WAIT
        self._unrecorded = False
        waiting = self._waiting()
        if waiting:
            if not self._waiting_logged:
                self._log.info("events.waiting", schedules=waiting)
                self._waiting_logged = True
            return BASELINE_WAIT
        try:
            queue = self._queue or self._open()
            batch = queue.receive(self.events.batch_size, self.events.visibility_timeout)
        except QueueError as exc:
            return self._failed(str(exc))
        self._recovered()
        if not batch:
            if self._metrics:
                self._metrics.lag.labels(self.name).set(0)
            return EMPTY_WAIT
        try:
            self._handle(queue, batch)
        except QueueError as exc:
            return self._failed(str(exc))
        except SQLAlchemyError as exc:
            reason = str(exc).split("\n", 1)[0]
            self._log.warning("events.unrecorded", reason=reason, messages=len(batch))
            self.failures += 1
            self._unrecorded = True
            return retry_delay(self.failures)
        return 0.0

    def _open(self) -> EventQueue:
        self._queue = self._open_queue()
        return self._queue

    def _waiting(self) -> list[str]:
        """The schedules whose first listing has not happened yet (read until none is left)."""
        left = [name for name in self.schedules if name not in self._baselined]
        if not left:
            return []
        try:
            found = self._store.read(states.get_many, left)
        except SQLAlchemyError:
            return left
        self._baselined.update(n for n, s in found.items() if s.last_poll_at is not None)
        return [name for name in left if name not in self._baselined]

    def _failed(self, reason: str) -> float:
        self.failures += 1
        self.problem = reason
        delay = retry_delay(self.failures)
        if self._metrics:
            self._metrics.failures.labels(self.name).inc()
            self._metrics.up.labels(self.name).set(0)
        self._log.warning(
            "events.queue_failed",
            reason=reason,
            failures=self.failures,
            retry_in_s=round(delay, 1),
        )
        return delay

    def _recovered(self) -> None:
        if self.problem is not None:
            self._log.info("events.queue_recovered", failures=self.failures)
            self.problem = None
        self.failures = 0
        if self._metrics:
            self._metrics.up.labels(self.name).set(1)

    # -- a batch -------------------------------------------------------------------------------

    def _handle(self, queue: EventQueue, batch: list[Received]) -> None:
        now = self._clock()
        self._received(batch, now)
        poison: list[tuple[Received, str]] = []
        decided: list[Received] = []
        fires: list[EventFire] = []
        ignored: list[tuple[Received, str, str]] = []  # message, reason, blob name
        reached: set[str] = set()
        for message in batch:
            if message.dequeue_count > self.events.max_dequeue_count:
                limit = self.events.max_dequeue_count
                poison.append(
                    (
                        message,
                        f"delivered {message.dequeue_count} times (max_dequeue_count {limit})",
                    )
                )
                continue
            try:
                events = parse_message(message.content)
                planned = self._decide(message, events, now, ignored)
            except MalformedMessage as exc:
                poison.append((message, f"malformed: {exc}"))
                continue
            fires += planned
            reached.update(f.run.schedule for f in planned)
            decided.append(message)
        recorded = EventsRecorded([], [], [])
        if fires:
            recorded = self._store.write(eventfires.record, fires, sorted(reached), now)
            self.last_event_at = now
        # Committed: now the messages may go.
        for message in decided:
            queue.delete(message)
        for message, reason in poison:
            queue.poison(message)
            self._log.warning(
                "events.poisoned",
                message_id=message.id,
                dequeue_count=message.dequeue_count,
                reason=reason,
                poison_queue=self.events.poison_queue,
            )
        self._report(recorded, ignored, len(poison))
        if recorded.created:
            self._on_recorded()

    def _received(self, batch: list[Received], now: datetime) -> None:
        inserted = [m.inserted_on for m in batch if m.inserted_on is not None]
        lag = max(0.0, (now - min(inserted)).total_seconds()) if inserted else 0.0
        if self._metrics:
            self._metrics.received.labels(self.name).inc(len(batch))
            self._metrics.lag.labels(self.name).set(lag)
        self._log.debug("events.received", messages=len(batch), lag_s=round(lag, 3))

    def _decide(
        self,
        message: Received,
        events: list[BlobEvent],
        now: datetime,
        ignored: list[tuple[Received, str, str]],
    ) -> list[EventFire]:
        """The fires of one message's events; what fires nothing goes into ``ignored``."""
        fires: list[EventFire] = []
        for event in events:
            targets, reason = route(event, self.watched)
            if reason is not None:
                ignored.append((message, reason, event.name))
                continue
            if event.etag is None:
                raise MalformedMessage("a BlobCreated event has no data.eTag")
            entry = Entry(event.size or 0, event.etag)
            for target in targets:
                run = self._plan(target, event.name, entry, now)
                fires.append(EventFire(event.name, entry, run, event.event_time))
        return fires

    def _report(
        self,
        recorded: EventsRecorded,
        ignored: list[tuple[Received, str, str]],
        poisoned: int,
    ) -> None:
        done = self._clock()
        for message, reason, name in ignored:
            self._log.debug(
                "events.ignored", message_id=message.id, reason=reason, path=shown(name)
            )
        for fire in recorded.seen:
            self._log.debug(
                "events.ignored",
                reason=ALREADY_SEEN,
                path=shown(fire.path),
                schedule=fire.run.schedule,
            )
        for fire in recorded.fired:
            run = fire.run
            event = "fire.planned" if run.status == RunStatus.PENDING else "fire.skipped"
            self._log.info(
                event,
                schedule=run.schedule,
                fire_key=run.fire_key,
                data_path=run.data_path,
                reason=run.reason,
                source="event",
            )
        if self._all_metrics is not None:
            for fire in recorded.fired:
                outcome = "planned" if fire.run.status == RunStatus.PENDING else "skipped"
                self._all_metrics.fire_recorded(fire.run.schedule, "datastore", outcome)
        metrics = self._metrics
        if metrics is None:
            return
        q = self.name
        metrics.fired.labels(q).inc(len(recorded.fired))
        for _, reason, _ in ignored:
            metrics.ignored.labels(q, reason).inc()
        if recorded.seen:
            metrics.ignored.labels(q, ALREADY_SEEN).inc(len(recorded.seen))
        if poisoned:
            metrics.poisoned.labels(q).inc(poisoned)
        for fire in recorded.fired:
            if fire.event_time is not None:
                metrics.event_to_run.observe(max(0.0, (done - fire.event_time).total_seconds()))
