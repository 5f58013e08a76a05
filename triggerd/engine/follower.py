"""Following remote runs to their end: the ``follower`` thread and its pure backoff.

A run an Azure ML pipeline with ``follow: true`` accepted is ``submitted`` and followed: its
row says when to check its status next (``store/follows.py``). Once a second the follower looks
for checks that are due, claims them (one daemon per check, as with attempts), asks the
pipeline's status client (``submitters/remote_status.py``) and records what it learnt:

- the remote run ended: the run becomes ``succeeded``, ``failed`` (with the remote error) or
  ``canceled``; ``run.followed``;
- it has not: the next check, ``next_check_in`` from now (15 s doubling to 5 min, with jitter;
  a ``Retry-After`` that asks for longer wins);
- the status could not be read: the same backoff; ``follow.failed``;
- past ``follow_timeout`` (and the last check still says it runs, or failed): the run fails,
  ``gave up following after ...``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from triggerd.config import Config
from triggerd.config.pipelines import FollowedPipeline
from triggerd.humanize import human
from triggerd.observability.logging import Logger, get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import RunRecord, RunStatus
from triggerd.store import Store, follows
from triggerd.submitters.remote_status import (
    CannotFollow,
    RemoteState,
    StatusClient,
    StatusError,
    build_status_client,
)

MAX_INTERVAL = timedelta(minutes=5)
IDLE_POLL = 1.0  # seconds between looks at the store
WORKERS = 4  # status requests at once


def next_check_in(
    initial: timedelta,
    checks: int,
    *,
    retry_after: timedelta | None = None,
    rand: Callable[[], float] = random.random,
) -> timedelta:
    """The wait before the next status check after ``checks`` checks: ``initial`` doubling at
    each, at most 5 minutes (or ``initial``, if longer), with equal jitter (between half and
    all of it); a ``retry_after`` that asks for longer wins."""
    ceiling = max(MAX_INTERVAL, initial)
    delay = min(initial * (2 ** min(checks, 30)), ceiling)
    jittered: timedelta = delay / 2 + delay / 2 * rand()
    return max(jittered, retry_after) if retry_after is not None else jittered


class Follower:
    def __init__(
        self,
        store: Store,
        config: Callable[[], Config],
        *,
        owner: str,
        clock: Callable[[], datetime],
        interval: timedelta,
        metrics: Metrics | None = None,
    ) -> None:
        """``config()``: the config in force (a reload changes it); ``interval``: the first
        wait between checks (``TRIGGERD_FOLLOW_INTERVAL``)."""
        self._store = store
        self._config = config
        self._owner = owner
        self._clock = clock
        self._interval = interval
        self._metrics = metrics
        self._clients: dict[str, StatusClient | None] = {}
        self._clients_of: Config | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="follow")
        self._thread = threading.Thread(target=self._loop, name="follower", daemon=True)
        self._log = get_logger()
        self.loop_at = time.monotonic()

    def start(self) -> None:
        if self._store.engine.dialect.name == "sqlite":  # one daemon per file: others are dead
            self._store.write(follows.release_checks, except_owner=self._owner)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop looking; checks in flight end within their request timeout (a claim not
        recorded expires, and the check is made again)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            if client is not None:
                client.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.loop_at = time.monotonic()
            try:
                self.round()
            except Exception as exc:  # the store may be briefly unavailable; keep going
                self._log.error("follow.error", error=str(exc).splitlines()[0], exc_info=True)
            self._stopping.wait(IDLE_POLL)

    def round(self) -> int:
        """Make the checks that are due (read first: a quiet round writes nothing); how many."""
        count, earliest = self._store.read(follows.due_summary)
        if self._metrics:
            self._metrics.set_followed(count)
        now = self._clock()
        if earliest is None or earliest > now:
            return 0
        due = self._store.write(follows.claim_due, self._owner, now, limit=WORKERS * 4)
        wait([self._pool.submit(self.check, run) for run in due])
        return len(due)

    def check(self, run: RunRecord) -> None:
        """One claimed check of ``run``: ask, then record the end, the next check, or why it
        is not followed any more."""
        log = self._log.bind(schedule=run.schedule, fire_key=run.fire_key, run_id=run.id)
        try:
            client, reason = self._client_for(run.schedule)
            if client is None:
                self._stop_following(run, reason, log)
                return
            try:
                state = client.check(run)
            except CannotFollow as exc:
                self._stop_following(run, f"its status cannot be read: {exc}", log)
                return
            except StatusError as exc:
                self._failed(run, exc, log)
                return
            self._checked(run, state, log)
        except Exception as exc:  # a bug or the store: the claim expires and it is asked again
            log.error("follow.error", error=repr(exc), exc_info=True)

    def _stop_following(self, run: RunRecord, reason: str, log: Logger) -> None:
        note = f"not followed any more: {reason}."
        self._store.write(follows.stop_following, run.id, self._owner, note=note)
        log.warning("follow.stopped", reason=reason)

    def _checked(self, run: RunRecord, state: RemoteState, log: Logger) -> None:
        if state.final is not None:
            self._end(run, state.final, state.status, state.url, state.error, log)
        elif self._past_deadline(run, self._clock()):
            self._give_up(run, f"last remote status {state.status}", state, log)
        else:
            wait_for = self._again(run, state.retry_after, state.status, state.url)
            log.debug("follow.checked", remote_status=state.status, next_check_in_s=wait_for)

    def _failed(self, run: RunRecord, exc: StatusError, log: Logger) -> None:
        if self._metrics:
            self._metrics.follow_failed(run.schedule)
        if self._past_deadline(run, self._clock()):
            self._give_up(run, f"last error {exc}", None, log)
        else:
            wait_for = self._again(run, exc.retry_after, None, None)
            log.warning("follow.failed", error=str(exc), retry_in_s=wait_for)

    def _again(
        self, run: RunRecord, retry_after: timedelta | None, status: str | None, url: str | None
    ) -> float:
        """Plan the next check (never past the deadline: the last one is made at it); the
        wait in seconds."""
        now = self._clock()
        at = now + next_check_in(self._interval, run.follow_checks, retry_after=retry_after)
        if run.follow_until is not None:
            at = min(at, run.follow_until)
        self._store.write(
            follows.record_check,
            run.id,
            self._owner,
            next_at=at,
            remote_status=status,
            remote_url=url,
        )
        return round((at - now).total_seconds(), 1)

    def _give_up(self, run: RunRecord, last: str, state: RemoteState | None, log: Logger) -> None:
        limit = (run.follow_until or self._clock()) - (run.finished_at or run.created_at)
        error = f"gave up following after {human(limit)} (follow_timeout): {last}"
        remote = state.status if state else None
        self._end(run, RunStatus.FAILED, remote, state.url if state else None, error, log)

    def _end(
        self,
        run: RunRecord,
        status: RunStatus,
        remote_status: str | None,
        url: str | None,
        error: str | None,
        log: Logger,
    ) -> None:
        now = self._clock()
        ended = self._store.write(
            follows.end_follow,
            run.id,
            self._owner,
            status=status,
            now=now,
            remote_status=remote_status,
            remote_url=url,
            error=error,
        )
        if not ended:  # another daemon holds the check now; it records the end
            return
        fields = {"status": str(status), "remote_status": remote_status, "remote_url": url}
        log.info("run.followed", error=error, **{k: v for k, v in fields.items() if v})
        if self._metrics:
            took = (now - run.started_at).total_seconds() if run.started_at else 0.0
            self._metrics.run_finished(run.schedule, str(status), run.attempts, took)

    @staticmethod
    def _past_deadline(run: RunRecord, now: datetime) -> bool:
        return run.follow_until is not None and now >= run.follow_until

    def _client_for(self, schedule_name: str) -> tuple[StatusClient | None, str]:
        """The status client of the schedule's pipeline in the config in force, or why none."""
        config = self._config()
        schedule = config.schedules.get(schedule_name)
        if schedule is None:
            return None, f"schedule {schedule_name!r} is no longer in the configuration"
        pipeline = config.pipelines.get(schedule.pipeline)
        if pipeline is None:
            return None, f"pipeline {schedule.pipeline!r} is no longer in the configuration"
        if not isinstance(pipeline, FollowedPipeline) or not pipeline.follow:
            return None, f"pipeline {schedule.pipeline!r} does not follow its runs"
        with self._lock:
            if self._clients_of is not config:  # a reload: new clients for the new config
                old, self._clients = list(self._clients.values()), {}
                self._clients_of = config
                for client in old:
                    if client is not None:
                        client.close()
            if schedule.pipeline not in self._clients:
                self._clients[schedule.pipeline] = build_status_client(pipeline)
            client = self._clients[schedule.pipeline]
        if client is None:
            return None, f"pipeline {schedule.pipeline!r} has no status to follow"
        return client, ""
