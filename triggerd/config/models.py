"""The validated configuration: datastores, pipelines and schedules, each a frozen pydantic model.

Every model forbids unknown keys. A key set to ``~``, ``null`` or the string ``"None"`` (as
published Azure ML samples write it) counts as not given, so its default applies.
Relative paths resolve against the directory of the file that defines them (validation context
``base_dir``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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

from triggerd.config.azureml_v2 import AzureMLV2Details
from triggerd.config.base import ConfigModel, relative_to_file
from triggerd.config.blob_events import BlobEvents
from triggerd.config.credentials import (
    AccountKeyCredential,
    Credential,
    DefaultCredential,
    SasTokenCredential,
)
from triggerd.config.pipelines import (
    AzureMLBatchPipeline,
    Pipeline,
)
from triggerd.config.problems import Invalid, name_problem, show
from triggerd.config.triggers import DATASTORE_KEYS, TIME_KEYS, DatastoreTrigger, Trigger, gather
from triggerd.errors import ScheduleNotFound

# --- datastores ---------------------------------------------------------------------------


class LocalDatastore(ConfigModel):
    """A directory on this machine."""

    kind: Literal["local"]
    path: Path

    _resolve_path = field_validator("path")(relative_to_file)


_AML_DATASTORE = re.compile(r"[A-Za-z0-9_]+")  # Azure ML: alphanumerics and underscores


class AzureBlobDatastore(ConfigModel):
    """A blob container, reached by a connection string from env or by account URL + credential."""

    kind: Literal["azure_blob"]
    container: str
    # The name this container has as a datastore of the Azure ML workspace: an azureml_batch
    # pipeline then gets its files as azureml://datastores/<name>/paths/<path>, not blob URLs.
    azureml_datastore: str | None = None
    connection_string_env: str | None = None
    account_url: str | None = None
    credential: Credential | None = None
    # Event Grid blob events from a Storage queue (config/blob_events.py): fires at the cost of
    # the changes, not of the container's size; the listing then only reconciles.
    events: BlobEvents | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> AzureBlobDatastore:
        if (self.connection_string_env is None) == (self.account_url is None):
            raise Invalid(
                "give exactly one of connection_string_env (the name of an environment variable "
                "holding the connection string) or account_url"
            )
        if self.azureml_datastore is not None and not _AML_DATASTORE.fullmatch(
            self.azureml_datastore
        ):
            raise Invalid(
                "must be the name of an Azure ML datastore: letters, digits and '_'",
                "azureml_datastore",
            )
        if self.credential is not None and self.account_url is None:
            raise Invalid(
                "credential is only used with account_url (a connection string carries its own)",
                "credential",
            )
        return self


Datastore = Annotated[LocalDatastore | AzureBlobDatastore, Field(discriminator="kind")]


__all__ = ["AccountKeyCredential", "Credential", "DefaultCredential", "SasTokenCredential"]


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
    """One schedule: the pipeline it runs, with what, and its trigger (``config/triggers.py``).

    The file's keys are flat, as Azure ML writes them; on load the trigger's keys are gathered
    into ``trigger``, a ``TimeTrigger`` or a ``DatastoreTrigger``."""

    keep_none_string: ClassVar[frozenset[str]] = frozenset({"catchup"})  # see triggers.gather

    name: str
    pipeline: str
    experiment_name: str | None = None
    description: str | None = None
    pipeline_parameters: Annotated[dict[str, ParameterValue], PlainValidator(_parameters)] = Field(
        default_factory=dict
    )
    continue_on_step_failure: Annotated[bool | None, Field(strict=True)] = None
    status: Annotated[Literal["Active", "Disabled"], PlainValidator(_status)] = "Active"
    # What a fire does while this schedule's earlier runs are still running (runs triggerd sees
    # finish: commands): allow (no limit), queue (wait), skip (recorded as skipped).
    overlap: Literal["allow", "queue", "skip"] = "allow"
    max_concurrent_runs: Annotated[int, Field(strict=True, ge=1)] = 1
    trigger: Trigger
    source: str = ""
    # What an Azure ML v2 schedule file says besides (config/azureml_v2.py): shown, never run.
    azureml_v2: AzureMLV2Details | None = None

    @model_validator(mode="before")
    @classmethod
    def _gather_trigger(cls, data: Any) -> Any:
        if isinstance(data, dict) and "trigger" not in data:
            return gather(data)
        return data

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        problem = name_problem(value)
        if problem:
            raise Invalid(problem)
        return value

    def effective_status(self, override: bool | None) -> Literal["Active", "Disabled"]:
        """The status in force: the operator's override (``schedules enable|disable``, kept in
        the store) when there is one, else the config's ``status``."""
        if override is None:
            return self.status
        return "Active" if override else "Disabled"


def unreadable_datastore(
    schedule: Schedule, pipelines: Mapping[str, Any], datastores: Mapping[str, Any]
) -> str | None:
    """Why ``schedule``'s pipeline cannot read the files of its datastore (None if it can): a
    batch endpoint runs in Azure, so a local folder cannot feed it."""
    watch = schedule.trigger
    pipeline = pipelines.get(schedule.pipeline)
    if not isinstance(watch, DatastoreTrigger) or not isinstance(pipeline, AzureMLBatchPipeline):
        return None
    if not isinstance(datastores.get(watch.datastore), LocalDatastore):
        return None
    return (
        f"datastore '{watch.datastore}' is a local folder, which the azureml_batch pipeline "
        f"'{schedule.pipeline}' cannot read (a batch endpoint reads its inputs from Azure "
        "storage): use an azure_blob datastore"
    )


SCHEDULE_KEYS = (
    *(n for n in Schedule.model_fields if n not in ("source", "trigger", "azureml_v2")),
    *TIME_KEYS,
    *DATASTORE_KEYS,
)


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

    def events_of(self, schedule: Schedule) -> BlobEvents | None:
        """The blob events feeding a datastore schedule (None: its folder is only listed)."""
        if not isinstance(schedule.trigger, DatastoreTrigger):
            return None
        datastore = self.datastores.get(schedule.trigger.datastore)
        return datastore.events if isinstance(datastore, AzureBlobDatastore) else None
