"""What makes a schedule fire: its trigger, one type per kind.

A config file keeps Azure ML's flat keys (``recurrence`` or ``cron``, ``catchup`` ... beside
``datastore``, ``polling_interval`` ...); the schedule model gathers them, on load, into one
``trigger``: a ``TimeTrigger`` (a timetable — a recurrence or a cron expression — and its
catch-up policy) or a ``DatastoreTrigger`` (a folder to watch and how its files settle). Code
asks the trigger — its type, its policy, its next fire — and never which flat keys a schedule
had. A new kind of trigger (an event-fed datastore) is one more class here and one more branch
in ``gather``; a new calendar for time schedules is one more ``Timetable`` (``timetable.py``)
and one more key, as ``cron`` was: everything after loading asks only ``every``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PlainValidator, field_validator, model_validator

from triggerd.config.base import ConfigModel
from triggerd.config.cron_spec import parse_cron
from triggerd.config.durations import Minutes, Seconds
from triggerd.config.problems import Invalid
from triggerd.config.recurrence_spec import parse_recurrence
from triggerd.cron import CronTimetable
from triggerd.recurrence import Recurrence
from triggerd.runs import TriggerKind
from triggerd.timetable import Timetable

CatchupMode = Literal["none", "latest", "all"]
MAX_GRACE_DEFAULT = timedelta(days=1)

TIME_KEYS = ("recurrence", "cron", "catchup", "misfire_grace_time", "max_catchup_runs")
CALENDAR_KEYS = ("recurrence", "cron")  # a time schedule has exactly one
DATASTORE_KEYS = (
    "datastore",
    "path_on_datastore",
    "polling_interval",
    "data_path_parameter_name",
    "settle",
    "include",
    "exclude",
    "on_existing",
)
DATASTORE_ONLY_KEYS = ("settle", "include", "exclude", "on_existing")
_NEITHER = "a schedule needs a recurrence, a cron or a datastore"
_TWO_CALENDARS = "a schedule has one of recurrence, cron and datastore: remove recurrence or cron"
_CRON_AND_DATASTORE = (
    "a schedule has one of recurrence, cron and datastore: remove cron or datastore"
)
# Keys of one kind a schedule of the other kind may carry: checked, then ignored.
_TIME_ONLY: tuple[str, ...] = ("catchup", "misfire_grace_time", "max_catchup_runs")
_DATASTORE_IGNORED: tuple[str, ...] = ("polling_interval",)


@dataclass(frozen=True)
class CatchupPolicy:
    """What a time schedule makes up for slots missed while the daemon was down."""

    mode: CatchupMode = "latest"
    grace: timedelta = MAX_GRACE_DEFAULT
    max_runs: int = 10

    @classmethod
    def default_grace(cls, timetable: Timetable) -> timedelta:
        """One period of the timetable (a cron's shortest spacing), at most a day."""
        return min(timetable.period, MAX_GRACE_DEFAULT)


class _OtherKindsKeys(ConfigModel):
    """Keys of the other kind that a schedule may carry and that mean nothing for it (Azure ML
    files write ``polling_interval`` for every schedule): checked, then ignored."""

    keep_none_string: ClassVar[frozenset[str]] = frozenset({"catchup"})
    polling_interval: Minutes | None = None
    catchup: CatchupMode | None = None
    misfire_grace_time: Seconds = None
    max_catchup_runs: Annotated[int, Field(strict=True, ge=1)] | None = None


class _Trigger(ConfigModel):
    # Problems the flat keys had as a whole (a key of the other kind, both kinds, neither),
    # found while gathering them: key -> message, reported as the key's own problem. Both are
    # given only when there is something in them: 10,000 triggers share the None.
    refused: dict[str, str] | None = Field(default=None, exclude=True)
    ignored: _OtherKindsKeys | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _refuse(self) -> _Trigger:
        for key, message in (self.refused or {}).items():
            raise Invalid(message, *([key] if key else []))
        return self


class TimeTrigger(_Trigger):
    """Fires at the instants of a timetable, a recurrence or a cron expression (one of them);
    slots missed while down by the catch-up policy."""

    keep_none_string: ClassVar[frozenset[str]] = frozenset({"catchup"})
    # What `schedules list --json` calls it: its timetable's key.
    kind: Literal["recurrence", "cron"] = "recurrence"
    runs: ClassVar[TriggerKind] = TriggerKind.TIME  # what its runs are called

    recurrence: Annotated[Recurrence | None, PlainValidator(parse_recurrence)] = None
    cron: Annotated[CronTimetable | None, PlainValidator(parse_cron)] = None
    catchup: CatchupMode = "latest"
    misfire_grace_time: Seconds = None
    max_catchup_runs: Annotated[int, Field(strict=True, ge=1)] = 10

    @model_validator(mode="before")
    @classmethod
    def _kind_of_calendar(cls, data: Any) -> Any:
        """``TimeTrigger(cron=...)`` is a cron trigger without saying so."""
        if isinstance(data, dict) and "kind" not in data and data.get("cron") is not None:
            return {**data, "kind": "cron"}
        return data

    @property
    def every(self) -> Timetable:
        timetable = self.cron if self.kind == "cron" else self.recurrence
        assert timetable is not None  # gathered only with one; see _refuse
        return timetable

    @property
    def zone(self) -> ZoneInfo:
        return self.every.zone

    @property
    def policy(self) -> CatchupPolicy:
        grace = self.misfire_grace_time or CatchupPolicy.default_grace(self.every)
        return CatchupPolicy(self.catchup, grace, self.max_catchup_runs)

    def next_fire(self, after: datetime, anchor: datetime | None) -> datetime | None:
        """The first fire after ``after``, in the schedule's time zone (None if there is none);
        ``anchor``: when the daemon first saw the schedule."""
        moment = self.every.next_fire_after(after, anchor=anchor)
        return moment.astimezone(self.zone) if moment else None


class DatastoreTrigger(_Trigger):
    """Fires once per new or changed file directly in a datastore folder."""

    kind: Literal["datastore"] = "datastore"
    runs: ClassVar[TriggerKind] = TriggerKind.DATASTORE

    datastore: str
    path_on_datastore: str | None = None
    polling_interval: Minutes = timedelta(minutes=5)
    data_path_parameter_name: str | None = None
    # When a new or changed file counts as finished (None: unchanged across two consecutive
    # listings), which names count, and whether the files present at the first poll fire
    # (Azure ML: they do not).
    settle: Seconds = None
    include: Annotated[list[str], Field(min_length=1)] | None = None
    exclude: list[str] | None = None
    on_existing: Literal["ignore", "fire"] = "ignore"

    @field_validator("path_on_datastore")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and ".." in value.split("/"):
            raise Invalid("must stay inside the datastore (no '..')")
        return value


Trigger = Annotated[TimeTrigger | DatastoreTrigger, Field(discriminator="kind")]


_MISPLACED = {
    "data_path_parameter_name": (
        "Data Path parameter name can only be specified for Datastore schedules."
    ),
    "path_on_datastore": (
        "Path on datastore parameter can only be specified for Datastore schedules."
    ),
    **{key: f"{key} can only be specified for Datastore schedules." for key in DATASTORE_ONLY_KEYS},
}


def gather(data: dict[str, Any]) -> dict[str, Any]:
    """A schedule's flat keys with its trigger's gathered into ``trigger`` (never raises: what
    is wrong as a whole goes into the trigger's ``refused``, reported beside every other
    problem of the schedule; keys of the other kind go into ``ignored``)."""
    given = {k for k, v in data.items() if v is not None and (v != "None" or k == "catchup")}
    mine = {k: data[k] for k in (*TIME_KEYS, *DATASTORE_KEYS) if k in given}
    rest = {k: v for k, v in data.items() if k not in TIME_KEYS and k not in DATASTORE_KEYS}
    refused: dict[str, str] = {}
    if "datastore" in mine:
        kind, other = "datastore", _TIME_ONLY
        if "recurrence" in mine:
            refused["datastore"] = "Can not specify both a Recurrence and a Datastore"
            del mine["recurrence"]
        if "cron" in mine:
            refused["cron"] = _CRON_AND_DATASTORE
            del mine["cron"]
    else:
        kind, other = "cron" if "recurrence" not in mine else "recurrence", _DATASTORE_IGNORED
        if "recurrence" in mine and "cron" in mine:
            refused["cron"] = _TWO_CALENDARS
            del mine["cron"]
        if not any(key in mine for key in CALENDAR_KEYS):
            refused[""] = _NEITHER
        else:
            first = next((k for k in _MISPLACED if k in mine), None)
            if first is not None:
                refused[first] = _MISPLACED[first]
        for key in _MISPLACED:
            mine.pop(key, None)
        mine.pop("datastore", None)
    ignored = {key: mine.pop(key) for key in other if key in mine}
    trigger = {**mine, "kind": kind}
    if refused:
        trigger["refused"] = refused
    if ignored:
        trigger["ignored"] = ignored
    return {**rest, "trigger": trigger}
