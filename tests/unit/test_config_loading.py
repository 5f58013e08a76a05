"""Files, directories, YAML, names across files, the Azure ML Schedule-YAML form and valid loads."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta
from pathlib import Path

import pydantic
import pytest

from triggerd.config import CommandPipeline, LocalDatastore, load_config
from triggerd.config.base import SecretSource
from triggerd.config.pipelines import (
    AzureAuth,
    AzureMLPipeline,
    BearerAuth,
    HttpPipeline,
    NoAuth,
    RetryPolicy,
)
from triggerd.config.triggers import DatastoreTrigger, TimeTrigger
from triggerd.errors import ConfigError, ScheduleNotFound
from triggerd.recurrence import Frequency, Recurrence

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "configs"
PIPELINE = "pipelines:\n  p: {kind: command, argv: [echo]}\n"
DAILY = "{frequency: Day, interval: 1}"


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_text(text)


def problems_of(path: Path) -> list[tuple[str, str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [(Path(p.file).name, p.key, p.line, p.message) for p in caught.value.problems]


FILE_CASES = {
    "syntax error": (
        "schedules:\n  - name: s\n    pipeline: [p\n",
        [
            (
                "c.yaml",
                "",
                4,
                "invalid YAML: while parsing a flow sequence, did not find expected ',' or ']'",
            )
        ],
    ),
    "duplicate key": (
        PIPELINE + f"schedules:\n  - name: s\n    pipeline: p\n    recurrence: {DAILY}\n"
        "    pipeline: p\n",
        [("c.yaml", "schedules[0].pipeline", 7, "key 'pipeline' is defined twice (lines 5 and 7)")],
    ),
    "duplicate top-level key": (
        PIPELINE + PIPELINE,
        [("c.yaml", "pipelines", 3, "key 'pipelines' is defined twice (lines 1 and 3)")],
    ),
    "root is a list": (
        "- name: s\n",
        [
            (
                "c.yaml",
                "",
                1,
                "the top level must be a mapping with datastores, pipelines, schedules or Schedule",
            )
        ],
    ),
    "unknown top-level key": (
        PIPELINE + "schedule: []\n",
        [("c.yaml", "schedule", 3, "unknown key 'schedule' (did you mean 'schedules'?)")],
    ),
    "schedules as a mapping": (
        PIPELINE + f"schedules:\n  s: {{pipeline: p, recurrence: {DAILY}}}\n",
        [("c.yaml", "schedules", 3, "must be a list of schedules, each with a name")],
    ),
    "pipelines as a list": (
        "pipelines:\n  - {kind: command, argv: [echo]}\n",
        [("c.yaml", "pipelines", 1, "must be a mapping of pipelines by name")],
    ),
    "merge of a scalar": (
        PIPELINE + "schedules:\n  - name: s\n    <<: 5\n",
        [
            ("c.yaml", "schedules[0].pipeline", 4, "missing required key 'pipeline'"),
            # (reported beside the other problems since the trigger is gathered on load)
            ("c.yaml", "schedules[0]", 4, "a schedule needs a recurrence, a cron or a datastore"),
            ("c.yaml", "schedules[0].<<", 5, "'<<' merges a mapping or a list of mappings"),
        ],
    ),
    "custom tag": (
        "pipelines: !include other.yaml\n",
        [
            (
                "c.yaml",
                "",
                1,
                "invalid YAML: could not determine a constructor for the tag '!include'",
            )
        ],
    ),
}


@pytest.mark.parametrize(("text", "expected"), list(FILE_CASES.values()), ids=list(FILE_CASES))
def test_file_problem(tmp_path: Path, text: str, expected: list[tuple[str, str, int, str]]) -> None:
    write(tmp_path, {"c.yaml": text})
    assert problems_of(tmp_path / "c.yaml") == expected


AZURE_CASES = {
    "pipeline_id missing": (
        f"Schedule:\n  recurrence: {DAILY}\n",
        [("s.yaml", "Schedule.pipeline_id", 1, "missing required key 'pipeline_id'")],
    ),
    "both pipeline ids": (
        f"Schedule:\n  recurrence: {DAILY}\n  pipeline_id: p\n  pipeline_endpoint_id: p\n",
        [
            (
                "s.yaml",
                "Schedule.pipeline_endpoint_id",
                4,
                "give pipeline_id or pipeline_endpoint_id, not both",
            )
        ],
    ),
    "unknown pipeline": (
        f"Schedule:\n  recurrence: {DAILY}\n  pipeline_endpoint_id: q\n",
        [("s.yaml", "Schedule.pipeline_endpoint_id", 3, "unknown pipeline 'q' (defined: p)")],
    ),
    "unknown datastore": (
        "Schedule:\n  recurrence: ~\n  datastore_name: blobs\n  pipeline_id: p\n",
        [("s.yaml", "Schedule.datastore_name", 3, "unknown datastore 'blobs' (defined: none)")],
    ),
    # The unknown datastore is reported although the schedule has another problem.
    "recurrence and datastore": (
        f"Schedule:\n  recurrence: {DAILY}\n  datastore_name: blobs\n  pipeline_id: p\n",
        [
            (
                "s.yaml",
                "Schedule.datastore_name",
                3,
                "Can not specify both a Recurrence and a Datastore",
            ),
            ("s.yaml", "Schedule.datastore_name", 3, "unknown datastore 'blobs' (defined: none)"),
        ],
    ),
    "native key": (
        f"Schedule:\n  recurrence: {DAILY}\n  datastore: blobs\n  pipeline_id: p\n",
        [
            (
                "s.yaml",
                "Schedule.datastore",
                3,
                "unknown key 'datastore' (did you mean 'datastore_name'?)",
            )
        ],
    ),
    "recurrence key": (
        "Schedule:\n  recurrence:\n    frequency: Day\n    interval: 1\n    hours: [25]\n"
        "  pipeline_id: p\n",
        [("s.yaml", "Schedule.recurrence.hours[0]", 5, "Hours must be between 0 and 23.")],
    ),
    "with native sections": (
        f"Schedule:\n  recurrence: {DAILY}\n  pipeline_id: p\ndatastores: {{}}\n",
        [
            (
                "s.yaml",
                "datastores",
                4,
                "a file with a top-level Schedule holds that one Azure ML "
                "schedule only: move 'datastores' to another file",
            )
        ],
    ),
    "name from a file name that is not a name": (
        f"Schedule:\n  recurrence: {DAILY}\n  pipeline_id: p\n",
        [],  # replaced below: the file is written as "my schedule.yaml"
    ),
}


@pytest.mark.parametrize(("text", "expected"), list(AZURE_CASES.values()), ids=list(AZURE_CASES))
def test_azure_schedule_problem(
    tmp_path: Path, text: str, expected: list[tuple[str, str, int, str]]
) -> None:
    name = "s.yaml" if expected else "my schedule.yaml"
    write(tmp_path, {"pipelines.yaml": PIPELINE, name: text})
    if not expected:
        expected = [
            (
                name,
                "Schedule.name",
                1,
                "name 'my schedule' is not valid: use letters, "
                "digits, '.', '_' and '-', starting with a letter or digit",
            )
        ]
    assert problems_of(tmp_path) == expected


def test_names_defined_twice_across_files(tmp_path: Path) -> None:
    schedule = f"schedules:\n  - name: s\n    pipeline: p\n    recurrence: {DAILY}\n"
    write(
        tmp_path,
        {
            "a.yaml": PIPELINE + schedule,
            "b.yaml": PIPELINE,
            "s.yaml": (f"Schedule:\n  name: s\n  recurrence: {DAILY}\n  pipeline_id: p\n"),
        },
    )
    a = tmp_path / "a.yaml"
    assert problems_of(tmp_path) == [
        ("b.yaml", "pipelines.p", 2, f"pipeline 'p' is defined twice: here and at {a}:2"),
        ("s.yaml", "Schedule", 2, f"schedule 's' is defined twice: here and at {a}:4"),
    ]


def test_every_problem_in_every_file_is_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": "pipelines:\n  p: {kind: ftp}\n  q: {kind: command}\n",
            "b.yml": f"schedules:\n  - {{name: s, pipeline: p, recurrence: {DAILY}, bad: 1}}\n",
            "c.yaml": "schedules: [\n",
        },
    )
    assert [(file, key) for file, key, _, _ in problems_of(tmp_path)] == [
        ("a.yaml", "pipelines.p.kind"),
        ("a.yaml", "pipelines.q.argv"),
        ("b.yml", "schedules[0].bad"),
        ("c.yaml", ""),
    ]


def test_missing_path(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope") == [("nope", "", None, "no such file or directory")]


def test_directory_without_config_files(tmp_path: Path) -> None:
    write(tmp_path, {"notes.txt": "x", ".hidden.yaml": "x: [", "old.yaml.bak": "x: ["})
    assert problems_of(tmp_path) == [(tmp_path.name, "", None, "no *.yaml or *.yml files here")]


def test_directory_reads_yaml_and_yml_files_only_not_hidden_not_nested(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    write(
        tmp_path,
        {
            "a.yaml": PIPELINE,
            "b.yml": f"schedules:\n  - {{name: s, pipeline: p, recurrence: {DAILY}}}\n",
            "none.yaml": "schedules: []\n",
            ".hidden.yaml": "broken: [",
            "README.md": "broken: [",
            "nested/c.yaml": "broken: [",
        },
    )
    config = load_config(tmp_path)
    assert list(config.schedules) == ["s"]
    assert config.schedule("s").source == str(tmp_path / "b.yml")
    with pytest.raises(ScheduleNotFound):
        config.schedule("t")


def test_native_file_with_defaults_durations_and_relative_paths(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "c.yaml": """\
datastores:
  inbox: {kind: local, path: data/inbox}
pipelines:
  score:
    kind: command
    argv: [python3, score.py, "{input}", "{{literal}}", "{threshold}"]
    env: {MODE: fast}
    cwd: jobs
    timeout: 10m
schedules:
  - name: score-files
    pipeline: score
    datastore: inbox
    path_on_datastore: incoming
    polling_interval: 30s
    data_path_parameter_name: input
    pipeline_parameters: {threshold: 0.5, label: x, retries: 3, dry: false}
    continue_on_step_failure: None
  - name: nightly
    pipeline: score
    recurrence: &daily {frequency: Day, interval: 1, hours: [2], minutes: [30]}
    pipeline_parameters: {input: a.csv, threshold: 1}
    status: Disabled
    catchup: all
    misfire_grace_time: 3600
    max_catchup_runs: 3
  - name: nightly-copy
    pipeline: score
    recurrence: *daily
    pipeline_parameters: {input: b.csv, threshold: 2}
"""
        },
    )
    config = load_config(tmp_path / "c.yaml")
    assert config.datastores["inbox"] == LocalDatastore(kind="local", path=tmp_path / "data/inbox")
    score = config.pipelines["score"]
    assert isinstance(score, CommandPipeline)
    assert score.cwd == tmp_path / "jobs"
    assert score.timeout == timedelta(minutes=10)
    assert score.placeholders == {"input", "threshold"}
    files = config.schedule("score-files")
    assert isinstance(files.trigger, DatastoreTrigger)
    assert files.trigger.polling_interval == timedelta(seconds=30)
    assert files.pipeline_parameters == {"threshold": 0.5, "label": "x", "retries": 3, "dry": False}
    assert files.continue_on_step_failure is None
    assert files.status == "Active"
    nightly = config.schedule("nightly")
    assert isinstance(nightly.trigger, TimeTrigger)
    assert nightly.trigger.recurrence == Recurrence(Frequency.DAY, 1, hours=(2,), minutes=(30,))
    assert (nightly.status, nightly.trigger.catchup, nightly.trigger.misfire_grace_time) == (
        "Disabled",
        "all",
        timedelta(hours=1),
    )
    assert nightly.trigger.max_catchup_runs == 3
    copy = config.schedule("nightly-copy").trigger
    assert isinstance(copy, TimeTrigger) and copy.recurrence == nightly.trigger.recurrence
    defaults = TimeTrigger(recurrence=nightly.trigger.recurrence)  # a time trigger's defaults
    assert (defaults.catchup, defaults.misfire_grace_time, defaults.max_catchup_runs) == (
        "latest",
        None,
        10,
    )


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "c.yaml": PIPELINE
            + """\
schedules:
  - &daily {name: a, pipeline: p, recurrence: {frequency: Day, interval: 1}, status: Disabled}
  - <<: *daily
    name: b
    status: Active
  - name: c
    <<: [{pipeline: p}, {recurrence: {frequency: Hour, interval: 2}}]
"""
        },
    )
    config = load_config(tmp_path / "c.yaml")
    a, b, c = config.schedules.values()
    assert (a.status, b.status, b.trigger.recurrence) == (
        "Disabled",
        "Active",
        a.trigger.recurrence,
    )
    assert c.trigger.recurrence == Recurrence(Frequency.HOUR, 2)


def test_config_is_frozen(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"c.yaml": PIPELINE + f"schedules:\n  - {{name: s, pipeline: p, recurrence: {DAILY}}}\n"},
    )
    config = load_config(tmp_path / "c.yaml")
    with pytest.raises(pydantic.ValidationError):
        config.schedule("s").status = "Disabled"  # type: ignore[misc]


def test_azure_recurrence_schedule_yaml() -> None:
    config = load_config(FIXTURES / "azure-recurrence")
    schedule = config.schedule("weekly-training")
    assert schedule.pipeline == "train"
    assert schedule.experiment_name == "training"
    assert schedule.description == "Weekly training"
    assert schedule.trigger.recurrence == Recurrence(
        Frequency.WEEK,
        2,
        time_zone="W. Europe Standard Time",
        start_time=datetime(2019, 11, 1, 9, 0),
        hours=(18,),
        minutes=(30,),
        week_days=("Monday", "Wednesday"),
    )
    assert schedule.pipeline_parameters == {"learning_rate": 0.01}
    assert schedule.continue_on_step_failure is False
    assert schedule.trigger.kind == "recurrence"
    assert schedule.source == str(FIXTURES / "azure-recurrence" / "weekly-training.yaml")


def test_azure_datastore_schedule_yaml() -> None:
    config = load_config(FIXTURES / "azure-datastore")
    schedule = config.schedule("score-uploads")
    assert schedule.trigger.kind == "datastore"
    assert (schedule.pipeline, schedule.trigger.datastore) == ("score", "workspaceblobstore")
    assert schedule.trigger.polling_interval == timedelta(minutes=5)
    assert schedule.trigger.data_path_parameter_name == "input_data"
    assert schedule.trigger.path_on_datastore == "uploads"
    assert schedule.continue_on_step_failure is None
    assert schedule.experiment_name is None


def test_example_config_of_make_run() -> None:
    config = load_config(REPO / "config")
    assert sorted(config.schedules) == [
        "every-minute",
        "inbox-files",
        "nightly-report",
        "workday-morning",
    ]
    inbox = config.schedule("inbox-files")
    assert (inbox.trigger.datastore, inbox.trigger.data_path_parameter_name) == (
        "inbox",
        "input_file",
    )
    assert inbox.trigger.polling_interval == timedelta(seconds=10)
    assert config.datastores["inbox"].path == REPO / "data" / "inbox"  # no config/../
    hello = config.pipelines["hello"]
    assert isinstance(hello, CommandPipeline)
    assert hello.cwd == REPO / "config"
    assert hello.timeout == timedelta(seconds=60)
    assert [s.trigger.kind for s in config.schedules.values()].count("datastore") == 1
    nightly = config.schedule("nightly-report")
    assert nightly.trigger.recurrence is not None
    assert (nightly.trigger.recurrence.hours, nightly.trigger.recurrence.minutes) == ((2,), (30,))
    assert nightly.experiment_name == "nightly"


def test_annotated_examples_load() -> None:
    config = load_config(REPO / "config" / "examples")
    assert {"datastore", "cron"} <= {s.trigger.kind for s in config.schedules.values()}
    assert set(config.datastores) == {"inbox", "workspaceblobstore", "scoring-uploads", "landing"}


def test_remote_pipelines_load_with_their_defaults(tmp_path: Path) -> None:
    aml = "https://westeurope.api.azureml.ms/pipelines/v1.0/x/PipelineRuns"
    write(
        tmp_path,
        {
            "c.yaml": f"""\
pipelines:
  published: {{kind: azureml, endpoint: "{aml}/PipelineSubmit/0a1b"}}
  endpoint:
    kind: azureml
    endpoint: {aml}/PipelineEndpointSubmit/Id/9f8e
    version: "3"
    auth: {{kind: bearer, token_file: secrets/aml-token}}
    timeout: 10s
    retry: {{max_attempts: 8, max_elapsed: 2h, initial_backoff: 5}}
  local: {{kind: azureml, endpoint: "http://127.0.0.1:8080/PipelineRuns/PipelineSubmit/a",
          auth: {{kind: none}}}}
  hook:
    kind: http
    url: https://hooks.example/run?code=abc
    method: PUT
    headers:
      X-Team: ml
      Authorization: {{env: HOOK_TOKEN}}
      X-Key: {{file: secrets/key}}
    body: {{file: "{{data_path}}", n: "{{n}}", fixed: [1, 2.5, true, null]}}
  plain: {{kind: http, url: "http://hooks.internal/run"}}
  cmd: {{kind: command, argv: [echo]}}
""",
        },
    )
    pipelines = load_config(tmp_path / "c.yaml").pipelines
    published, endpoint, local = pipelines["published"], pipelines["endpoint"], pipelines["local"]
    hook, plain, cmd = pipelines["hook"], pipelines["plain"], pipelines["cmd"]
    assert isinstance(published, AzureMLPipeline)
    assert isinstance(endpoint, AzureMLPipeline)
    assert isinstance(local, AzureMLPipeline)
    assert isinstance(hook, HttpPipeline)
    assert isinstance(plain, HttpPipeline)
    assert isinstance(cmd, CommandPipeline)
    assert (published.version, published.auth, published.timeout) == (
        None,
        AzureAuth(kind="azure"),
        timedelta(seconds=30),
    )
    assert not published.is_pipeline_endpoint
    assert published.retry == RetryPolicy(
        max_attempts=5, max_elapsed=timedelta(hours=1), initial_backoff=timedelta(seconds=2)
    )
    assert endpoint.is_pipeline_endpoint
    assert endpoint.version == "3"
    assert endpoint.auth == BearerAuth(kind="bearer", token_file=tmp_path / "secrets/aml-token")
    assert endpoint.timeout == timedelta(seconds=10)
    assert endpoint.retry == RetryPolicy(
        max_attempts=8, max_elapsed=timedelta(hours=2), initial_backoff=timedelta(seconds=5)
    )
    assert local.auth == NoAuth(kind="none")
    assert hook.method == "PUT"
    assert hook.headers == {
        "X-Team": "ml",
        "Authorization": SecretSource(env="HOOK_TOKEN"),
        "X-Key": SecretSource(file=tmp_path / "secrets/key"),
    }
    assert hook.body == {"file": "{data_path}", "n": "{n}", "fixed": [1, 2.5, True, None]}
    assert hook.placeholders == {"data_path", "n"}
    assert (plain.method, plain.headers, plain.body, plain.timeout) == (
        "POST",
        {},
        None,
        timedelta(seconds=30),
    )
    assert plain.retry.max_attempts == 5
    # Commands are not retried unless their pipeline says so.
    assert cmd.retry.max_attempts == 1
    assert isinstance(cmd.retry, RetryPolicy)


@pytest.mark.parametrize("folder", ["config", "config/examples"])
def test_a_config_holds_no_reference_cycles(folder: str) -> None:
    """The daemon freezes the heap after a reload (``gc.freeze()``: the new config out of the
    cyclic collector's walk); a frozen config that is replaced must then be freed by reference
    counting alone, or every reload would leak the old one."""
    gc.collect()
    config = load_config(REPO / folder)
    assert config.schedules
    gc.collect()  # what loading left behind, not what the config holds
    gc.disable()
    try:
        del config
        assert gc.collect() == 0
    finally:
        gc.enable()
