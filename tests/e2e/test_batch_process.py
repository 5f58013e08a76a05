"""A datastore schedule on a blob container (Azurite) firing an Azure ML batch endpoint (the
fake Azure ML), with the daemon as a process: the datastore trigger v2 dropped, against v2."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from tests.support.azureml_fake import AzureMLFake
from tests.support.azurite import AzuriteServer
from tests.support.daemon import DaemonProcess, runs_json

pytestmark = pytest.mark.e2e

TOKEN = "batch-bearer-token-s3cr3t"


def write_config(tmp_path: Path, container: str, endpoint: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
datastores:
  raw:
    kind: azure_blob
    container: {container}
    connection_string_env: TEST_AZURE_STORAGE
    azureml_datastore: workspaceblobstore
pipelines:
  score:
    kind: azureml_batch
    endpoint: {endpoint}
    deployment: score-v2
    experiment_name: scoring
    auth: {{kind: bearer, token_env: TEST_BATCH_TOKEN}}
    follow: false
    timeout: 5s
schedules:
  - name: score-uploads
    pipeline: score
    datastore: raw
    path_on_datastore: incoming
    polling_interval: 1s
    data_path_parameter_name: input_data
    pipeline_parameters: {{score_mode: append, threshold: 0.8}}
""",
        encoding="utf-8",
    )
    return config


def test_a_new_blob_invokes_the_batch_endpoint_once_with_its_uri_file(
    tmp_path: Path, azurite: AzuriteServer, blob_container: ContainerClient
) -> None:
    blob_container.upload_blob("incoming/baseline.csv", b"there before the schedule")
    with AzureMLFake() as aml:
        config = write_config(tmp_path, blob_container.container_name, aml.invocation_url)
        state = tmp_path / "state"
        env = {"TEST_AZURE_STORAGE": azurite.connection_string, "TEST_BATCH_TOKEN": TOKEN}
        daemon = DaemonProcess(config, state, env=env)
        try:
            daemon.wait_event("poll.completed", baseline=True)
            blob_container.upload_blob("incoming/new data.csv", b"a,b")
            blob_container.upload_blob("elsewhere/ignored.csv", b"never")
            submitted = daemon.wait_event("run.submitted", timeout=30)
            target = len(daemon.named("poll.completed")) + 3
            daemon.wait_for(lambda: len(daemon.named("poll.completed")) >= target, what="3 polls")
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        finally:
            daemon.kill()
        posts = aml.submissions
    assert submitted["external_id"] == "batchjob-1"
    [post] = posts
    assert post.path == "/jobs"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["azureml-model-deployment"] == "score-v2"
    assert post.headers["idempotency-key"] == submitted["fire_key"]
    assert post.json() == {
        "properties": {
            "InputData": {
                "score_mode": {"JobInputType": "Literal", "Value": "append"},
                "threshold": {"JobInputType": "Literal", "Value": "0.8"},
                "input_data": {
                    "JobInputType": "UriFile",
                    "Uri": "azureml://datastores/workspaceblobstore/paths/incoming/new%20data.csv",
                },
            },
            "properties": {"experimentName": "scoring"},
        }
    }
    [run] = runs_json(state, config)
    assert (run["status"], run["attempts"], run["external_id"]) == ("submitted", 1, "batchjob-1")
    assert run["data_path"] == {"datastore": "raw", "relative_path": "incoming/new data.csv"}
    assert TOKEN not in "\n".join(daemon.raw)
