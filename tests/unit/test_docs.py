"""The documentation keeps up with the code: every config key and every daemon setting is named.

``docs/configuration.md`` must name every field of every config model as `` `key` ``, and every
``Settings`` field must appear as its ``TRIGGERD_<NAME>`` variable in ``docs/configuration.md``
or ``docs/operations.md``. Adding a field without documenting it fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pydantic
import pytest

from triggerd.config import (
    azureml_v2,
    azureml_v2_trigger,
    azureml_yaml,
    base,
    blob_events,
    credentials,
    models,
    pipelines,
    triggers,
)
from triggerd.config.models import Config
from triggerd.config.recurrence_spec import RECURRENCE_KEYS
from triggerd.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
OPERATIONS = (DOCS / "operations.md").read_text(encoding="utf-8")

# Not keys a user writes: `source` is filled in by the loader, `kind` is the discriminator
# (its values are documented with each kind, not the word itself); a schedule's `trigger`
# (with `refused` and `ignored`) is what its flat keys are gathered into on load.
NOT_KEYS = frozenset({"source", "kind", "trigger", "refused", "ignored"})

# The models the issue names; the discovery below must find at least these.
EXPECTED_MODELS = frozenset(
    {
        "Schedule",
        "TimeTrigger",
        "DatastoreTrigger",
        "LocalDatastore",
        "AzureBlobDatastore",
        "DefaultCredential",
        "SasTokenCredential",
        "AccountKeyCredential",
        "SecretSource",
        "CommandPipeline",
        "CommandRetryPolicy",
        "AzureMLPipeline",
        "HttpPipeline",
        "RetryPolicy",
        "AzureAuth",
        "BearerAuth",
        "NoAuth",
    }
)

RECURRENCE = (
    "frequency",
    "interval",
    "start_time",
    "time_zone",
    "hours",
    "minutes",
    "time_of_day",
    "week_days",
    "end_time",
)


def config_models() -> dict[str, type[pydantic.BaseModel]]:
    """Every config model defined in the config modules (a new one is checked too)."""
    found: dict[str, type[pydantic.BaseModel]] = {"Config": Config}
    for module in (base, blob_events, credentials, models, pipelines, triggers):
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, base.ConfigModel)
                and value is not base.ConfigModel
                and value.__module__ == module.__name__
            ):
                found[name] = value
    return found


def model_keys() -> list[tuple[str, str]]:
    return sorted(
        (model_name, field)
        for model_name, model in config_models().items()
        for field in model.model_fields
        if field not in NOT_KEYS
    )


def documented(key: str, text: str = CONFIGURATION) -> bool:
    """`key` in backticks, alone (not merely part of a longer backticked name)."""
    return re.search(rf"`{re.escape(key)}`", text) is not None


def test_discovery_finds_the_models_the_docs_promise() -> None:
    missing = EXPECTED_MODELS - config_models().keys()
    assert not missing, f"config models not found: {sorted(missing)}"


def test_recurrence_keys_are_the_parsers_keys() -> None:
    assert set(RECURRENCE) == set(RECURRENCE_KEYS)


@pytest.mark.parametrize(("model", "key"), model_keys())
def test_every_model_field_is_in_configuration_md(model: str, key: str) -> None:
    assert documented(key), f"{model}.{key} is not described in docs/configuration.md as `{key}`"


@pytest.mark.parametrize("key", sorted(set(RECURRENCE) | set(RECURRENCE_KEYS)))
def test_every_recurrence_key_is_in_configuration_md(key: str) -> None:
    assert documented(key), f"recurrence key `{key}` is missing from docs/configuration.md"


@pytest.mark.parametrize("key", sorted(set(azureml_yaml.SDK_KEYS) | set(azureml_yaml.EXTRA_KEYS)))
def test_every_azureml_schedule_file_key_is_in_configuration_md(key: str) -> None:
    assert documented(key), f"Azure ML schedule-file key `{key}` is missing from configuration.md"


V2_KEYS = {
    *azureml_v2.V2_KEYS,
    *azureml_v2_trigger.RECURRENCE_KEYS,
    *azureml_v2_trigger.CRON_KEYS,
    *azureml_v2_trigger.PATTERN_KEYS,
    azureml_v2.PIPELINE_TAG,
}


@pytest.mark.parametrize("key", sorted(V2_KEYS))
def test_every_azureml_v2_file_key_is_in_configuration_md(key: str) -> None:
    assert documented(key), (
        f"Azure ML v2 schedule-file key `{key}` is missing from configuration.md"
    )


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented_as_its_variable(field: str) -> None:
    prefix = Settings.model_config.get("env_prefix", "")
    variable = f"{prefix}{field}".upper()
    assert documented(variable) or documented(variable, OPERATIONS), (
        f"Settings.{field} is not described as `{variable}` in docs/configuration.md "
        "or docs/operations.md"
    )


def test_the_check_itself_catches_a_missing_key() -> None:
    assert documented("polling_interval")
    assert not documented("polling")  # only `polling_interval` is written; no partial match
    assert not documented("no_such_key_anywhere")


PACKAGE = Path(__file__).resolve().parents[2] / "triggerd"
_EVENT = re.compile(r"""\.(?:debug|info|warning|error|exception)\(\s*["']([a-z_]+\.[a-z_]+)["']""")


def logged_events() -> list[str]:
    """Every event name the package logs (``log.info("fire.planned", ...)``)."""
    found = {m[1] for p in PACKAGE.rglob("*.py") for m in _EVENT.finditer(p.read_text("utf-8"))}
    return sorted(found)


def test_the_event_scan_finds_the_events_every_operator_greps_for() -> None:
    assert {"fire.planned", "poll.failed", "clock.stepped", "store.lost"} <= set(logged_events())


@pytest.mark.parametrize("event", logged_events())
def test_every_log_event_is_in_the_log_events_table(event: str) -> None:
    table = OPERATIONS.split("## Log events", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\| `{re.escape(event)}` \|", table, re.M), (
        f"log event {event!r} is missing from the log events table in docs/operations.md"
    )
