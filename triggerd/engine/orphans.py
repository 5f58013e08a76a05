"""Before an attempt: what an earlier attempt of the run left running when its daemon died.

A command's process group can outlive a daemon killed outside systemd. Before the run is
attempted again, what is left of the earlier attempt on this host is ended (SIGTERM, then
SIGKILL after the pipeline's kill grace; ``submitters/processgroup.py`` says what counts as
the run's), so a command never runs beside itself; the run's note says what was done. The
attempt about to start is tracked the same way: its group goes into the run, and its processes
carry ``TRIGGERD_RUN_MARKER`` (the database's id and the run's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from triggerd.engine.resolver import Dispatch
from triggerd.engine.runqueue import RunQueue
from triggerd.humanize import human_timeout
from triggerd.observability.logging import Logger
from triggerd.runs import RunRecord
from triggerd.submitters import RunRequest, Submitter
from triggerd.submitters.base import ProcessTracking, RunsProcesses
from triggerd.submitters.processgroup import (
    DEFAULT_KILL_GRACE,
    Ended,
    ProcessIdentity,
    end_leftovers,
    this_host,
)

# Writes a run's fate, waiting out a database outage: (log, what, call) -> call() or None.
Persist = Callable[[Logger, str, Callable[[], Any]], Any]


class EarlierAttempts:
    def __init__(self, queue: RunQueue, *, owner: str, persist: Persist) -> None:
        self._queue = queue
        self._owner = owner
        self._persist = persist

    def marker(self, run: RunRecord, submitter: Submitter | None, log: Logger) -> str | None:
        """``TRIGGERD_RUN_MARKER`` for the run's processes, if its submitter starts processes
        or an earlier attempt's group is on record."""
        if run.process is None and not isinstance(submitter, RunsProcesses):
            return None
        store_id = self._persist(log, "store id", self._queue.store_id)
        return None if store_id is None else f"{store_id}:{run.id}"

    def end(
        self, run: RunRecord, submitter: Submitter | None, marker: str, log: Logger
    ) -> str | None:
        """End what an earlier attempt left running; the error to fail the run with if some of
        it survived SIGKILL (it is not run beside it), else None.

        A run is checked when its row still holds a process group (the end of the attempt that
        started it was never recorded) or, for a command, on any attempt after the first (its
        daemon may have died before it recorded the group). Only a record of this host and
        boot is acted on; the marker finds the rest here.
        """
        if run.process is None and run.attempts <= 1:
            return None
        record = ProcessIdentity.from_json(run.process) if run.process else None
        earlier = (run.process or {}).get("attempt")
        if record is not None:
            where = record.elsewhere(*this_host())
            if where == "another host":
                log.warning("run.orphan_unchecked", pid=record.pid, host=record.host)
                self._note(run.id, _unchecked_note(record, earlier, run.attempts), log)
            if where is not None:
                record = None  # another host's pid, or an earlier boot's: not ours to act on
        grace = submitter.kill_grace if isinstance(submitter, RunsProcesses) else DEFAULT_KILL_GRACE
        ended = end_leftovers(record, marker, grace.total_seconds())
        if ended is None:
            return None
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
            return None
        return (
            f"processes {_pids(ended.survivors)} of an earlier attempt still ran after SIGKILL; "
            "not run again beside them"
        )

    def tracked(
        self, run: RunRecord, dispatch: Dispatch, marker: str | None, log: Logger
    ) -> RunRequest:
        """The request, with the tracking that records the attempt's process group."""
        if marker is None or not isinstance(dispatch.submitter, RunsProcesses):
            return dispatch.request

        def started(identity: ProcessIdentity) -> None:
            # One quick try: a command must not wait on the database (its marker still finds it).
            process = {**identity.as_json(), "attempt": run.attempts}
            try:
                self._queue.record_process(run.id, process, owner=self._owner)
            except SQLAlchemyError as exc:
                error = str(exc).splitlines()[0]
                log.warning("run.process_unrecorded", pid=identity.pid, error=error)

        return replace(dispatch.request, tracking=ProcessTracking(marker, started))

    def _note(self, run_id: int, note: str, log: Logger) -> None:
        self._persist(log, "note", lambda: self._queue.add_note(run_id, note))


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
