"""The dispatcher: claims pending runs from the store and hands them to their submitters.

Runs are claimed one at a time up to the concurrency limit, so a burst of fires waits in the
store, not in memory. On shutdown the dispatcher stops claiming, lets runs in flight finish
within the grace period, then interrupts the rest and hands them back as pending.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from triggerd.config.pipelines import RetryPolicy
from triggerd.engine.retries import NO_RETRY, describe_exhausted, next_attempt_at
from triggerd.errors import SubmitError, SubmitInterrupted, TransientSubmitError
from triggerd.humanize import human_timeout
from triggerd.observability.logging import Logger, get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import RunRecord
from triggerd.store import Store, meta, outbox, queries
from triggerd.submitters import RunOutcome, RunRequest, Submitter
from triggerd.submitters.base import ProcessTracking, RunsProcesses
from triggerd.submitters.processgroup import (
    DEFAULT_KILL_GRACE,
    Ended,
    ProcessIdentity,
    end_leftovers,
    this_host,
)


@dataclass(frozen=True)
class Dispatch:
    """What the dispatcher needs to submit a claimed run."""

    request: RunRequest
    submitter: Submitter
    retry: RetryPolicy = NO_RETRY


# Given a claimed run: how to submit it, or an error text if it cannot be submitted.
Resolver = Callable[[RunRecord], Dispatch | str]
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
        store: Store,
        resolve: Resolver,
        *,
        owner: str,
        concurrency: int,
        clock: Callable[[], datetime],
        limits: Limits = dict,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
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
            run = self._store.write(outbox.claim_next, self._owner, now, blocked=blocked)
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
        running = self._store.read(queries.running_counts)
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
                for key in self._store.write(outbox.skip_waiting, schedule, reason=reason, now=now):
                    self._log.info("fire.skipped", schedule=schedule, fire_key=key, reason=reason)
                    if self._metrics:
                        self._metrics.fire_recorded(schedule, "overlap", "skipped")
        return blocked

    def _work(self, run: RunRecord) -> None:
        log = self._log.bind(schedule=run.schedule, fire_key=run.fire_key, run_id=run.id)
        retry = NO_RETRY
        try:
            dispatch = self._resolve(run)
            submitter = None if isinstance(dispatch, str) else dispatch.submitter
            marker = self._marker(run, submitter, log)
            if marker is not None and not self._end_earlier_attempt(run, submitter, marker, log):
                return
            if isinstance(dispatch, str):
                self._finish(run, RunOutcome(status="failed", error=dispatch), log)
                return
            retry = dispatch.retry
            request = self._tracked(run, dispatch, marker, log)
            log.info("run.started", attempt=run.attempts, trigger=run.trigger)
            began = time.monotonic()
            outcome = dispatch.submitter.submit(request, self._cancel)
            self._finish(run, outcome, log, took=time.monotonic() - began)
        except SubmitInterrupted as exc:
            reason = str(exc)
            self._persist(
                log, "hand back", lambda: self._store.write(outbox.hand_back, run.id, error=reason)
            )
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

    # -- what a dead daemon's attempt left running ------------------------------------------

    def _marker(self, run: RunRecord, submitter: Submitter | None, log: Logger) -> str | None:
        """``TRIGGERD_RUN_MARKER`` for the run's processes (the database's id and the run's), if
        its submitter starts processes or an earlier attempt's group is on record."""
        if run.process is None and not isinstance(submitter, RunsProcesses):
            return None
        store_id = self._persist(log, "store id", lambda: self._store_id)
        return None if store_id is None else f"{store_id}:{run.id}"

    @functools.cached_property
    def _store_id(self) -> str:
        """The database's id, read once (made first by a schema that has none)."""
        return self._store.read(meta.store_id) or self._store.write(meta.make_store_id)

    def _end_earlier_attempt(
        self, run: RunRecord, submitter: Submitter | None, marker: str, log: Logger
    ) -> bool:
        """Before an attempt, end what an earlier one left running when its daemon died.

        A run is checked when its row still holds a process group (the end of the attempt that
        started it was never recorded) or, for a command, on any attempt after the first (its
        daemon may have died before it recorded the group). A group recorded on this host and
        boot, and every process here carrying the run's marker, get SIGTERM, then SIGKILL
        after the pipeline's kill grace (see ``processgroup.leftovers`` for what counts as the
        run's). Returns False if some survived SIGKILL: the run is failed, not run beside them.
        """
        if run.process is None and run.attempts <= 1:
            return True
        record = ProcessIdentity.from_json(run.process) if run.process else None
        earlier = (run.process or {}).get("attempt")
        if record is not None:
            where = record.elsewhere(*this_host())
            if where == "another host":
                log.warning("run.orphan_unchecked", pid=record.pid, host=record.host)
                self._note(run.id, _unchecked_note(record, earlier, run.attempts), log)
            if where is not None:
                record = None  # another host's pid, or an earlier boot's: not ours to act on
        grace = DEFAULT_KILL_GRACE
        if isinstance(submitter, RunsProcesses):
            grace = submitter.kill_grace
        ended = end_leftovers(record, marker, grace.total_seconds())
        if ended is None:
            return True
        survivors = {"survivors": list(ended.survivors)} if ended.survivors else {}
        log.warning(
            "run.orphan_stopped",
            pid=ended.group or ended.pids[0],
            processes=len(ended.pids),
            signal=ended.signal.name,
            **survivors,
        )
        self._note(run.id, _ended_note(ended, earlier, run.attempts, grace), log)
        if not ended.survivors:
            return True
        error = (
            f"processes {_pids(ended.survivors)} of an earlier attempt still ran after SIGKILL; "
            "not run again beside them"
        )
        self._finish(run, RunOutcome(status="failed", error=error), log)
        return False

    def _note(self, run_id: int, note: str, log: Logger) -> None:
        self._persist(log, "note", lambda: self._store.write(outbox.add_note, run_id, note))

    def _tracked(
        self, run: RunRecord, dispatch: Dispatch, marker: str | None, log: Logger
    ) -> RunRequest:
        """The request, with the tracking that records the attempt's process group."""
        if marker is None or not isinstance(dispatch.submitter, RunsProcesses):
            return dispatch.request

        def started(identity: ProcessIdentity) -> None:
            # One quick try: a command must not wait on the database (its marker still finds it).
            process = {**identity.as_json(), "attempt": run.attempts}
            try:
                self._store.write(outbox.record_process, run.id, process, owner=self._owner)
            except SQLAlchemyError as exc:
                error = str(exc).splitlines()[0]
                log.warning("run.process_unrecorded", pid=identity.pid, error=error)

        return replace(dispatch.request, tracking=ProcessTracking(marker, started))

    def _retry_or_fail(
        self, run: RunRecord, policy: RetryPolicy, exc: TransientSubmitError, log: Logger
    ) -> None:
        now = self._clock()
        at = next_attempt_at(
            policy,
            attempts=run.attempts,
            recorded_at=run.started_at or run.created_at,
            now=now,
            retry_after=exc.retry_after,
        )
        if at is None:
            error = describe_exhausted(policy, run.attempts, str(exc))
            self._finish(run, RunOutcome(status="failed", error=error), log)
            return
        self._persist(
            log,
            "retry",
            lambda: self._store.write(outbox.schedule_retry, run.id, at=at, error=str(exc)),
        )
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
            log,
            "result",
            lambda: self._store.write(
                outbox.finish,
                run.id,
                status=outcome.status,
                now=now,
                exit_code=outcome.exit_code,
                error=outcome.error,
                output=outcome.output or None,
                external_id=outcome.external_id,
                owner=self._owner,
            ),
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


def _ended_note(ended: Ended, earlier: object, attempt: int, grace: timedelta) -> str:
    """``runs show``'s note on what an earlier attempt left running, and how it was ended."""
    whose = f"attempt {earlier}" if isinstance(earlier, int) else "an earlier attempt"
    count = len(ended.pids)
    if ended.group is not None:
        what = f"{whose}'s process group {ended.group}"
        what += f" ({count} processes) was" if count > 1 else " was"
    else:
        what = f"process{'es' if count > 1 else ''} {_pids(ended.pids)} of {whose} "
        what += "were" if count > 1 else "was"
    how = "ended with SIGTERM"
    if ended.signal.name == "SIGKILL":
        how = f"ended with SIGKILL ({human_timeout(grace)} after SIGTERM)"
    found = f"{what} still running after the daemon running it died"
    if ended.survivors:
        return (
            f"{found}: {how}, but {_pids(ended.survivors)} still ran, so attempt {attempt} "
            "was not started."
        )
    return f"{found}: {how} before attempt {attempt} started."


def _unchecked_note(record: ProcessIdentity, earlier: object, attempt: int) -> str:
    whose = f"attempt {earlier}" if isinstance(earlier, int) else "an earlier attempt"
    return (
        f"{whose} ran on host {record.host} (process group {record.pid}) and was not checked "
        f"from here: if it still runs there, attempt {attempt} runs beside it."
    )


def _pids(pids: tuple[int, ...]) -> str:
    return ", ".join(str(pid) for pid in pids)
