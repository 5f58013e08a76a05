"""What every submitter takes and returns: the I/O edge that hands a run to its target."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

JsonValue = str | int | float | bool | None


@dataclass(frozen=True)
class DataPath:
    """A file bound to a run: datastore name + path relative to the datastore root."""

    datastore: str
    relative_path: str

    def as_json(self) -> dict[str, str]:
        return {"datastore": self.datastore, "relative_path": self.relative_path}


@dataclass(frozen=True)
class RunRequest:
    """One run, as the dispatcher hands it to a submitter."""

    run_id: int
    schedule: str
    fire_key: str
    trigger: Literal["time", "datastore", "manual"]
    scheduled_for: datetime | None
    parameters: dict[str, Any]
    data_path: DataPath | None = None
    data_path_parameter_name: str | None = None
    experiment_name: str | None = None
    attempt: int = 1
    # Extra values for placeholders: the data path parameter -> local path or blob URL.
    resolved: dict[str, str] = field(default_factory=dict)
    data_uri: str | None = None  # the bound file as a URI: file:///... or the blob URL
    description: str | None = None  # the schedule's description
    continue_on_step_failure: bool | None = None  # Azure ML's ContinueRunOnStepFailure


@dataclass(frozen=True)
class RunOutcome:
    """What came of a submission."""

    status: Literal["succeeded", "failed", "submitted"]
    exit_code: int | None = None
    external_id: str | None = None
    error: str | None = None
    output: str = ""


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
