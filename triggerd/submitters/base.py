"""What every submitter takes and returns: the I/O edge that hands a run to its target."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from triggerd.runs import BoundFile, TriggerKind
from triggerd.submitters.processgroup import ProcessIdentity

JsonValue = str | int | float | bool | None


@dataclass(frozen=True)
class ProcessTracking:
    """How a submitter that starts local processes lets a later daemon recognise them, should
    this one die while they run (see ``submitters/processgroup.py``).

    The submitter puts ``marker`` in each process's environment (``TRIGGERD_RUN_MARKER``) and
    calls ``started`` with the identity of the process group's leader as soon as it runs.
    ``started`` returns quickly and does not raise (a failure to record is logged; the marker
    still finds the processes).
    """

    marker: str
    started: Callable[[ProcessIdentity], None]


@dataclass(frozen=True)
class RunRequest:
    """One run, as the dispatcher hands it to a submitter."""

    run_id: int
    schedule: str
    fire_key: str
    trigger: TriggerKind
    scheduled_for: datetime | None
    parameters: dict[str, Any]
    file: BoundFile | None = None  # datastore runs: the file, where the pipeline reaches it
    data_path_parameter_name: str | None = None  # the parameter bound to ``file.location``
    experiment_name: str | None = None
    attempt: int = 1
    description: str | None = None  # the schedule's description
    continue_on_step_failure: bool | None = None  # Azure ML's ContinueRunOnStepFailure
    tracking: ProcessTracking | None = None  # set by the dispatcher for a RunsProcesses submitter

    def bound_values(self) -> dict[str, str]:
        """The data path parameter's value: where the run's file is (local path or blob URL)."""
        if self.file is None or not self.data_path_parameter_name:
            return {}
        return {self.data_path_parameter_name: self.file.location}


@dataclass(frozen=True)
class RunOutcome:
    """What came of a submission."""

    status: Literal["succeeded", "failed", "submitted"]
    exit_code: int | None = None
    external_id: str | None = None
    error: str | None = None
    output: str = ""
    # A submitted remote run: what its status is read by, when that is more than external_id
    # (Azure ML v2: the batch job's ARM id, the invocation answer's "id"), and a link to it.
    remote_id: str | None = None
    remote_url: str | None = None
    # Set by the dispatcher, not the submitter: follow the remote run for at most this long.
    follow_for: timedelta | None = None


class Submitter(Protocol):
    """Hands runs to one pipeline. ``submit`` is ONE attempt: it blocks until the target has the
    run (or, for a command, the run ended) and never retries by itself — the dispatcher does,
    through the store, so retries survive restarts.

    Raises :class:`triggerd.errors.TransientSubmitError` (retried with backoff, honouring its
    ``retry_after``) or :class:`~triggerd.errors.PermanentSubmitError` (fails the run at once).
    ``cancel`` is set when the daemon shuts down; a submitter that sees it stops and raises
    :class:`~triggerd.errors.SubmitInterrupted`, so that the run is handed back.
    """

    def submit(self, request: RunRequest, cancel: threading.Event) -> RunOutcome: ...


@runtime_checkable
class RunsProcesses(Protocol):
    """A submitter whose runs are local processes (``command``). The dispatcher gives their
    requests a :class:`ProcessTracking`, and ends what a dead daemon's attempt left running
    before the next attempt, with the same grace between SIGTERM and SIGKILL."""

    @property
    def kill_grace(self) -> timedelta: ...
