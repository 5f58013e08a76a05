"""The error hierarchy. Every error says what is wrong and, where it can, what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


class TriggerdError(Exception):
    """Base class of every error triggerd raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in the configuration: where it is and what is wrong."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.key:
            where = f"{where}: {self.key}"
        return f"{where}: {self.message}"


class ConfigError(TriggerdError):
    """The configuration is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ScheduleNotFound(TriggerdError, LookupError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no schedule named {name!r} in the configuration")


class RunNotFound(TriggerdError):
    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {run_id}")


class ListingError(TriggerdError):
    """A poll could not list its folder. The message never contains a key, token or secret."""


class QueueError(TriggerdError):
    """An event queue could not be read or written. The message never contains a key or SAS."""


class LeaseLost(TriggerdError):
    """Another daemon holds the lease now: what was about to be written is not written."""


class SchemaTooNew(TriggerdError):
    """The database was migrated by a newer triggerd than this one."""


class StoreLocked(TriggerdError):
    """Another daemon already runs on this SQLite database."""


class StoreUnavailable(TriggerdError):
    """The database cannot be opened or used. The message is one line: the URL (never its
    password) and the cause, e.g. ``cannot open the database postgresql+psycopg://u:***@db/x:
    connection refused``."""


class DatabaseMissing(StoreUnavailable):
    """A command that must not create the database found no SQLite file where it looked."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no triggerd database at {path}")


class SubmitError(TriggerdError):
    """A submission failed. Transient errors are retried; permanent ones are not."""

    transient: bool = False


class TransientSubmitError(SubmitError):
    """Worth trying again: a connection error, a timeout, 408, 429 or 5xx.

    ``retry_after`` is the server's own wish (``Retry-After``), honoured by the retry schedule.
    """

    transient = True

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SubmitInterrupted(TransientSubmitError):
    """The daemon is shutting down: the run is handed back, not counted as a failed attempt."""


class PermanentSubmitError(SubmitError):
    transient = False
