"""Remote pipelines with the daemon as a process, against real local HTTP servers."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, cli, runs_json
from tests.support.httpserver import Reply, ScriptedServer

pytestmark = pytest.mark.e2e

TOKEN = "s3cr3t-bearer-token-value"
WORKSPACE = (
    "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w"
)


def write_config(tmp_path: Path, endpoint: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
pipelines:
  retrain:
    kind: azureml
    endpoint: {endpoint}{WORKSPACE}/PipelineRuns/PipelineEndpointSubmit/Id/e-123
    version: "2"
    auth: {{kind: bearer, token_env: TEST_AML_TOKEN}}
    timeout: 5s
    retry: {{max_attempts: 3, initial_backoff: 1s}}
schedules:
  - name: retrain-hourly
    pipeline: retrain
    experiment_name: nightly
    recurrence: {{frequency: Hour, interval: 1, time_zone: W. Europe Standard Time}}
    pipeline_parameters: {{learning_rate: 0.01, full: true}}
""",
        encoding="utf-8",
    )
    return config


def test_a_503_with_retry_after_then_200_is_one_run_two_attempts_one_key(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        server.script(
            Reply(503, headers={"Retry-After": "1"}, json={"error": {"message": "busy"}}),
            Reply(200, json={"Id": "aml-run-1", "Status": {"StatusCode": "NotStarted"}}),
        )
        config = write_config(tmp_path, server.url)
        state = tmp_path / "state"
        daemon = DaemonProcess(config, state, env={"TEST_AML_TOKEN": TOKEN})
        try:
            retry = daemon.wait_event("run.retry_scheduled")
            submitted = daemon.wait_event("run.submitted", timeout=30)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        finally:
            daemon.kill()
        requests = list(server.requests)
    assert retry["error"].startswith("HTTP 503")
    assert submitted["external_id"] == "aml-run-1"
    assert len(requests) == 2
    keys = {r.headers["idempotency-key"] for r in requests}
    assert keys == {retry["fire_key"]}
    first = requests[0]
    assert first.path.endswith("/PipelineEndpointSubmit/Id/e-123/2")
    assert first.query == {"pipelineVersion": ["2"]}
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.json()["ParameterAssignments"] == {"learning_rate": "0.01", "full": "True"}
    assert first.json()["tags"]["triggerd_fire_key"] == retry["fire_key"]
    [run] = runs_json(state, config)
    assert (run["status"], run["attempts"], run["external_id"]) == ("submitted", 2, "aml-run-1")
    assert TOKEN not in "\n".join(daemon.raw)


def test_a_400_fails_at_once_with_the_message_and_can_be_retried(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        server.script(
            Reply(400, json={"error": {"message": "Parameter 'full' is not defined"}}),
            Reply(200, json={"Id": "aml-run-2"}),
        )
        config = write_config(tmp_path, server.url)
        state = tmp_path / "state"
        daemon = DaemonProcess(config, state, env={"TEST_AML_TOKEN": TOKEN})
        try:
            failed = daemon.wait_event("run.failed")
            assert "Parameter 'full' is not defined" in failed["error"]
            retried = cli("runs", "retry", str(failed["run_id"]), state_dir=state, config=config)
            assert retried.returncode == 0, retried.stderr
            daemon.wait_event("run.submitted", timeout=30)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        finally:
            daemon.kill()
        keys = [r.headers["idempotency-key"] for r in server.requests]
    [run] = runs_json(state, config)
    assert (run["status"], run["attempts"]) == ("submitted", 2)
    assert keys == [run["fire_key"], run["fire_key"]]
    listed = json.loads(
        cli("runs", "show", str(run["id"]), "--json", state_dir=state, config=config).stdout
    )
    assert listed["external_id"] == "aml-run-2"
