"""The dispatcher: claims pending runs from the store and hands them to their submitters.

A fixed pool of ``concurrency`` worker threads submits; the dispatcher's loop claims as many
runs as workers are free, in one transaction (``RunQueue.claim_many``), so a burst of fires
waits in the store, not in memory. While attempts are quick (under ``QUICK`` on average: an
HTTP endpoint, not a long command) about ``QUICK`` seconds of work more is claimed ahead (at
least ``concurrency`` runs, at most ``MOST_AHEAD``), so that a claim carries many runs and a
free worker finds its next one without a transaction; a run claimed ahead waits for a worker
about that long at most, and is handed back untouched at a shutdown. How each run ended is
recorded by the finisher (``finisher.py``), many runs to a transaction: the claim and that
record were two transactions per run, most of the daemon's CPU under a burst (bench/README.md,
section 5).

On shutdown the dispatcher stops claiming, lets runs in flight finish within the grace period,
then interrupts the rest and hands them back as pending.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from triggerd.config.pipelines import RetryPolicy
from triggerd.engine.finisher import Ended, Finisher
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
# Attempts taking less than this on average (seconds) have runs claimed ahead of the workers.
QUICK = 0.1
MOST_AHEAD = 64  # runs claimed ahead at most (they show `running` while they wait)
# Seconds the last ends get to be committed at a shutdown (at least; the rest of the grace if
# longer); an end not committed leaves its run `running`, attempted again after the restart.
FINISH_WAIT = 2.0


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
        self._claimed: dict[int, RunRecord] = {}  # this daemon's runs whose end is not recorded
        self._busy = 0  # runs handed to the workers that they are not done with
        self._took: float | None = None  # seconds a worker spends on a run (moving average)
        self._drained = True  # the last claim took fewer runs than it asked for
        self._jobs: SimpleQueue[RunRecord | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._pool = [
            threading.Thread(target=self._serve, name=f"worker-{n}", daemon=True)
            for n in range(concurrency)
        ]
        self._log = get_logger()
        self._earlier = EarlierAttempts(queue, owner=owner, persist=self._persist)
        self._finisher = Finisher(
            queue,
            owner=owner,
            clock=clock,
            persist=self._persist,
            recorded=self._forget,
            metrics=metrics,
        )

    @property
    def in_flight(self) -> int:
        """Runs this daemon has claimed and not yet recorded the end of."""
        with self._lock:
            return len(self._claimed)

    def start(self) -> None:
        self._finisher.start()
        for worker in self._pool:
            worker.start()
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
        while not self._stopping.is_set():
            with self._lock:
                room = self._room()
            if room <= 0:
                return
            now = self._clock()  # before the claim's transaction
            blocked, caps = self._at_limit()
            claimed = self._queue.claim_many(
                self._owner, now, limit=room, blocked=blocked, caps=caps
            )
            with self._lock:
                for run in claimed:
                    self._claimed[run.id] = run
                self._busy += len(claimed)
                self._drained = len(claimed) < room
            for run in claimed:
                self._jobs.put(run)
            if len(claimed) < room:
                return

    def _ahead(self) -> int:
        """How many runs are claimed ahead of the workers (under the lock): while attempts take
        under QUICK on average (an HTTP endpoint, not a command that runs for minutes), about
        QUICK seconds of the workers' work, at least ``concurrency`` runs and at most
        MOST_AHEAD; so a run claimed ahead waits for a worker about QUICK at most, and a claim
        carries many runs (each claim is a transaction)."""
        took = self._took
        if took is None or took >= QUICK:
            return 0
        work = int(self._concurrency * QUICK / max(took, 1e-6))
        return max(self._concurrency, min(MOST_AHEAD, work))

    def _room(self) -> int:
        """How many runs the next claim takes (under the lock); 0: none yet. Runs claimed
        ahead are claimed again once half of them are taken by the workers, so that the
        workers do not wait for the claim's transaction."""
        ahead = self._ahead()
        room = self._concurrency + ahead - self._busy
        return room if room > 0 and room >= (ahead + 1) // 2 else 0

    def _serve(self) -> None:
        """A worker: submit the runs handed to it, one at a time, until told to end (None)."""
        while (run := self._jobs.get()) is not None:
            began = time.monotonic()
            try:
                if self._stopping.is_set():  # claimed ahead, not started: pending again
                    self._hand_back_unstarted(run)
                else:
                    self._work(run)
            finally:
                took = time.monotonic() - began
                with self._lock:
                    self._busy -= 1
                    self._took = took if self._took is None else 0.8 * self._took + 0.2 * took
                    # Claim again when enough runs claimed ahead are taken; once a claim found
                    # fewer than it asked for, only when a worker is free (a schedule at its
                    # overlap limit may have a run to start now): new runs wake the loop.
                    due = self._busy <= self._concurrency if self._drained else self._room() > 0
                if due:
                    self._wake.set()

    def _forget(self, run_id: int) -> None:
        """The run's fate is recorded (or given up on): no longer this daemon's to renew."""
        with self._lock:
            self._claimed.pop(run_id, None)

    def _at_limit(self) -> tuple[set[str], dict[str, int]]:
        """Schedules whose runs must wait now (a `skip` schedule's waiting fires are skipped),
        and how many more runs each other schedule with a limit may start."""
        limits = self._limits()
        if not limits:
            return set(), {}
        running = self._queue.running_counts()
        blocked = set()
        caps = {}
        for schedule, (overlap, most) in limits.items():
            if running.get(schedule, 0) < most:
                caps[schedule] = most - running.get(schedule, 0)
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
        return blocked, caps

    def _work(self, run: RunRecord) -> None:
        log = self._log.bind(schedule=run.schedule, fire_key=run.fire_key, run_id=run.id)
        retry = NO_RETRY
        handed = False  # to the finisher, which forgets the run once its end is recorded
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
                failed = RunOutcome(status="failed", error=survived or unresolved)
                handed = self._finish(run, failed, log)
                return
            retry = dispatch.retry
            request = self._earlier.tracked(run, dispatch, marker, log)
            log.info("run.started", attempt=run.attempts, trigger=run.trigger)
            began = time.monotonic()
            outcome = dispatch.submitter.submit(request, self._cancel)
            if outcome.status == "submitted" and dispatch.follow is not None:
                outcome = dataclasses.replace(outcome, follow_for=dispatch.follow)
            handed = self._finish(run, outcome, log, took=time.monotonic() - began)
        except SubmitInterrupted as exc:
            self._hand_back(run, str(exc), log)
        except TransientSubmitError as exc:
            handed = self._retry_or_fail(run, retry, exc, log)
        except SubmitError as exc:
            handed = self._finish(run, RunOutcome(status="failed", error=str(exc)), log)
        except Exception as exc:
            log.error("run.crashed", error=repr(exc), exc_info=True)
            crashed = RunOutcome(status="failed", error=f"internal error: {exc!r}")
            handed = self._finish(run, crashed, log)
        finally:
            if not handed:
                self._forget(run.id)

    def _retry_or_fail(
        self, run: RunRecord, policy: RetryPolicy, exc: TransientSubmitError, log: Logger
    ) -> bool:
        """Pending again with backoff, or failed (True: handed to the finisher)."""
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
            return self._finish(run, RunOutcome(status="failed", error=error), log)
        self._persist(log, "retry", lambda: self._queue.retry_at(run.id, at=at, error=str(exc)))
        if self._metrics:
            self._metrics.run_retry(run.schedule)
        log.warning(
            "run.retry_scheduled",
            attempt=run.attempts,
            error=str(exc),
            next_attempt_at=at.isoformat(),
        )
        return False

    def _finish(self, run: RunRecord, outcome: RunOutcome, log: Logger, took: float = 0.0) -> bool:
        """Record how a run ended, with the finisher's next transaction; ``took`` is how long
        its last attempt ran, in seconds. True: the run is the finisher's now."""
        self._finisher.add(Ended(run, outcome, log, took))
        return True

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
        """The runs whose claims the heartbeat renews."""
        with self._lock:
            return list(self._claimed)

    def stop(self, grace: timedelta, *, interrupted: timedelta = INTERRUPT_WAIT) -> None:
        """Stop claiming; wait ``grace`` for runs in flight, then interrupt them and wait
        ``interrupted`` more for them to be handed back (a command gets SIGTERM, then SIGKILL
        after its kill grace); then record the ends handed to the finisher. Every wait is on
        the monotonic clock; a run still in flight after them stays ``running`` and is
        recovered at the next start."""
        self._stopping.set()
        self._wake.set()
        end = time.monotonic() + grace.total_seconds()
        self._thread.join(timeout=max(0.0, min(5.0, end - time.monotonic())))
        for _ in self._pool:
            self._jobs.put(None)  # each worker ends after the run it has
        self._join_pool(end)
        if any(worker.is_alive() for worker in self._pool):
            self._cancel.set()
            self._join_pool(time.monotonic() + interrupted.total_seconds())
        while True:  # claimed while the workers ended (a claim that outlasted the join)
            try:
                left = self._jobs.get_nowait()
            except Empty:
                break
            if left is not None:
                self._hand_back_unstarted(left)
        self._finisher.stop(wait=max(FINISH_WAIT, end - time.monotonic()))

    def _join_pool(self, end: float) -> None:
        for worker in self._pool:
            if worker.ident is not None:  # started
                worker.join(timeout=max(0.0, end - time.monotonic()))

    def _hand_back_unstarted(self, run: RunRecord) -> None:
        """A run claimed ahead of the workers that none started before the shutdown."""
        log = self._log.bind(schedule=run.schedule, fire_key=run.fire_key, run_id=run.id)
        self._hand_back(run, "interrupted before sending: daemon shutting down", log)
        self._forget(run.id)

    def _hand_back(self, run: RunRecord, reason: str, log: Logger) -> None:
        self._persist(log, "hand back", lambda: self._queue.hand_back(run.id, error=reason))
        log.warning("run.handed_back", reason=reason)
