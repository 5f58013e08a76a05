"""Schedules, pipelines and datastores: one case per check, with its file, key path and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from triggerd.config import load_config
from triggerd.errors import ConfigError

# Lines 1-5; a schedule's own keys start on line 8.
HEADER = """\
datastores:
  inbox: {kind: local, path: inbox}
pipelines:
  p: {kind: command, argv: [echo, "{x}"]}
schedules:
  - name: s
    pipeline: p
"""
RECURRENCE = "recurrence: {frequency: Day, interval: 1}\npipeline_parameters: {x: 1}\n"
# A string that is not a duration is not echoed: it may be a secret under the wrong key.
NOT_A_DURATION = (
    "is not a duration: write a whole number of {unit} or a number with a unit (s, m, h or d), "
    "like '30s', '10m', '2h', '1d'"
)
PARAMS = "pipeline_parameters: {x: 1}\n"


def problems_in(tmp_path: Path, text: str) -> list[tuple[str, int | None, str]]:
    path = tmp_path / "triggerd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert {p.file for p in caught.value.problems} == {str(path)}
    return [(p.key, p.line, p.message) for p in caught.value.problems]


def schedule(body: str) -> str:
    return HEADER + textwrap.indent(body, "    ")


SCHEDULE_CASES = {
    "recurrence and datastore": (
        RECURRENCE + "datastore: inbox\n",
        "schedules[0].datastore",
        10,
        "Can not specify both a Recurrence and a Datastore",
    ),
    "neither recurrence nor datastore": (
        PARAMS,
        "schedules[0]",
        6,
        "a schedule needs a recurrence, a cron or a datastore",
    ),
    "data path parameter without datastore": (
        RECURRENCE + "data_path_parameter_name: input\n",
        "schedules[0].data_path_parameter_name",
        10,
        "Data Path parameter name can only be specified for Datastore schedules.",
    ),
    "path on datastore without datastore": (
        RECURRENCE + "path_on_datastore: incoming\n",
        "schedules[0].path_on_datastore",
        10,
        "Path on datastore parameter can only be specified for Datastore schedules.",
    ),
    "settle without datastore": (
        RECURRENCE + "settle: 30s\n",
        "schedules[0].settle",
        10,
        "settle can only be specified for Datastore schedules.",
    ),
    "on_existing without datastore": (
        RECURRENCE + "on_existing: fire\n",
        "schedules[0].on_existing",
        10,
        "on_existing can only be specified for Datastore schedules.",
    ),
    "path on datastore leaving the datastore": (
        "datastore: inbox\npath_on_datastore: incoming/../../etc\n" + PARAMS,
        "schedules[0].path_on_datastore",
        9,
        "must stay inside the datastore (no '..')",
    ),
    "on_existing value": (
        "datastore: inbox\non_existing: always\n" + PARAMS,
        "schedules[0].on_existing",
        9,
        "must be one of 'ignore' or 'fire'",
    ),
    "status": (
        RECURRENCE + "status: Enabled\n",
        "schedules[0].status",
        10,
        "Status must be either Active or Disabled",
    ),
    "status case": (
        RECURRENCE + "status: active\n",
        "schedules[0].status",
        10,
        "Status must be either Active or Disabled",
    ),
    "polling_interval text": (
        PARAMS + "datastore: inbox\npolling_interval: soon\n",
        "schedules[0].polling_interval",
        10,
        NOT_A_DURATION.format(unit="minutes"),
    ),
    "polling_interval float": (
        PARAMS + "datastore: inbox\npolling_interval: 1.5\n",
        "schedules[0].polling_interval",
        10,
        "must be a whole number of minutes or a string like '30s', '10m', '2h', '1d', not 1.5",
    ),
    "polling_interval zero": (
        PARAMS + "datastore: inbox\npolling_interval: 0\n",
        "schedules[0].polling_interval",
        10,
        "must be greater than 0",
    ),
    "misfire_grace_time": (
        RECURRENCE + "misfire_grace_time: 5 minutes\n",
        "schedules[0].misfire_grace_time",
        10,
        NOT_A_DURATION.format(unit="seconds"),
    ),
    "max_catchup_runs zero": (
        RECURRENCE + "max_catchup_runs: 0\n",
        "schedules[0].max_catchup_runs",
        10,
        "must be at least 1",
    ),
    "max_catchup_runs boolean": (
        RECURRENCE + "max_catchup_runs: true\n",
        "schedules[0].max_catchup_runs",
        10,
        "must be an integer",
    ),
    "catchup": (
        RECURRENCE + "catchup: None\n",
        "schedules[0].catchup",
        10,
        "must be one of 'none', 'latest' or 'all'",
    ),
    "continue_on_step_failure": (
        RECURRENCE + "continue_on_step_failure: maybe\n",
        "schedules[0].continue_on_step_failure",
        10,
        "must be true or false",
    ),
    "pipeline parameter list": (
        "recurrence: {frequency: Day, interval: 1}\npipeline_parameters:\n  x: 1\n  y: [1, 2]\n",
        "schedules[0].pipeline_parameters.y",
        11,
        "must be a string, number or boolean, not a list",
    ),
    "pipeline parameter null": (
        "recurrence: {frequency: Day, interval: 1}\npipeline_parameters: {x: ~}\n",
        "schedules[0].pipeline_parameters.x",
        9,
        "must be a string, number or boolean, not null",
    ),
    "pipeline parameters not a mapping": (
        "recurrence: {frequency: Day, interval: 1}\npipeline_parameters: [x]\n",
        "schedules[0].pipeline_parameters",
        9,
        "must be a mapping of parameter names to values",
    ),
    "unknown key": (
        RECURRENCE + "experiment: nightly\n",
        "schedules[0].experiment",
        10,
        "unknown key 'experiment' (did you mean 'experiment_name'?)",
    ),
    "source is not a key": (
        RECURRENCE + "source: elsewhere.yaml\n",
        "schedules[0].source",
        10,
        "unknown key 'source'",
    ),
    "recurrence not a mapping": (
        "recurrence: daily\n" + PARAMS,
        "schedules[0].recurrence",
        8,
        "must be a mapping with keys frequency, interval, start_time, time_zone, hours, "
        "minutes, time_of_day, week_days, end_time",
    ),
    "description not a string": (
        RECURRENCE + "description: 5\n",
        "schedules[0].description",
        10,
        "must be a string (quote numbers, booleans and dates)",
    ),
    "unknown datastore": (
        PARAMS + "datastore: outbox\n",
        "schedules[0].datastore",
        9,
        "unknown datastore 'outbox' (defined: inbox)",
    ),
    "placeholder not supplied": (
        "recurrence: {frequency: Day, interval: 1}\npipeline_parameters: {y: 1}\n",
        "schedules[0].pipeline_parameters",
        9,
        "pipeline 'p' has the placeholder {x} in its argv, which this schedule does not "
        "supply: add 'x' to pipeline_parameters",
    ),
    "placeholder without any parameters": (
        "recurrence: {frequency: Day, interval: 1}\n",
        "schedules[0].pipeline_parameters",
        6,
        "pipeline 'p' has the placeholder {x} in its argv, which this schedule does not "
        "supply: add 'x' to pipeline_parameters",
    ),
}


@pytest.mark.parametrize(
    ("body", "key", "line", "message"), list(SCHEDULE_CASES.values()), ids=list(SCHEDULE_CASES)
)
def test_schedule_problem(tmp_path: Path, body: str, key: str, line: int, message: str) -> None:
    assert problems_in(tmp_path, schedule(body)) == [(key, line, message)]


SCHEDULE_HEAD_CASES = {
    "unknown pipeline": (
        "- name: s\n  pipeline: nope\n",
        "schedules[0].pipeline",
        7,
        "unknown pipeline 'nope' (defined: p)",
    ),
    "missing pipeline": (
        "- name: s\n",
        "schedules[0].pipeline",
        6,
        "missing required key 'pipeline'",
    ),
    "missing name": ("- pipeline: p\n", "schedules[0].name", 6, "missing required key 'name'"),
    "name with a space": (
        "- name: my schedule\n  pipeline: p\n",
        "schedules[0].name",
        6,
        "name 'my schedule' is not valid: use letters, digits, '.', '_' and '-', "
        "starting with a letter or digit",
    ),
}


@pytest.mark.parametrize(
    ("item", "key", "line", "message"),
    list(SCHEDULE_HEAD_CASES.values()),
    ids=list(SCHEDULE_HEAD_CASES),
)
def test_schedule_identity_problem(
    tmp_path: Path, item: str, key: str, line: int, message: str
) -> None:
    head = HEADER.rsplit("  - name: s\n", 1)[0]
    body = textwrap.indent(item, "  ") + textwrap.indent(RECURRENCE, "    ")
    assert problems_in(tmp_path, head + body) == [(key, line, message)]


AML = (
    "https://westeurope.api.azureml.ms/pipelines/v1.0/subscriptions/s/resourceGroups/r/"
    "providers/Microsoft.MachineLearningServices/workspaces/w/PipelineRuns"
)
AML_SHAPE = (
    "must be the REST endpoint of a published pipeline "
    "(https://.../PipelineRuns/PipelineSubmit/{id}) or of a pipeline endpoint "
    "(https://.../PipelineRuns/PipelineEndpointSubmit/Id/{id})"
)

PIPELINE_CASES = {
    "misspelled kind": (
        "kind: comand\nargv: [echo]",
        "pipelines.p.kind",
        4,
        "unknown pipeline kind 'comand' (supported: command, azureml, azureml_batch, http)",
    ),
    "azureml without endpoint": (
        "kind: azureml",
        "pipelines.p.endpoint",
        3,
        "missing required key 'endpoint'",
    ),
    "azureml endpoint shape": (
        "kind: azureml\nendpoint: https://example.invalid/runs/abc",
        "pipelines.p.endpoint",
        5,
        AML_SHAPE,
    ),
    "azureml endpoint with a trailing slash": (
        f"kind: azureml\nendpoint: {AML}/PipelineSubmit/abc/",
        "pipelines.p.endpoint",
        5,
        AML_SHAPE,
    ),
    "azureml endpoint over http": (
        "kind: azureml\nendpoint: http://example.com/PipelineRuns/PipelineSubmit/abc",
        "pipelines.p.endpoint",
        5,
        "must use https:// (http:// only for 127.0.0.1 or localhost)",
    ),
    "azureml endpoint not a URL": (
        "kind: azureml\nendpoint: PipelineRuns/PipelineSubmit/abc",
        "pipelines.p.endpoint",
        5,
        "must be an http:// or https:// URL with a host",
    ),
    "azureml version in the endpoint path": (
        f"kind: azureml\nendpoint: {AML}/PipelineEndpointSubmit/Id/abc/2",
        "pipelines.p.endpoint",
        5,
        "must end with the pipeline endpoint's id: put the version in 'version' "
        "(it goes into the path and the pipelineVersion query)",
    ),
    "azureml version in the endpoint query": (
        f"kind: azureml\nendpoint: {AML}/PipelineEndpointSubmit/Id/abc?pipelineVersion=2",
        "pipelines.p.endpoint",
        5,
        "must not have a query string (a pipeline endpoint's version goes in 'version')",
    ),
    "azureml version on a published pipeline": (
        f"kind: azureml\nendpoint: {AML}/PipelineSubmit/abc\nversion: '2'",
        "pipelines.p.version",
        6,
        "version is only for a pipeline endpoint (.../PipelineEndpointSubmit/Id/{id}); "
        "a published pipeline has one version",
    ),
    "azureml version with a slash": (
        f"kind: azureml\nendpoint: {AML}/PipelineEndpointSubmit/Id/abc\nversion: a/b",
        "pipelines.p.version",
        6,
        "must be a version name or number without '/'",
    ),
    "azureml bearer without a token source": (
        f"kind: azureml\nendpoint: {AML}/PipelineSubmit/abc\nauth: {{kind: bearer}}",
        "pipelines.p.auth",
        6,
        "give exactly one of token_env (a variable name) or token_file (a path)",
    ),
    "azureml auth kind": (
        f"kind: azureml\nendpoint: {AML}/PipelineSubmit/abc\nauth: {{kind: basic}}",
        "pipelines.p.auth.kind",
        6,
        "unknown kind 'basic' (one of: 'azure', 'bearer', 'none')",
    ),
    "azureml token in the config": (
        f"kind: azureml\nendpoint: {AML}/PipelineSubmit/abc\n"
        "auth: {kind: bearer, token: x, token_env: T}",
        "pipelines.p.auth.token",
        6,
        "unknown key 'token' (did you mean 'token_env'?)",
    ),
    "retry max_attempts zero": (
        f"kind: azureml\nendpoint: {AML}/PipelineSubmit/abc\nretry: {{max_attempts: 0}}",
        "pipelines.p.retry.max_attempts",
        6,
        "must be at least 1",
    ),
    "retry max_elapsed": (
        "kind: http\nurl: https://h/\nretry:\n  max_elapsed: forever",
        "pipelines.p.retry.max_elapsed",
        7,
        NOT_A_DURATION.format(unit="seconds"),
    ),
    "retry unknown key": (
        "kind: command\nargv: [echo]\nretry: {attempts: 3}",
        "pipelines.p.retry.attempts",
        6,
        "unknown key 'attempts' (did you mean 'max_attempts'?)",
    ),
    "http url scheme": (
        "kind: http\nurl: ftp://h/x",
        "pipelines.p.url",
        5,
        "must be an http:// or https:// URL with a host",
    ),
    "http method": (
        "kind: http\nurl: https://h/\nmethod: GET",
        "pipelines.p.method",
        6,
        "must be one of 'POST' or 'PUT'",
    ),
    "http header secret from env and file": (
        "kind: http\nurl: https://h/\nheaders:\n  X-Key: {env: KEY, file: key.txt}",
        "pipelines.p.headers.X-Key",
        7,
        "give exactly one of env (a variable name) or file (a path)",
    ),
    "http header secret source misspelled": (
        "kind: http\nurl: https://h/\nheaders:\n  X-Key: {var: KEY}",
        "pipelines.p.headers.X-Key.var",
        7,
        "unknown key 'var' (use env or file)",
    ),
    "http header number": (
        "kind: http\nurl: https://h/\nheaders:\n  X-Port: 8080",
        "pipelines.p.headers.X-Port",
        7,
        "must be a string, {env: VARIABLE} or {file: PATH}",
    ),
    "http header name": (
        "kind: http\nurl: https://h/\nheaders:\n  'X Key': v",
        "pipelines.p.headers.X Key",
        7,
        "is not a valid header name",
    ),
    "http idempotency key header": (
        "kind: http\nurl: https://h/\nheaders:\n  idempotency-key: v",
        "pipelines.p.headers.idempotency-key",
        7,
        "cannot be configured: triggerd sets it to the run's fire key",
    ),
    "http body not JSON": (
        "kind: http\nurl: https://h/\nbody:\n  scores: [1, .inf]",
        "pipelines.p.body.scores[1]",
        7,
        "must be a finite number (JSON has no inf or nan)",
    ),
    "kind missing": ("argv: [echo]", "pipelines.p.kind", 3, "missing required key 'kind'"),
    "argv empty": ("kind: command\nargv: []", "pipelines.p.argv", 5, "must not be empty"),
    "argv missing": ("kind: command", "pipelines.p.argv", 3, "missing required key 'argv'"),
    "argv number": (
        "kind: command\nargv:\n  - sleep\n  - 5",
        "pipelines.p.argv[1]",
        7,
        "must be a string (quote numbers, booleans and dates)",
    ),
    "argv a string": ("kind: command\nargv: echo hello", "pipelines.p.argv", 5, "must be a list"),
    "timeout": (
        "kind: command\nargv: [echo]\ntimeout: 1 hour",
        "pipelines.p.timeout",
        6,
        NOT_A_DURATION.format(unit="seconds"),
    ),
    "timeout zero": (
        "kind: command\nargv: [echo]\ntimeout: 0",
        "pipelines.p.timeout",
        6,
        "must be greater than 0",
    ),
    "env value number": (
        "kind: command\nargv: [echo]\nenv: {PORT: 8080}",
        "pipelines.p.env.PORT",
        6,
        "must be a string (quote numbers, booleans and dates)",
    ),
    "unknown key": (
        "kind: command\nargs: [echo]\nargv: [echo]",
        "pipelines.p.args",
        5,
        "unknown key 'args' (did you mean 'argv'?)",
    ),
}

DATASTORE_CASES = {
    "local without path": ("kind: local", "datastores.d.path", 3, "missing required key 'path'"),
    "unknown kind": (
        "kind: s3\nbucket: b",
        "datastores.d.kind",
        4,
        "unknown kind 's3' (one of: 'local', 'azure_blob')",
    ),
    "blob with both ways in": (
        "kind: azure_blob\ncontainer: c\nconnection_string_env: CS\naccount_url: https://a",
        "datastores.d",
        3,
        "give exactly one of connection_string_env (the name of an environment variable "
        "holding the connection string) or account_url",
    ),
    "blob with no way in": (
        "kind: azure_blob\ncontainer: c",
        "datastores.d",
        3,
        "give exactly one of connection_string_env (the name of an environment variable "
        "holding the connection string) or account_url",
    ),
    "credential with a connection string": (
        "kind: azure_blob\ncontainer: c\nconnection_string_env: CS\ncredential: {kind: default}",
        "datastores.d.credential",
        7,
        "credential is only used with account_url (a connection string carries its own)",
    ),
    "credential from env and file": (
        "kind: azure_blob\ncontainer: c\naccount_url: https://a\n"
        "credential: {kind: sas_token, env: SAS, file: sas.txt}",
        "datastores.d.credential",
        7,
        "give exactly one of env (a variable name) or file (a path)",
    ),
    "credential from nowhere": (
        "kind: azure_blob\ncontainer: c\naccount_url: https://a\ncredential: {kind: account_key}",
        "datastores.d.credential",
        7,
        "give exactly one of env (a variable name) or file (a path)",
    ),
    "credential kind": (
        "kind: azure_blob\ncontainer: c\naccount_url: https://a\ncredential: {kind: password}",
        "datastores.d.credential.kind",
        7,
        "unknown kind 'password' (one of: 'default', 'sas_token', 'account_key')",
    ),
}


@pytest.mark.parametrize(
    ("section", "name", "body", "key", "line", "message"),
    [("pipelines", "p", *case) for case in PIPELINE_CASES.values()]
    + [("datastores", "d", *case) for case in DATASTORE_CASES.values()],
    ids=[*PIPELINE_CASES, *DATASTORE_CASES],
)
def test_definition_problem(
    tmp_path: Path, section: str, name: str, body: str, key: str, line: int, message: str
) -> None:
    text = f"# {section}\n{section}:\n  {name}:\n" + textwrap.indent(body, "    ") + "\n"
    assert problems_in(tmp_path, text) == [(key, line, message)]


def test_schedule_not_a_mapping(tmp_path: Path) -> None:
    text = HEADER.rsplit("  - name: s\n", 1)[0] + "  - every-day\n"
    assert problems_in(tmp_path, text) == [
        ("schedules[0]", 6, "must be a mapping (a schedule with a name)")
    ]


def test_invalid_definition_name(tmp_path: Path) -> None:
    text = "pipelines:\n  say hello: {kind: command, argv: [echo]}\n"
    assert problems_in(tmp_path, text) == [
        (
            "pipelines.say hello",
            2,
            "name 'say hello' is not valid: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        )
    ]


@pytest.mark.parametrize(
    "datastore",
    [
        "{kind: azure_blob, container: c, connection_string: 'AccountKey=SECRET-VALUE'}",
        "{kind: azure_blob, container: c, account_url: https://a, "
        "credential: {kind: sas_token, token: 'sv=SECRET-VALUE'}}",
        "{kind: azure_blob, container: c, account_url: https://a, "
        "credential: {kind: account_key, env: ['SECRET-VALUE']}}",
        "{kind: azure_blob, container: 'SECRET-VALUE', account_url: https://a, "
        "credential: 'SECRET-VALUE'}",
    ],
)
def test_secrets_never_appear_in_problems(tmp_path: Path, datastore: str) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text(f"datastores:\n  d: {datastore}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems
    assert "SECRET" not in str(caught.value)


def test_every_problem_of_every_definition_is_reported(tmp_path: Path) -> None:
    text = schedule(RECURRENCE + "status: On\n") + (
        "  - name: t\n    pipeline: nope\n    datastore: inbox\n    polling_interval: 0\n"
        "  - name: u\n    pipeline: p\n    datastore: inbox\n    pipeline_parameters: {x: 1}\n"
    )
    # Schedule t's unknown pipeline is reported beside its other problem.
    assert [(key, line) for key, line, _ in problems_in(tmp_path, text)] == [
        ("schedules[0].status", 10),
        ("schedules[1].pipeline", 12),
        ("schedules[1].polling_interval", 14),
    ]


@pytest.mark.parametrize(
    "pipeline",
    [
        "{kind: http, url: 'https://h/', headers: {X-Key: ['SECRET-VALUE']}}",
        "{kind: http, url: 'https://h/', headers: {X-Key: {env: K, value: 'SECRET-VALUE'}}}",
        "{kind: http, url: 'https://h/', method: GET, headers: {X-Key: 'Bearer SECRET-VALUE'}}",
        "{kind: azureml, endpoint: 'https://h/PipelineRuns/PipelineSubmit/a', "
        "auth: {kind: bearer, token: 'SECRET-VALUE'}}",
        "{kind: azureml, endpoint: 'https://h/PipelineRuns/PipelineSubmit/a', "
        "auth: {kind: bearer, token_env: ['SECRET-VALUE']}}",
        "{kind: azureml, endpoint: 'https://h/PipelineRuns/PipelineSubmit/a?sig=SECRET-VALUE'}",
    ],
)
def test_pipeline_secrets_never_appear_in_problems(tmp_path: Path, pipeline: str) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text(f"pipelines:\n  p: {pipeline}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems
    assert "SECRET" not in str(caught.value)


HTTP_BODY = """\
datastores:
  inbox: {kind: local, path: inbox}
pipelines:
  hook:
    kind: http
    url: https://hooks.example/run
    body:
      file: "{datastore}/{data_path} ({data_uri}) as {input}"
      run: ["{run_id}", "{attempt}", "{fire_key}", "{schedule}", "{trigger}"]
      meta: {when: "{scheduled_for}", experiment: "{experiment_name}", literal: "{{nope}}"}
      threshold: "{threshold}"
      extra: "{extra} {missing}"
schedules:
  - name: s
    pipeline: hook
    datastore: inbox
    data_path_parameter_name: input
    pipeline_parameters: {threshold: 0.5}
"""


def test_body_placeholders_a_schedule_does_not_supply(tmp_path: Path) -> None:
    message = (
        "pipeline 'hook' has the placeholder {{{name}}} in its body, which this schedule does "
        "not supply: add '{name}' to pipeline_parameters"
    )
    assert problems_in(tmp_path, HTTP_BODY) == [
        ("schedules[0].pipeline_parameters", 18, message.format(name="extra")),
        ("schedules[0].pipeline_parameters", 18, message.format(name="missing")),
    ]


SECRET = "'sv=2024&sig=SECRET-VALUE'"
# Every key whose problem once echoed the value: a secret pasted under the wrong key (or the
# right key, misindented) must not reach validate's output or the reload log.
ECHOING_KEYS = {
    "polling_interval": f"datastore: inbox\npolling_interval: {SECRET}\n" + PARAMS,
    "misfire_grace_time": RECURRENCE + f"misfire_grace_time: {SECRET}\n",
    "settle": f"datastore: inbox\nsettle: {SECRET}\n" + PARAMS,
    "recurrence.start_time": f"recurrence: {{frequency: Day, interval: 1, start_time: {SECRET}}}\n"
    + PARAMS,
    "recurrence.hours[0]": f"recurrence: {{frequency: Day, interval: 1, hours: [{SECRET}]}}\n"
    + PARAMS,
    "recurrence.minutes[0]": f"recurrence: {{frequency: Day, interval: 1, minutes: [{SECRET}]}}\n"
    + PARAMS,
    "recurrence.interval": f"recurrence: {{frequency: Day, interval: {SECRET}}}\n" + PARAMS,
    "recurrence.time_of_day": "recurrence: {frequency: Day, interval: 1, time_of_day: "
    + f"{SECRET}}}\n"
    + PARAMS,
    "recurrence.time_zone": f"recurrence: {{frequency: Day, interval: 1, time_zone: {SECRET}}}\n"
    + PARAMS,
    "recurrence.frequency": f"recurrence: {{frequency: {SECRET}, interval: 1}}\n" + PARAMS,
    "status": RECURRENCE + f"status: {SECRET}\n",
    "catchup": RECURRENCE + f"catchup: {SECRET}\n",
}


@pytest.mark.parametrize("body", list(ECHOING_KEYS.values()), ids=list(ECHOING_KEYS))
def test_string_values_are_never_echoed(tmp_path: Path, body: str) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text(schedule(body))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 1
    assert "SECRET" not in str(caught.value)


def test_pipeline_durations_are_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text(
        f"pipelines:\n  p: {{kind: command, argv: [echo], timeout: {SECRET},\n"
        f"      retry: {{max_attempts: 2, max_elapsed: {SECRET}, initial_backoff: {SECRET}}}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [p.key for p in caught.value.problems] == [
        "pipelines.p.timeout",
        "pipelines.p.retry.max_elapsed",
        "pipelines.p.retry.initial_backoff",
    ]
    assert "SECRET" not in str(caught.value)
