"""The validated configuration: datastores, pipelines and schedules, each a frozen pydantic model.

Every model forbids unknown keys. A key set to ``~``, ``null`` or the string ``"None"`` (as
published Azure ML samples write it) counts as not given, so its default applies.
Relative paths resolve against the directory of the file that defines them (validation context
``base_dir``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from triggerd.config.base import ConfigModel, SecretSource, relative_to_file
from triggerd.config.durations import Minutes, Seconds
from triggerd.config.pipelines import (
    Pipeline,
)
from triggerd.config.problems import Invalid, name_problem, show
from triggerd.config.recurrence_spec import parse_recurrence
from triggerd.errors import ScheduleNotFound
from triggerd.recurrence import Recurrence

# --- datastores ---------------------------------------------------------------------------


class LocalDatastore(ConfigModel):
    """A directory on this machine."""

    kind: Literal["local"]
    path: Path

    _resolve_path = field_validator("path")(relative_to_file)


class DefaultCredential(ConfigModel):
    """Azure's DefaultAzureCredential (managed identity, environment, Azure CLI login...)."""

    kind: Literal["default"]


class SasTokenCredential(SecretSource):
    kind: Literal["sas_token"]


class AccountKeyCredential(SecretSource):
    kind: Literal["account_key"]


Credential = Annotated[
    DefaultCredential | SasTokenCredential | AccountKeyCredential, Field(discriminator="kind")
]


class AzureBlobDatastore(ConfigModel):
    """A blob container, reached by a connection string from env or by account URL + credential."""

    kind: Literal["azure_blob"]
    container: str
    connection_string_env: str | None = None
    account_url: str | None = None
    credential: Credential | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> AzureBlobDatastore:
        if (self.connection_string_env is None) == (self.account_url is None):
            raise Invalid(
                "give exactly one of connection_string_env (the name of an environment variable "
                "holding the connection string) or account_url"
            )
        if self.credential is not None and self.account_url is None:
            raise Invalid(
                "credential is only used with account_url (a connection string carries its own)",
                "credential",
            )
        return self


Datastore = Annotated[LocalDatastore | AzureBlobDatastore, Field(discriminator="kind")]


# --- schedules ----------------------------------------------------------------------------

ParameterValue = str | int | float | bool


def _parameters(value: Any) -> dict[str, ParameterValue]:
    if not isinstance(value, dict):
        raise Invalid("must be a mapping of parameter names to values")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise Invalid(f"must be a string, number or boolean, not {show(item)}", key)
    return dict(value)


def _status(value: Any) -> str:
    if value not in ("Active", "Disabled"):
        raise Invalid("Status must be either Active or Disabled")
    return str(value)


class Schedule(ConfigModel):
    """One schedule: a recurrence or a datastore to watch, and the pipeline it runs."""

    keep_none_string: ClassVar[frozenset[str]] = frozenset({"catchup"})

    name: str
    pipeline: str
    experiment_name: str | None = None
    description: str | None = None
    recurrence: Annotated[Recurrence | None, PlainValidator(parse_recurrence)] = None
    datastore: str | None = None
    path_on_datastore: str | None = None
    polling_interval: Minutes = timedelta(minutes=5)
    data_path_parameter_name: str | None = None
    pipeline_parameters: Annotated[dict[str, ParameterValue], PlainValidator(_parameters)] = Field(
        default_factory=dict
    )
    continue_on_step_failure: Annotated[bool | None, Field(strict=True)] = None
    status: Annotated[Literal["Active", "Disabled"], PlainValidator(_status)] = "Active"
    catchup: Literal["none", "latest", "all"] = "latest"
    misfire_grace_time: Seconds = None
    max_catchup_runs: Annotated[int, Field(strict=True, ge=1)] = 10
    # What a fire does while this schedule's earlier runs are still running (runs triggerd sees
    # finish: commands): allow (no limit), queue (wait), skip (recorded as skipped).
    overlap: Literal["allow", "queue", "skip"] = "allow"
    max_concurrent_runs: Annotated[int, Field(strict=True, ge=1)] = 1
    # Datastore schedules only: when a new or changed file counts as finished (None: unchanged
    # across two consecutive listings), which names count, and whether the files present at
    # the first poll fire (Azure ML: they do not).
    settle: Seconds = None
    include: Annotated[list[str], Field(min_length=1)] | None = None
    exclude: list[str] | None = None
    on_existing: Literal["ignore", "fire"] = "ignore"
    source: str = ""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        problem = name_problem(value)
        if problem:
            raise Invalid(problem)
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if self.recurrence is not None and self.datastore is not None:
            raise Invalid("Can not specify both a Recurrence and a Datastore", "datastore")
        if self.recurrence is None and self.datastore is None:
            raise Invalid("a schedule needs a recurrence or a datastore")
        if self.datastore is None and self.data_path_parameter_name is not None:
            raise Invalid(
                "Data Path parameter name can only be specified for Datastore schedules.",
                "data_path_parameter_name",
            )
        if self.datastore is None and self.path_on_datastore is not None:
            raise Invalid(
                "Path on datastore parameter can only be specified for Datastore schedules.",
                "path_on_datastore",
            )
        if self.datastore is None:
            for key in DATASTORE_ONLY_KEYS:
                if key in self.model_fields_set:
                    raise Invalid(f"{key} can only be specified for Datastore schedules.", key)
        if self.path_on_datastore is not None and ".." in self.path_on_datastore.split("/"):
            raise Invalid("must stay inside the datastore (no '..')", "path_on_datastore")
        return self

    def effective_status(self, override: bool | None) -> Literal["Active", "Disabled"]:
        """The status in force: the operator's override (``schedules enable|disable``, kept in
        the store) when there is one, else the config's ``status``."""
        if override is None:
            return self.status
        return "Active" if override else "Disabled"

    @property
    def trigger(self) -> Literal["recurrence", "datastore"]:
        return "recurrence" if self.recurrence is not None else "datastore"


DATASTORE_ONLY_KEYS = ("settle", "include", "exclude", "on_existing")
SCHEDULE_KEYS = tuple(name for name in Schedule.model_fields if name != "source")


class Config(BaseModel):
    """Everything the config files define, by name."""

    model_config = ConfigDict(frozen=True)

    datastores: dict[str, Datastore] = Field(default_factory=dict)
    pipelines: dict[str, Pipeline] = Field(default_factory=dict)
    schedules: dict[str, Schedule] = Field(default_factory=dict)

    def schedule(self, name: str) -> Schedule:
        try:
            return self.schedules[name]
        except KeyError:
            raise ScheduleNotFound(name) from None
