"""The run vocabulary: what a fire is called, what a run is, and the file a run is bound to.

Every module that records, claims, submits or shows runs speaks these words: ``RunStatus`` and
``TriggerKind`` (``StrEnum``: they are stored and printed as their plain values), the fire keys
(a fire's identity: recording it twice gives one run), ``NewRun`` (a fire about to be recorded)
and ``RunRecord`` (a run as the store holds it), ``DataPath`` (a datastore file as the store
holds it) and ``BoundFile`` (that file as a pipeline reaches it). Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

MAX_FIRE_KEY = 1000  # runs.fire_key
_DIGEST = 32  # hex digits of sha256 that stand for a path in a shortened or refused key


class RunStatus(StrEnum):
    """pending -> running -> succeeded | failed (| submitted for remote targets, then, when the
    daemon follows the remote run, succeeded | failed | canceled); or skipped."""

    PENDING = "pending"
    RUNNING = "running"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class TriggerKind(StrEnum):
    """What made a run: a slot of a recurrence, a file in a datastore, or an operator."""

    TIME = "time"
    DATASTORE = "datastore"
    MANUAL = "manual"


# -- fire keys -------------------------------------------------------------------------------


def time_fire_key(schedule: str, scheduled_for: datetime) -> str:
    """``"{schedule}:{scheduled_for in UTC ISO 8601}"``, e.g. ``nightly:2024-03-31T00:30:00Z``."""
    return f"{schedule}:{_utc_text(scheduled_for)}"


@functools.lru_cache(maxsize=4096)  # a pass names the same few slots for many schedules
def _utc_text(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def datastore_fire_key(schedule: str, relative_path: str, version: str) -> str:
    """``"{schedule}:{relative_path}:{version}"``; when that is longer than the store holds,
    the path is cut and ends in ``…`` and a digest of the whole path, so the key stays unique
    and the same at every poll."""
    key = f"{schedule}:{relative_path}:{version}"
    if len(key) <= MAX_FIRE_KEY:
        return key
    tail = f"…{_digest(relative_path)}:{version}"
    keep = max(0, MAX_FIRE_KEY - len(schedule) - 1 - len(tail))
    return f"{schedule}:{relative_path[:keep]}{tail}"


def refused_fire_key(schedule: str, relative_path: str, version: str) -> str:
    """The key of the skipped fire recorded for a file whose name cannot be stored:
    ``"{schedule}:refused:{digest of the name's bytes}:{version}"``."""
    return f"{schedule}:refused:{_digest(relative_path)}:{version}"


def manual_fire_key(schedule: str) -> str:
    """``"{schedule}:manual:{random hex}"``: every manual run is a fire of its own."""
    return f"{schedule}:manual:{uuid.uuid4().hex}"


def _digest(relative_path: str) -> str:
    raw = relative_path.encode("utf-8", "surrogateescape")
    return hashlib.sha256(raw).hexdigest()[:_DIGEST]


# -- files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataPath:
    """A file of a run as the store holds it: datastore name + path relative to its root."""

    datastore: str
    relative_path: str

    def as_json(self) -> dict[str, str]:
        """The ``data_path`` of ``runs list --json`` and of the ``runs`` table (a contract)."""
        return {"datastore": self.datastore, "relative_path": self.relative_path}

    @classmethod
    def from_json(cls, value: Any) -> DataPath | None:
        if not isinstance(value, dict):
            return None
        return cls(str(value["datastore"]), str(value["relative_path"]))


@dataclass(frozen=True)
class BoundFile(DataPath):
    """A run's file as its pipeline reaches it: ``location`` is the absolute local path or the
    blob URL (no SAS: the job authenticates by itself), ``uri`` a ``file://`` URI or that URL;
    ``azureml_datastore`` the name of its container as an Azure ML datastore, when configured."""

    location: str
    uri: str
    azureml_datastore: str | None = None


# -- runs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRun:
    """A fire about to be recorded: a pending run, or a skipped one with its reason."""

    schedule: str
    trigger: TriggerKind
    fire_key: str
    scheduled_for: datetime | None
    parameters: dict[str, Any]
    data_path: DataPath | None = None
    status: RunStatus = RunStatus.PENDING
    reason: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """A run as the store holds it."""

    id: int
    schedule: str
    trigger: TriggerKind
    fire_key: str
    scheduled_for: datetime | None
    status: RunStatus
    reason: str | None
    parameters: dict[str, Any]
    data_path: DataPath | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    external_id: str | None
    exit_code: int | None
    error: str | None
    output: str | None
    # The process group of the attempt in flight, or of one whose daemon died (see tables.py).
    process: dict[str, Any] | None = None
    note: str | None = None  # what became of an earlier attempt's processes
    # The earlier attempts, oldest first: {attempt, started_at, finished_at, exit_code, error}.
    history: list[dict[str, Any]] | None = None
    # A remote run followed to its end (store/follows.py): its last status as the target
    # reports it, a link to it, the id the status is read by (Azure ML v2: the job's ARM id),
    # the next status check (None: not followed, or no more), the deadline, checks made.
    remote_status: str | None = None
    remote_url: str | None = None
    remote_id: str | None = None
    follow_next_at: datetime | None = None
    follow_until: datetime | None = None
    follow_checks: int = 0

    @property
    def followed(self) -> bool:
        """A submitted run whose remote run the daemon still follows."""
        return self.status == RunStatus.SUBMITTED and self.follow_next_at is not None

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        """A row of the ``runs`` table (its ``_mapping``)."""
        values = dict(row)
        values["trigger"] = TriggerKind(values["trigger"])
        values["status"] = RunStatus(values["status"])
        values["data_path"] = DataPath.from_json(values["data_path"])
        values["follow_checks"] = values.get("follow_checks") or 0
        return cls(**values)

    def first_attempt_started_at(self) -> datetime | None:
        """When the first attempt the retries count from started (``max_elapsed``): the
        run's first attempt, or the first one after the last `runs retry`; None before any."""
        start: str | None = None
        for entry in self.history or ():
            start = start or entry.get("started_at")
            if entry.get("retried"):
                start = None
        return datetime.fromisoformat(start) if start else self.started_at

    def as_json(self) -> dict[str, Any]:
        """The `runs list --json` / `runs show --json` object (a documented contract); the
        attempt ``history`` is only in `runs show --json`."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "schedule": self.schedule,
            "status": str(self.status),
            "trigger": str(self.trigger),
            "fire_key": self.fire_key,
            "scheduled_for": iso(self.scheduled_for),
            "data_path": self.data_path.as_json() if self.data_path else None,
            "parameters": self.parameters,
            "attempts": self.attempts,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "reason": self.reason,
            "error": self.error,
            "exit_code": self.exit_code,
            "external_id": self.external_id,
            "note": self.note,
            "remote_status": self.remote_status,
            "remote_url": self.remote_url,
            "follow_until": iso(self.follow_until) if self.followed else None,
        }
