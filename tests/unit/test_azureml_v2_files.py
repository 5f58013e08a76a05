# ruff: noqa: W291  (the samples are Microsoft's byte for byte, trailing spaces included)
"""Azure ML v2 schedule files (a top-level ``trigger:``) load as they are, plus one tag.

The fixtures are Microsoft's own published samples, unchanged except for the line
``tags: {triggerd.pipeline: nightly}`` (azure-ai-ml refuses unknown top-level keys, so the tag
names the triggerd pipeline):

- RECURRENCE_SAMPLE: github.com/Azure/azureml-examples, cli/schedules/recurrence-job-schedule.yml
  (shown by Microsoft Learn, "Schedule machine learning pipeline jobs").
- CRON_SAMPLE: the same repository, cli/schedules/cron-job-schedule.yml.
- CRON_WITH_SETTINGS_SAMPLE: the same repository, cli/schedules/cron-with-settings-job-schedule.yml
  (``create_job`` as a mapping).
- WEEKLY_PATTERN_SAMPLE: github.com/Azure/azure-sdk-for-python,
  sdk/ml/azure-ai-ml/tests/test_configs/schedule/hello_recurrence_schedule_with_pattern.yml
  (single values for hours, minutes and week_days).
- END_TIME_SAMPLE: the same folder, hello_recurrence_schedule_file_input.yml (with end_time).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd.cli import main
from triggerd.config import load_config
from triggerd.config.azureml_v2 import read_v2_schedule
from triggerd.config.triggers import TIME_KEYS, TimeTrigger
from triggerd.config.yamltree import parse_yaml
from triggerd.errors import ConfigError
from triggerd.recurrence import Frequency
from triggerd.store import open_store

TAG = "tags: {triggerd.pipeline: nightly}\n"

RECURRENCE_SAMPLE = """\
$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json
name: simple_recurrence_job_schedule
display_name: Simple recurrence job schedule
description: a simple hourly recurrence job schedule

trigger:
  type: recurrence
  frequency: day #can be minute, hour, day, week, month
  interval: 1 #every day
  schedule:
    hours: [4,5,10,11,12]
    minutes: [0,30]
  start_time: "2022-07-10T10:00:00" # optional - default will be schedule creation time
  time_zone: "Pacific Standard Time" # optional - default will be UTC

create_job: ./simple-pipeline-job.yml
# create_job: azureml:simple-pipeline-job
"""

CRON_SAMPLE = """\
$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json
name: simple_cron_job_schedule
display_name: Simple cron job schedule
description: a simple hourly cron job schedule

trigger:
  type: cron
  expression: "0 * * * *"
  start_time: "2022-07-10T10:00:00" # optional - default will be schedule creation time
  time_zone: "Pacific Standard Time" # optional - default will be UTC

# create_job: azureml:simple-pipeline-job
create_job: ./simple-pipeline-job.yml"""

CRON_WITH_SETTINGS_SAMPLE = """\
$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json
name: cron_with_settings_job_schedule
display_name: Simple cron job schedule
description: a simple hourly cron job schedule

trigger:
  type: cron
  expression: "0 * * * *"
  start_time: "2022-07-10T10:00:00" # optional - default will be schedule creation time
  time_zone: "Pacific Standard Time" # optional - default will be UTC

create_job: 
  type: pipeline
  job: ./simple-pipeline-job.yml
  # job: azureml:simple-pipeline-job
  # runtime settings
  settings:
    #default_compute: azureml:cpu-cluster
    continue_on_step_failure: true
  inputs:
    hello_string_top_level_input: ${{name}} 
  tags: 
    schedule: cron_with_settings_schedule"""

WEEKLY_PATTERN_SAMPLE = """\
$schema:  http://azureml/sdk-2-0/Schedule.json
name: weekly_retrain_2022_recurrence_file_updates
display_name: weekly retrain schedule
description: a weekly retrain schedule

trigger:
  type: recurrence
  schedule:
    hours: 10
    minutes: 15
    week_days: monday
  frequency: week
  interval: 1
  start_time: "2022-05-10T10:15:00"
  time_zone: Pacific Standard Time

create_job:
  type: pipeline
  job: ../pipeline_jobs/helloworld_pipeline_job_defaults.yml
  identity:
    type: aml_token
  inputs:
    job_in_number: 1
    job_in_other_number: 2"""

END_TIME_SAMPLE = """\
$schema:  http://azureml/sdk-2-0/Schedule.json
name: weekly_retrain_2022_recurrence_file
display_name: weekly retrain schedule
description: a weekly retrain schedule

trigger:
  type: recurrence
  frequency: day #can be minute, hour, day, week, month
  interval: 1 #every day
  start_time: "2022-05-10T10:15:00"
  end_time: "2022-05-12T10:15:00"
  time_zone: Pacific Standard Time

create_job: ../pipeline_jobs/helloworld_pipeline_job_defaults.yml
"""

PIPELINES = """\
pipelines:
  nightly: {kind: command, argv: [/bin/true], cwd: "."}
"""
NEEDS_CRON = pytest.mark.skipif(
    "cron" not in TIME_KEYS, reason="native cron: keys come with the cron timetable (helper B)"
)


def tagged(sample: str) -> str:
    """A sample with the pipeline tag added after its description, as a user would."""
    head, sep, rest = sample.partition("\ndescription:")
    line, newline, tail = rest.partition("\n")
    return f"{head}{sep}{line}{newline}{TAG}{tail}"


def folder(tmp_path: Path, **files: str) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "pipelines.yaml").write_text(PIPELINES, encoding="utf-8")
    for name, text in files.items():
        (config / name).write_text(text, encoding="utf-8")
    return config


def validate(config: Path) -> Result:
    return CliRunner().invoke(main, ["validate", "--config", str(config)])


@pytest.mark.parametrize(
    "sample",
    [
        RECURRENCE_SAMPLE,
        WEEKLY_PATTERN_SAMPLE,
        END_TIME_SAMPLE,
        pytest.param(CRON_SAMPLE, marks=NEEDS_CRON, id="cron"),
        pytest.param(CRON_WITH_SETTINGS_SAMPLE, marks=NEEDS_CRON, id="cron-with-settings"),
    ],
)
def test_microsofts_samples_validate_unchanged_plus_the_tag(tmp_path: Path, sample: str) -> None:
    result = validate(folder(tmp_path, **{"schedule.yml": tagged(sample)}))
    assert result.exit_code == 0, result.stderr
    assert "ok (1 schedules, 1 pipelines, 0 datastores)" in result.stdout


def test_the_recurrence_sample_loads_as_a_schedule(tmp_path: Path) -> None:
    config = load_config(folder(tmp_path, **{"s.yml": tagged(RECURRENCE_SAMPLE)}))
    schedule = config.schedules["simple_recurrence_job_schedule"]
    assert (schedule.pipeline, schedule.status) == ("nightly", "Active")
    assert schedule.description == "a simple hourly recurrence job schedule"
    assert isinstance(schedule.trigger, TimeTrigger)
    every = schedule.trigger.recurrence
    assert every is not None
    assert (every.frequency, every.interval, every.time_zone) == (
        Frequency.DAY,
        1,
        "Pacific Standard Time",
    )
    assert every.hours == (4, 5, 10, 11, 12) and every.minutes == (0, 30)
    assert schedule.azureml_v2 is not None
    assert schedule.azureml_v2.create_job == "./simple-pipeline-job.yml"
    assert schedule.azureml_v2.display_name == "Simple recurrence job schedule"
    after = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)  # 05:00 PDT, the day clocks sprang forward
    times = [t.astimezone(every.zone).isoformat() for t in every.fire_times(after, 3)]
    assert times == [
        "2024-03-10T05:30:00-07:00",
        "2024-03-10T10:00:00-07:00",
        "2024-03-10T10:30:00-07:00",
    ]


def test_is_enabled_false_is_disabled(tmp_path: Path) -> None:
    text = tagged(RECURRENCE_SAMPLE) + "is_enabled: false\n"
    schedule = load_config(folder(tmp_path, **{"s.yml": text})).schedules[
        "simple_recurrence_job_schedule"
    ]
    assert schedule.status == "Disabled"


def problem_lines(tmp_path: Path, text: str) -> list[str]:
    config = folder(tmp_path, **{"s.yml": text})
    result = validate(config)
    assert result.exit_code == 1
    prefix = f"{config / 's.yml'}:"
    return [line.removeprefix(prefix) for line in result.stderr.splitlines()]


def test_a_file_without_the_tag_gets_one_line_saying_what_to_add(tmp_path: Path) -> None:
    assert problem_lines(tmp_path, RECURRENCE_SAMPLE) == [
        "1: no triggerd pipeline: add 'tags: {triggerd.pipeline: NAME}' naming the pipeline (in "
        "the config) that runs this schedule; azure-ai-ml refuses any other top-level key, a tag "
        "it keeps"
    ]


def test_a_pipeline_key_is_refused_as_azure_ml_refuses_it(tmp_path: Path) -> None:
    text = tagged(RECURRENCE_SAMPLE) + "pipeline: nightly\n"
    assert problem_lines(tmp_path, text) == [
        "19: pipeline: unknown key 'pipeline': azure-ai-ml refuses it "
        "({'pipeline': ['Unknown field.']}); name the triggerd pipeline in tags: "
        "{triggerd.pipeline: NAME}"
    ]


def test_an_unknown_pipeline_in_the_tag_names_the_tag(tmp_path: Path) -> None:
    text = tagged(RECURRENCE_SAMPLE).replace(
        "triggerd.pipeline: nightly", "triggerd.pipeline: nope"
    )
    assert problem_lines(tmp_path, text) == [
        "5: tags.triggerd.pipeline: unknown pipeline 'nope' (defined: nightly)"
    ]


def test_name_and_create_job_are_required_and_every_problem_is_reported(tmp_path: Path) -> None:
    text = tagged(RECURRENCE_SAMPLE).replace("name: simple_recurrence_job_schedule\n", "")
    text = text.replace("create_job: ./simple-pipeline-job.yml\n", "").replace(
        "interval: 1", "interval: 0"
    )
    assert problem_lines(tmp_path, text) == [
        "1: missing required key 'name' (azure-ai-ml: Missing data for required field.)",
        "1: missing required key 'create_job' (azure-ai-ml: Missing data for required field.)",
        "9: trigger.interval: Interval must be an integer greater than 0.",
    ]


def test_create_job_is_a_string_or_a_mapping(tmp_path: Path) -> None:
    text = tagged(RECURRENCE_SAMPLE).replace(
        "create_job: ./simple-pipeline-job.yml", "create_job: 7"
    )
    assert problem_lines(tmp_path, text) == [
        "17: create_job: must be a job file ('./pipeline.yml'), an existing job "
        "('azureml:NAME:VERSION') or a job mapping (type: pipeline, job: ...)"
    ]


def test_a_native_file_cannot_set_the_v2_details(tmp_path: Path) -> None:
    text = (
        "schedules:\n  - name: n\n    pipeline: nightly\n"
        "    recurrence: {frequency: Day, interval: 1}\n    azureml_v2: {create_job: x}\n"
    )
    [line] = problem_lines(tmp_path, text)
    assert line.endswith("schedules[0].azureml_v2: unknown key 'azureml_v2'")


def read(text: str) -> dict[str, Any]:
    root, found = parse_yaml(text, "s.yml")
    assert root is not None and not found
    block = read_v2_schedule(root.plain())
    assert block.problems == []
    return block.data


def test_a_cron_file_maps_to_the_native_cron_keys() -> None:
    data = read(tagged(CRON_WITH_SETTINGS_SAMPLE))
    assert data["cron"] == {
        "expression": "0 * * * *",
        "start_time": "2022-07-10T10:00:00",
        "time_zone": "Pacific Standard Time",
    }
    assert "recurrence" not in data
    assert (data["name"], data["pipeline"]) == ("cron_with_settings_job_schedule", "nightly")
    create_job = data["azureml_v2"]["create_job"]
    assert create_job["type"] == "pipeline"
    assert create_job["inputs"] == {"hello_string_top_level_input": "${{name}}"}


@NEEDS_CRON
def test_a_cron_file_loads_and_fires_on_its_expression(tmp_path: Path) -> None:
    config = load_config(folder(tmp_path, **{"s.yml": tagged(CRON_SAMPLE)}))
    trigger = config.schedules["simple_cron_job_schedule"].trigger
    assert isinstance(trigger, TimeTrigger)
    after = datetime(2024, 3, 10, 9, 30, tzinfo=UTC)  # 01:30 PST; 02:00 does not exist that day
    times = trigger.every.fire_times(after, 2)
    assert [t.astimezone(trigger.zone).isoformat() for t in times] == [
        "2024-03-10T03:00:00-07:00",
        "2024-03-10T04:00:00-07:00",
    ]


def test_describe_shows_create_job_kept_not_run(tmp_path: Path) -> None:
    config = folder(tmp_path, **{"s.yml": tagged(WEEKLY_PATTERN_SAMPLE)})
    state = tmp_path / "state"
    open_store(f"sqlite:///{state / 'triggerd.db'}").close()
    args = ["--config", str(config), "--state-dir", str(state)]
    name = "weekly_retrain_2022_recurrence_file_updates"
    result = CliRunner().invoke(main, ["schedules", "describe", name, "--json", *args])
    assert result.exit_code == 0, result.output
    definition = json.loads(result.stdout)["definition"]
    assert definition["azureml_v2"]["create_job"]["job"] == (
        "../pipeline_jobs/helloworld_pipeline_job_defaults.yml"
    )
    assert definition["trigger"]["week_days"] == ["Monday"]
    text = CliRunner().invoke(main, ["schedules", "describe", name, *args])
    assert "create_job: kept, not run by triggerd" in text.stdout


def test_a_broken_trigger_still_reports_the_schedules_other_problems(tmp_path: Path) -> None:
    text = tagged(RECURRENCE_SAMPLE).replace("frequency: day", "frequency: fortnight")
    text = text.replace("name: simple_recurrence_job_schedule", "name: 'bad name'")
    with pytest.raises(ConfigError) as caught:
        load_config(folder(tmp_path, **{"s.yml": text}))
    keys = [problem.key for problem in caught.value.problems]
    assert keys == ["name", "trigger.frequency"]


def test_a_v2_file_holds_its_schedule_only(tmp_path: Path) -> None:
    text = tagged(RECURRENCE_SAMPLE) + PIPELINES.replace("nightly", "other")
    assert problem_lines(tmp_path, text) == [
        "19: pipelines: an Azure ML v2 schedule file (a top-level trigger) holds that one "
        "schedule only: move 'pipelines' to another file"
    ]
