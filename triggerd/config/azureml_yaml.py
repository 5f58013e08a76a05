"""Azure ML Schedule-YAML files: a top-level ``Schedule:`` mapping is one schedule.

The file is read as the SDK's ``Schedule.load_yaml`` writes it (``reference/azureml.md`` §3), plus
the keys the SDK takes as arguments of ``create`` (``name``, ``pipeline_id`` or
``pipeline_endpoint_id``, ``experiment_name``) and triggerd's own (``status``, ``catchup``,
``misfire_grace_time``, ``max_catchup_runs``). ``wait_for_provisioning`` and ``wait_timeout`` are
accepted and ignored. The name defaults to the file name without extension.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triggerd.config.problems import unknown_key

SDK_KEYS = (
    "description",
    "recurrence",
    "pipeline_parameters",
    "wait_for_provisioning",
    "wait_timeout",
    "datastore_name",
    "polling_interval",
    "data_path_parameter_name",
    "continue_on_step_failure",
    "path_on_datastore",
)
EXTRA_KEYS = (
    "name",
    "pipeline_id",
    "pipeline_endpoint_id",
    "experiment_name",
    "status",
    "catchup",
    "misfire_grace_time",
    "max_catchup_runs",
    "overlap",
    "max_concurrent_runs",
    "settle",
    "include",
    "exclude",
    "on_existing",
)
IGNORED_KEYS = ("wait_for_provisioning", "wait_timeout")
_PIPELINE_KEYS = ("pipeline_id", "pipeline_endpoint_id")


@dataclass
class ScheduleBlock:
    """A ``Schedule:`` block in triggerd's terms, and how to name its keys in problems."""

    data: dict[str, Any]
    problems: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    file_keys: dict[str, str] = field(default_factory=dict)

    def file_path(self, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """A key path of the Schedule model as it is spelled in the file."""
        if path and isinstance(path[0], str) and path[0] in self.file_keys:
            return (self.file_keys[path[0]], *path[1:])
        return path


def _given(block: dict[str, Any], key: str) -> bool:
    return block.get(key) not in (None, "None")


def read_schedule_block(block: dict[str, Any], default_name: str) -> ScheduleBlock:
    """The schedule keys of an Azure ML ``Schedule:`` mapping; unknown keys become problems."""
    result = ScheduleBlock(data={"name": default_name}, file_keys={"datastore": "datastore_name"})
    for key, value in block.items():
        if key not in SDK_KEYS and key not in EXTRA_KEYS:
            result.problems.append(((key,), unknown_key(key, SDK_KEYS + EXTRA_KEYS)))
        elif key == "datastore_name":
            result.data["datastore"] = value
        elif key not in IGNORED_KEYS and key not in _PIPELINE_KEYS:
            result.data[key] = value

    given = [key for key in _PIPELINE_KEYS if _given(block, key)]
    result.file_keys["pipeline"] = given[0] if given else "pipeline_id"
    if given:
        result.data["pipeline"] = block[given[0]]
    if len(given) == 2:
        result.problems.append(
            (("pipeline_endpoint_id",), "give pipeline_id or pipeline_endpoint_id, not both")
        )
    return result
