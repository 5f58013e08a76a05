"""Azure ML v2 schedule files: a top-level ``trigger:`` makes the file one ``JobSchedule``.

The file loads as ``az ml schedule create`` reads it (azure-ai-ml's ``JobScheduleSchema``): the
top-level keys are ``$schema``, ``name`` (required), ``display_name``, ``description``,
``tags``, ``properties``, ``is_enabled``, ``create_job`` (required) and ``trigger``; any other
key is refused, as azure-ai-ml refuses it (``{'pipeline': ['Unknown field.']}``). So the
triggerd pipeline that runs the schedule is named in a tag, ``tags: {triggerd.pipeline: NAME}``,
and the file stays loadable by Azure ML. ``is_enabled: false`` is ``status: Disabled``.
``create_job`` (a job file, ``azureml:NAME:VERSION``, or a job mapping) is kept and shown by
``schedules describe``, never run. The trigger (``config/azureml_v2_trigger.py``) becomes the
native ``recurrence`` (a ``Recurrence``) or ``cron`` mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from triggerd.config.azureml_v2_trigger import (
    MISSING,
    UNKNOWN,
    cron_mapping,
    parse_v2_recurrence,
    trigger_type,
)
from triggerd.config.base import ConfigModel
from triggerd.config.problems import Invalid, show, unknown_key
from triggerd.config.yamltree import format_path
from triggerd.errors import ConfigProblem
from triggerd.recurrence import Frequency, Recurrence

V2_KEYS = (
    "$schema",
    "name",
    "display_name",
    "description",
    "tags",
    "properties",
    "is_enabled",
    "create_job",
    "trigger",
)
PIPELINE_TAG = "triggerd.pipeline"
NO_PIPELINE_TAG = (
    f"no triggerd pipeline: add 'tags: {{{PIPELINE_TAG}: NAME}}' naming the pipeline (in the "
    "config) that runs this schedule; azure-ai-ml refuses any other top-level key, a tag it keeps"
)
CREATE_JOB_SHAPE = (
    "must be a job file ('./pipeline.yml'), an existing job ('azureml:NAME:VERSION') or a job "
    "mapping (type: pipeline, job: ...)"
)
# Stands in for a trigger that has problems (they are reported already), so that the rest of
# the schedule is still checked and every problem of the file is reported at once.
_STAND_IN = Recurrence(Frequency.DAY, 1)


class AzureMLV2Details(ConfigModel):
    """What a v2 file says that triggerd keeps only to show it (``schedules describe``)."""

    schema_url: str | None = None
    display_name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str | None] = Field(default_factory=dict)
    create_job: str | dict[str, Any] | None = None


@dataclass
class V2Block:
    """A v2 file in triggerd's schedule keys, its problems, and the file's names for keys."""

    data: dict[str, Any]
    problems: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append((path, message))

    def unrepeated(self, found: list[ConfigProblem]) -> list[ConfigProblem]:
        """The schedule model's ``found`` problems without those at keys this block reported
        missing already, with what to add (the name, the pipeline tag)."""
        said = {
            format_path(file_path((key,))) for key in ("name", "pipeline") if key not in self.data
        }
        return [problem for problem in found if problem.key not in said]


# A Schedule field -> the key of a v2 file it comes from (for problems found by the model).
FILE_KEYS: dict[str, tuple[str, ...]] = {
    "pipeline": ("tags", PIPELINE_TAG),
    "status": ("is_enabled",),
    "recurrence": ("trigger",),
    "cron": ("trigger",),
    "azureml_v2": (),
}


def file_path(path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """A key path of the Schedule model as it is spelled in a v2 file."""
    if path[:2] == ("azureml_v2", "schema_url"):
        return ("$schema", *path[2:])
    if path and isinstance(path[0], str) and path[0] in FILE_KEYS:
        return (*FILE_KEYS[path[0]], *path[1:])
    return path


def is_v2_file(top: dict[str, Any]) -> bool:
    """Whether a file's top-level mapping is an Azure ML v2 schedule."""
    return "trigger" in top and "Schedule" not in top


def read_v2_schedule(doc: dict[str, Any]) -> V2Block:
    """The schedule keys of a v2 schedule file; what is wrong becomes problems."""
    block = V2Block(data={})
    for key in doc:
        if key in ("datastores", "pipelines", "schedules"):
            message = (
                "an Azure ML v2 schedule file (a top-level trigger) holds that one schedule "
                f"only: move '{key}' to another file"
            )
            block.problem((key,), message)
        elif key not in V2_KEYS:
            hint = f"; name the triggerd pipeline in tags: {{{PIPELINE_TAG}: NAME}}"
            extra = hint if key == "pipeline" else ""
            message = (
                f"{unknown_key(key, V2_KEYS)}: azure-ai-ml refuses it ({{'{key}': ['{UNKNOWN}']}})"
            )
            block.problem((key,), message + extra)
    for key in ("name", "create_job"):
        if doc.get(key) is None:
            block.problem((), f"missing required key '{key}' (azure-ai-ml: {MISSING})")
    data = block.data
    for key in ("name", "description"):
        if doc.get(key) is not None:
            data[key] = doc[key]
    _pipeline(doc, block)
    enabled = doc.get("is_enabled")
    if isinstance(enabled, bool):
        data["status"] = "Active" if enabled else "Disabled"
    elif enabled is not None:
        block.problem(("is_enabled",), f"must be true or false, not {show(enabled)}")
    _trigger(doc.get("trigger"), block)
    data["azureml_v2"] = _details(doc, block)
    return block


def _pipeline(doc: dict[str, Any], block: V2Block) -> None:
    tags = doc.get("tags")
    if tags is not None and not isinstance(tags, dict):
        block.problem(("tags",), "must be a mapping of tag names to values")
        return
    pipeline = (tags or {}).get(PIPELINE_TAG)
    if pipeline is None:
        block.problem(("tags",) if tags else (), NO_PIPELINE_TAG)
    else:
        block.data["pipeline"] = pipeline


def _trigger(trigger: Any, block: V2Block) -> None:
    if not isinstance(trigger, dict):
        block.problem(("trigger",), "must be a mapping with type: recurrence or type: cron")
        block.data["recurrence"] = _STAND_IN
        return
    try:
        kind = trigger_type(trigger)
        if kind == "cron":
            block.data["cron"] = cron_mapping(trigger)
        else:
            block.data["recurrence"] = parse_v2_recurrence(trigger)
    except Invalid as exc:
        for each in exc.each():
            block.problem(("trigger", *each.key), each.message)
        block.data.pop("cron", None)
        block.data["recurrence"] = _STAND_IN


def _details(doc: dict[str, Any], block: V2Block) -> dict[str, Any]:
    details: dict[str, Any] = {"schema_url": doc.get("$schema")}
    for key in ("display_name", "tags", "properties"):
        if doc.get(key) is not None:
            details[key] = doc[key]
    create_job = doc.get("create_job")
    if create_job is not None and not isinstance(create_job, str | dict):
        block.problem(("create_job",), CREATE_JOB_SHAPE)
    else:
        details["create_job"] = create_job
    return details
