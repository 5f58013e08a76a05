"""The dispatcher: claims pending runs from the store and hands them to their submitters.

Runs are claimed one at a time up to the concurrency limit, so a burst of fires waits in the
store, not in memory. On shutdown the dispatcher stops claiming, lets runs in flight finish
within the grace period, then interrupts the rest and hands them back as pending.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from triggerd.config.pipelines import RetryPolicy
from triggerd.engine.orphans import EarlierAttempts
from triggerd.engine.resolver import Dispatch, Unresolvable
from triggerd.engine.retries import NO_RETRY, describe_exhausted, next_attempt_at
from triggerd.engine.runqueue import RunQueue
from triggerd.errors import SubmitError, SubmitInterrupted, TransientSubmitError
from triggerd.observability.logging import Logger, get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import RunRecord
from triggerd.submitters import RunOutcome
from triggerd.submitters.processgroup import DEFAULT_KILL_GRACE

# Given a claimed run: how to submit it (raises Unresolvable when it cannot be submitted).
Resolve = Callable[[RunRecord], Dispatch]
# Per schedule with an overlap limit: (overlap policy "queue" | "skip", max_concurrent_runs).
Limits = Callable[[], dict[str, tuple[str, int]]]

T = TypeVar("T")
PERSIST_PATIENCE = 600.0  # seconds a finished run waits for the database to come back
IDLE_POLL = timedelta(seconds=1)  # runs recorded by other processes (CLI) are seen this fast
# After the drain grace: how long interrupted runs get to be handed back (a command's kill grace,
# 10 s, and a moment to record it).
INTERRUPT_WAIT = DEFAULT_KILL_GRACE + timedelta(seconds=1)


class Dispatcher:
    def __init__(
        self,
        queue: RunQueue,
        resolve: Resolve,
        *,
        owner: str,
        concurrency: int,
        clock: Callable[[], datetime],
        limits: Limits = dict,
        metrics: Metrics | None = None,
    ) -> None:
        self._queue = queue
        self._resolve = resolve
        self._owner = owner
        self._concurrency = concurrency
        self._clock = clock
        self._limits = limits
        self._metrics = metrics
        self.loop_at = time.monotonic()  # when the loop last went round (liveness)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancel = threading.Event()
        self._workers: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._log = get_logger()
        self._earlier = EarlierAttempts(queue, owner=owner, persist=self._persist)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._workers)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.loop_at = time.monotonic()
            try:
                self._claim_available()
            except Exception as exc:  # the store may be briefly unavailable; keep going
                self._log.error("dispatcher.error", error=str(exc), exc_info=True)
            self._wake.wait(IDLE_POLL.total_seconds())
            self._wake.clear()

    def _claim_available(self) -> None:
        while not self._stopping.is_set() and self.in_flight < self._concurrency:
            now, blocked = self._clock(), self._at_limit()  # before the claim's transaction
            run = self._queue.claim(self._owner, now, blocked=blocked)
            if run is None:
                return
            worker = threading.Thread(
                target=self._work, args=(run,), name=f"run-{run.id}", daemon=True
            )
            with self._lock:
                self._workers[run.id] = worker
            worker.start()

    def _at_limit(self) -> set[str]:
        """Schedules whose runs must wait now; a `skip` schedule's waiting fires are skipped."""
        limits = self._limits()
        if not limits:
            return set()
        running = self._queue.running_counts()
        blocked = set()
        for schedule, (overlap, most) in limits.items():
            if running.get(schedule, 0) < most:
                continue
            blocked.add(schedule)
            if overlap == "skip":
                reason = (
                    f"skipped: {running[schedule]} run(s) of this schedule still running "
                    f"(overlap: skip, max_concurrent_runs: {most})"
                )
                now = self._clock()
                for key in self._queue.skip_waiting(schedule, reason=reason, now=now):
                    self._log.info("fire.skipped", schedule=schedule, fire_key=key, reason=reason)
                    if self._metrics:
                        self._metrics.fire_recorded(schedule, "overlap", "skipped")
        return blocked

    def _work(self, run: RunRecord) -> None:
        log = self._log.bind(schedule=run.schedule, fire_key=run.fire_key, run_id=run.id)
        retry = NO_RETRY
        try:
            dispatch: Dispatch | None = None
            unresolved = None
            try:
                dispatch = self._resolve(run)
            except Unresolvable as exc:
                unresolved = str(exc)
            submitter = dispatch.submitter if dispatch else None
            marker = self._earlier.marker(run, submitter, log)
            survived = self._earlier.end(run, submitter, marker, log) if marker else None
            if survived or dispatch is None:
                self._finish(run, RunOutcome(status="failed", error=survived or unresolved), log)
                return
            retry = dispatch.retry
            request = self._earlier.tracked(run, dispatch, marker, log)
            log.info("run.started", attempt=run.attempts, trigger=run.trigger)
            began = time.monotonic()
            outcome = dispatch.submitter.submit(request, self._cancel)
            if outcome.status == "submitted" and dispatch.follow is not None:
                outcome = dataclasses.replace(outcome, follow_for=dispatch.follow)
            self._finish(run, outcome, log, took=time.monotonic() - began)
        except SubmitInterrupted as exc:
            reason = str(exc)
            self._persist(log, "hand back", lambda: self._queue.hand_back(run.id, error=reason))
            log.warning("run.handed_back", reason=reason)
        except TransientSubmitError as exc:
            self._retry_or_fail(run, retry, exc, log)
        except SubmitError as exc:
            self._finish(run, RunOutcome(status="failed", error=str(exc)), log)
        except Exception as exc:
            log.error("run.crashed", error=repr(exc), exc_info=True)
            self._finish(run, RunOutcome(status="failed", error=f"internal error: {exc!r}"), log)
        finally:
            with self._lock:
                self._workers.pop(run.id, None)
            self._wake.set()

    def _retry_or_fail(
        self, run: RunRecord, policy: RetryPolicy, exc: TransientSubmitError, log: Logger
    ) -> None:
        now = self._clock()
        at = next_attempt_at(
            policy,
            attempts=run.attempts,
            recorded_at=run.first_attempt_started_at() or run.created_at,
            now=now,
            retry_after=exc.retry_after,
        )
        if at is None:
            error = describe_exhausted(policy, run.attempts, str(exc))
            self._finish(run, RunOutcome(status="failed", error=error), log)
            return
        self._persist(log, "retry", lambda: self._queue.retry_at(run.id, at=at, error=str(exc)))
        if self._metrics:
            self._metrics.run_retry(run.schedule)
        log.warning(
            "run.retry_scheduled",
            attempt=run.attempts,
            error=str(exc),
            next_attempt_at=at.isoformat(),
        )

    def _finish(self, run: RunRecord, outcome: RunOutcome, log: Logger, took: float = 0.0) -> None:
        """Record how a run ended; ``took`` is how long its last attempt ran, in seconds."""
        now = self._clock()
        kept = self._persist(
            log, "result", lambda: self._queue.finish(run, outcome, now=now, owner=self._owner)
        )
        if kept is None:
            return  # not recorded: the claim expires and another attempt runs (at-least-once)
        if not kept:  # this daemon stalled past its claim; another replica has the run now
            log.warning("run.claim_lost", status=outcome.status)
            return
        if self._metrics:
            self._metrics.run_finished(run.schedule, outcome.status, run.attempts, took)
        fields = {"exit_code": outcome.exit_code, "external_id": outcome.external_id}
        event = {"succeeded": "run.succeeded", "submitted": "run.submitted"}.get(outcome.status)
        if event:
            log.info(event, **{k: v for k, v in fields.items() if v is not None})
        else:
            log.warning("run.failed", error=outcome.error, **fields)

    def _persist(self, log: Logger, what: str, call: Callable[[], T]) -> T | None:
        """Write a run's fate, waiting out a database outage (with backoff) rather than losing
        it; None when the daemon stops, or after PERSIST_PATIENCE, before the database is back."""
        delay, deadline, warned = 0.5, time.monotonic() + PERSIST_PATIENCE, False
        while True:
            try:
                return call()
            except SQLAlchemyError as exc:
                if self._stopping.is_set() or time.monotonic() > deadline:
                    log.error("run.unrecorded", what=what, error=str(exc).splitlines()[0])
                    return None
                if not warned:
                    log.warning("store.unavailable", what=what, error=str(exc).splitlines()[0])
                    warned = True
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def in_flight_ids(self) -> list[int]:
        with self._lock:
            return list(self._workers)

    def stop(self, grace: timedelta, *, interrupted: timedelta = INTERRUPT_WAIT) -> None:
        """Stop claiming; wait ``grace`` for runs in flight, then interrupt them and wait
        ``interrupted`` more for them to be handed back (a command gets SIGTERM, then SIGKILL
        after its kill grace). Every wait is on the monotonic clock; a run still in flight after
        both stays ``running`` and is recovered at the next start."""
        self._stopping.set()
        self._wake.set()
        end = time.monotonic() + grace.total_seconds()
        self._thread.join(timeout=max(0.0, min(5.0, end - time.monotonic())))
        for worker in self._snapshot():
            worker.join(timeout=max(0.0, end - time.monotonic()))
        if self._snapshot():
            self._cancel.set()
            end = time.monotonic() + interrupted.total_seconds()
            for worker in self._snapshot():
                worker.join(timeout=max(0.0, end - time.monotonic()))

    def _snapshot(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._workers.values())
