"""The ``azureml_batch`` pipeline kind in config: its URL rules, its keys and defaults, and the
datastores a batch endpoint can read."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from triggerd.config import load_config
from triggerd.config.pipelines import AzureAuth, AzureMLBatchPipeline, AzureMLPipeline, BearerAuth
from triggerd.datastores.locate import locator
from triggerd.engine.worldcheck import check_world
from triggerd.errors import ConfigError

INVOCATION = "https://score.westeurope.inference.ml.azure.com/jobs"


def problems_of(path: Path) -> list[tuple[str, str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [(Path(p.file).name, p.key, p.line, p.message) for p in caught.value.problems]


def pipeline_file(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f'pipelines:\n  batch: {{kind: azureml_batch, endpoint: "{endpoint}"}}\n')
    return path


@pytest.mark.parametrize(
    "endpoint",
    [
        INVOCATION,
        "https://my-endpoint.eastus2.inference.ml.azure.com/jobs",
        "https://gateway.internal.example/ml/score/jobs",  # any https URL ending in /jobs
        "http://127.0.0.1:8080/jobs",
        "http://localhost:8080/jobs",
    ],
)
def test_accepted_endpoints(tmp_path: Path, endpoint: str) -> None:
    pipeline = load_config(pipeline_file(tmp_path, endpoint)).pipelines["batch"]
    assert isinstance(pipeline, AzureMLBatchPipeline)
    assert pipeline.endpoint == endpoint


SHAPE = (
    "must be a batch endpoint's invocation URL, ending with /jobs "
    "(https://NAME.REGION.inference.ml.azure.com/jobs)"
)


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (
            "http://score.westeurope.inference.ml.azure.com/jobs",
            "must use https:// (http:// only for 127.0.0.1 or localhost)",
        ),
        ("https://score.westeurope.inference.ml.azure.com/score", SHAPE),
        ("https://score.westeurope.inference.ml.azure.com/jobs/", SHAPE),
        ("https://score.westeurope.inference.ml.azure.com/", SHAPE),
        (
            "https://score.westeurope.inference.ml.azure.com/jobs?api-version=1",
            "must not have a "
            "query string: a batch endpoint's invocation URL, ending with /jobs "
            "(https://NAME.REGION.inference.ml.azure.com/jobs)",
        ),
        (
            "ftp://score.westeurope.inference.ml.azure.com/jobs",
            "must be an http:// or https:// URL with a host",
        ),
    ],
)
def test_refused_endpoints(tmp_path: Path, endpoint: str, message: str) -> None:
    assert problems_of(pipeline_file(tmp_path, endpoint)) == [
        ("c.yaml", "pipelines.batch.endpoint", 2, message)
    ]


def test_keys_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"""\
pipelines:
  plain: {{kind: azureml_batch, endpoint: {INVOCATION}}}
  full:
    kind: azureml_batch
    endpoint: {INVOCATION}
    deployment: nightly-v2
    experiment_name: scoring
    auth: {{kind: bearer, token_file: secrets/token}}
    follow: false
    follow_timeout: 2h
    timeout: 10s
  v1:
    kind: azureml
    endpoint: https://westeurope.api.azureml.ms/pipelines/v1.0/x/PipelineRuns/PipelineSubmit/a
    follow_timeout: 30m
"""
    )
    pipelines = load_config(path).pipelines
    plain, full, v1 = pipelines["plain"], pipelines["full"], pipelines["v1"]
    assert isinstance(plain, AzureMLBatchPipeline)
    assert isinstance(full, AzureMLBatchPipeline)
    assert isinstance(v1, AzureMLPipeline)
    assert (plain.deployment, plain.experiment_name, plain.auth) == (
        None,
        None,
        AzureAuth(kind="azure"),
    )
    assert (plain.follow, plain.follow_timeout, plain.timeout) == (
        True,
        timedelta(hours=24),
        timedelta(seconds=30),
    )
    assert (full.deployment, full.experiment_name) == ("nightly-v2", "scoring")
    assert full.auth == BearerAuth(kind="bearer", token_file=tmp_path / "secrets/token")
    assert (full.follow, full.follow_timeout, full.timeout) == (
        False,
        timedelta(hours=2),
        timedelta(seconds=10),
    )
    assert (v1.follow, v1.follow_timeout) == (True, timedelta(minutes=30))


def test_bad_keys_each_get_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"""\
pipelines:
  batch:
    kind: azureml_batch
    endpoint: {INVOCATION}
    deployment: "blue green"
    follow: "yes"
    deploymnet: x
"""
    )
    found = problems_of(path)
    assert [(key, line) for _, key, line, _ in found] == [
        ("pipelines.batch.deployment", 5),
        ("pipelines.batch.follow", 6),
        ("pipelines.batch.deploymnet", 7),
    ]
    messages = [message for *_, message in found]
    assert messages[0].startswith("must be the name of a deployment of the endpoint")
    assert "deployment" in messages[2]  # did you mean ...?


BATCH_SCHEDULES = f"""\
datastores:
  inbox: {{kind: local, path: inbox}}
  raw:
    kind: azure_blob
    container: raw
    account_url: https://acct.blob.core.windows.net
    azureml_datastore: workspaceblobstore
pipelines:
  batch: {{kind: azureml_batch, endpoint: {INVOCATION}}}
  cmd: {{kind: command, argv: [echo]}}
schedules:
  - name: from-blobs
    pipeline: batch
    datastore: raw
    data_path_parameter_name: input_data
  - name: from-the-inbox
    pipeline: batch
    datastore: inbox
    data_path_parameter_name: input_data
  - name: inbox-to-a-command
    pipeline: cmd
    datastore: inbox
"""

LOCAL_REFUSED = (
    "datastore 'inbox' is a local folder, which the azureml_batch pipeline 'batch' cannot read "
    "(a batch endpoint reads its inputs from Azure storage): use an azure_blob datastore"
)


def test_a_local_datastore_cannot_feed_a_batch_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BATCH_SCHEDULES)
    assert problems_of(path) == [("c.yaml", "schedules[1].datastore", 18, LOCAL_REFUSED)]


def test_validate_prints_the_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BATCH_SCHEDULES)
    done = subprocess.run(
        [sys.executable, "-m", "triggerd", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert (done.stdout + done.stderr).strip().splitlines() == [
        f"{path}:18: schedules[1].datastore: {LOCAL_REFUSED}"
    ]


def test_an_azure_ml_schedule_file_names_its_datastore_name_key(tmp_path: Path) -> None:
    (tmp_path / "defs.yaml").write_text(BATCH_SCHEDULES.split("schedules:")[0])
    (tmp_path / "score.yaml").write_text(
        "Schedule:\n  datastore_name: inbox\n  data_path_parameter_name: input_data\n"
        "  pipeline_id: batch\n"
    )
    assert problems_of(tmp_path) == [("score.yaml", "Schedule.datastore_name", 2, LOCAL_REFUSED)]


def test_the_azure_ml_datastore_name_reaches_the_bound_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        BATCH_SCHEDULES.replace("datastore: inbox\n    data_path", "datastore: raw\n    data_path")
    )
    config = load_config(path)
    bound = locator("raw", config.datastores["raw"]).bind("incoming/a b.csv")
    assert bound.azureml_datastore == "workspaceblobstore"
    assert bound.uri == "https://acct.blob.core.windows.net/raw/incoming/a%20b.csv"


def test_a_bad_azure_ml_datastore_name(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "datastores:\n  raw:\n    kind: azure_blob\n    container: raw\n"
        "    account_url: https://acct.blob.core.windows.net\n    azureml_datastore: my-store\n"
    )
    assert problems_of(path) == [
        (
            "c.yaml",
            "datastores.raw.azureml_datastore",
            6,
            "must be the name of an Azure ML datastore: letters, digits and '_'",
        )
    ]


def test_strict_validation_checks_the_bearer_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"pipelines:\n  batch:\n    kind: azureml_batch\n    endpoint: {INVOCATION}\n"
        "    auth: {kind: bearer, token_env: BATCH_TOKEN_FOR_TEST}\n"
    )
    monkeypatch.delenv("BATCH_TOKEN_FOR_TEST", raising=False)
    [problem] = check_world(load_config(path), path)
    assert (problem.key, problem.line, problem.message) == (
        "pipelines.batch.auth.token_env",
        5,
        "environment variable BATCH_TOKEN_FOR_TEST is not set or empty",
    )
    monkeypatch.setenv("BATCH_TOKEN_FOR_TEST", "set")
    assert check_world(load_config(path), path) == []
