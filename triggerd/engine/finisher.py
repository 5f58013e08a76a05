"""The group commit of runs' ends: how runs ended, recorded many to a transaction.

A worker that has submitted a run hands its outcome here and takes its next run at once; one
thread records everything handed in within ``GATHER_S`` of the first in ONE transaction
(``RunQueue.finish_many``), then logs and counts each run as the worker did before. Under a
burst a transaction then carries the ends of every worker's last runs instead of one, the
largest cost after the claim (bench/README.md, section 5).

Nothing is weakened: a run stays claimed by this daemon, its claim renewed with the heartbeat,
until its end is committed. A daemon killed before that leaves the run ``running``, to be
attempted again after the restart (or by another replica once the claim expired), exactly as a
kill between a submission and its record always did: the Idempotency-Key, the Azure ML run tag
or ``TRIGGERD_FIRE_KEY`` let the target see the repeat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triggerd.engine.runqueue import RunQueue
from triggerd.observability.logging import Logger, get_logger
from triggerd.observability.metrics import Metrics
from triggerd.runs import RunRecord
from triggerd.submitters import RunOutcome

GATHER_S = 0.005  # how long the first end waits for others before its transaction
# Writes a run's fate, waiting out a database outage: (log, what, call) -> call() or None.
Persist = Callable[[Logger, str, Callable[[], Any]], Any]


@dataclass(frozen=True)
class Ended:
    """A run's end, waiting to be recorded."""

    run: RunRecord
    outcome: RunOutcome
    log: Logger
    took: float  # seconds the last attempt ran


class Finisher:
    def __init__(
        self,
        queue: RunQueue,
        *,
        owner: str,
        clock: Callable[[], datetime],
        persist: Persist,
        recorded: Callable[[int], None],
        metrics: Metrics | None = None,
    ) -> None:
        """``recorded(run_id)``: the run's end is committed (or given up on): it is no longer
        this daemon's to renew."""
        self._queue = queue
        self._owner = owner
        self._clock = clock
        self._persist = persist
        self._recorded = recorded
        self._metrics = metrics
        self._waiting: list[Ended] = []
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="finisher", daemon=True)
        self._log = get_logger()

    def start(self) -> None:
        self._thread.start()

    def add(self, ended: Ended) -> None:
        """Record this run's end with the next transaction (returns at once)."""
        with self._changed:
            self._waiting.append(ended)
            self._changed.notify()

    def stop(self, wait: float) -> None:
        """Record what was handed in, then end; wait at most ``wait`` seconds for that (a run
        whose end is not committed stays ``running`` and is attempted again after the restart)."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=wait)

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._stopping:
                    self._changed.wait()
                if not self._waiting:
                    return  # stopping, and everything handed in is recorded
                gather = not self._stopping
            if gather:  # the other workers' ends of the same moment join this transaction
                time.sleep(GATHER_S)
            with self._changed:
                batch, self._waiting = self._waiting, []
            try:
                self._record(batch)
            except Exception as exc:  # never lose the thread: the claims expire, runs go again
                self._log.error("dispatcher.error", error=str(exc), exc_info=True)
            finally:
                for ended in batch:
                    self._recorded(ended.run.id)

    def _record(self, batch: list[Ended]) -> None:
        now = self._clock()
        done = [(ended.run, ended.outcome) for ended in batch]
        log = batch[0].log if len(batch) == 1 else self._log.bind(runs=len(batch))
        kept = self._persist(
            log, "result", lambda: self._queue.finish_many(done, now=now, owner=self._owner)
        )
        if kept is None:
            return  # not recorded: the claims expire and other attempts run (at-least-once)
        for ended, held in zip(batch, kept, strict=True):
            self._report(ended, held)

    def _report(self, ended: Ended, held: bool) -> None:
        run, outcome, log = ended.run, ended.outcome, ended.log
        if not held:  # this daemon stalled past its claim; another replica has the run now
            log.warning("run.claim_lost", status=outcome.status)
            return
        if self._metrics:
            self._metrics.run_finished(run.schedule, outcome.status, run.attempts, ended.took)
        fields = {"exit_code": outcome.exit_code, "external_id": outcome.external_id}
        event = {"succeeded": "run.succeeded", "submitted": "run.submitted"}.get(outcome.status)
        if event:
            log.info(event, **{k: v for k, v in fields.items() if v is not None})
        else:
            log.warning("run.failed", error=outcome.error, **fields)
