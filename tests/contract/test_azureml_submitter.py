"""Contract of the ``azureml`` submitter, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from tests.support.httpserver import Reply, ScriptedServer, refused_url
from triggerd.config.pipelines import AzureMLPipeline
from triggerd.errors import PermanentSubmitError, SubmitInterrupted, TransientSubmitError
from triggerd.runs import BoundFile
from triggerd.submitters import build_submitter
from triggerd.submitters.azureml import AzureMLSubmitter
from triggerd.submitters.base import RunRequest
from triggerd.submitters.httpcommon import AzureADToken, EnvSecret, FileSecret, Secret

pytestmark = pytest.mark.timeout(30)

WORKSPACE = (
    "/pipelines/v1.0/subscriptions/sub/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws"
)
PUBLISHED = WORKSPACE + "/PipelineRuns/PipelineSubmit/0a1b2c3d"
ENDPOINT = WORKSPACE + "/PipelineRuns/PipelineEndpointSubmit/Id/9f8e7d6c"
TOKEN = "tok-SECRET-abc123"
ACCEPTED = Reply(200, json={"Id": "run-42", "Status": {"StatusCode": "NotStarted"}})


class StaticToken:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token

    def read(self) -> str:
        return self.token


def make_request(**overrides: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "run_id": 7,
        "schedule": "nightly",
        "fire_key": "nightly:2024-03-31T01:30:00+00:00",
        "trigger": "time",
        "scheduled_for": datetime(2024, 3, 31, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        "parameters": {},
    }
    fields.update(overrides)
    return RunRequest(**fields)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


Factory = Callable[..., AzureMLSubmitter]


@pytest.fixture
def submitter(server: ScriptedServer) -> Iterator[Factory]:
    """Builds submitters against ``server`` (published pipeline, static token by default)."""
    made: list[AzureMLSubmitter] = []

    def make(
        path: str = PUBLISHED, *, auth: Secret | None = None, timeout: float = 5.0, **options: Any
    ) -> AzureMLSubmitter:
        made.append(
            AzureMLSubmitter(
                server.url + path,
                auth=auth if auth is not None else StaticToken(),
                timeout=timedelta(seconds=timeout),
                **options,
            )
        )
        return made[-1]

    yield make
    for item in made:
        item.close()


def submit(sub: AzureMLSubmitter, request: RunRequest | None = None) -> Any:
    return sub.submit(request or make_request(), threading.Event())


# --- the request ----------------------------------------------------------------------------


def test_published_pipeline_body_and_headers(server: ScriptedServer, submitter: Factory) -> None:
    server.script(ACCEPTED)
    request = make_request(
        parameters={"input_string": "sample_string3", "n": 3},
        experiment_name="MyExperiment",
        continue_on_step_failure=True,
    )
    outcome = submit(submitter(), request)
    assert (outcome.status, outcome.external_id) == ("submitted", "run-42")
    [seen] = server.requests
    assert (seen.method, seen.path, seen.query) == ("POST", PUBLISHED, {})
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "nightly:2024-03-31T01:30:00+00:00"
    body = seen.json()
    assert body == {
        "ExperimentName": "MyExperiment",
        "Description": "MyExperiment",
        "RunSource": "SDK",
        "ParameterAssignments": {"input_string": "sample_string3", "n": "3"},
        "DataPathAssignments": {},
        "DataSetDefinitionValueAssignments": {},
        "ContinueRunOnStepFailure": True,
        "tags": {
            "triggerd_fire_key": "nightly:2024-03-31T01:30:00+00:00",
            "triggerd_schedule": "nightly",
        },
        "Properties": {},
    }
    assert list(body)[:3] == ["ExperimentName", "Description", "RunSource"]


def test_versioned_pipeline_endpoint(server: ScriptedServer, submitter: Factory) -> None:
    server.script(ACCEPTED)
    request = make_request(description="retrain on new data")
    outcome = submit(submitter(ENDPOINT, version="2.1 beta"), request)
    assert outcome.external_id == "run-42"
    [seen] = server.requests
    assert seen.path == ENDPOINT + "/2.1%20beta"
    assert seen.query == {"pipelineVersion": ["2.1 beta"]}
    body = seen.json()
    assert "2.1 beta" not in json.dumps(body)
    assert not {key for key in body if "version" in key.lower()}
    # No experiment name: the schedule's name; no continue_on_step_failure: the key is absent.
    assert (body["ExperimentName"], body["Description"]) == ("nightly", "retrain on new data")
    assert "ContinueRunOnStepFailure" not in body


def test_pipeline_endpoint_without_version(server: ScriptedServer, submitter: Factory) -> None:
    server.script(ACCEPTED)
    submit(submitter(ENDPOINT))
    [seen] = server.requests
    assert (seen.path, seen.query) == (ENDPOINT, {})


def test_bound_file_is_a_data_path_assignment(server: ScriptedServer, submitter: Factory) -> None:
    server.script(ACCEPTED)
    request = make_request(
        trigger="datastore",
        scheduled_for=None,
        fire_key="score:folder/new_file.csv:1700000000",
        parameters={"threshold": 0.5, "input_datapath": "ignored"},
        file=BoundFile(
            "workspaceblobstore",
            "folder/new_file.csv",
            "https://acct.blob.core.windows.net/raw/folder/new_file.csv",
            "https://acct.blob.core.windows.net/raw/folder/new_file.csv",
        ),
        data_path_parameter_name="input_datapath",
    )
    submit(submitter(), request)
    body = server.requests[0].json()
    assert body["DataPathAssignments"] == {
        "input_datapath": {
            "DataStoreName": "workspaceblobstore",
            "RelativePath": "folder/new_file.csv",
        }
    }
    assert body["ParameterAssignments"] == {"threshold": "0.5"}


@pytest.mark.parametrize(
    ("value", "sent"),
    [(True, "True"), (False, "False"), (3, "3"), (-1, "-1"), (0.01, "0.01"), ("a b", "a b")],
)
def test_parameter_values_are_strings(
    server: ScriptedServer, submitter: Factory, value: Any, sent: str
) -> None:
    server.script(ACCEPTED)
    submit(submitter(), make_request(parameters={"p": value}))
    assert server.requests[0].json()["ParameterAssignments"] == {"p": sent}


def test_same_idempotency_key_on_every_attempt(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(503, headers={"Retry-After": "2"}), ACCEPTED)
    sub = submitter()
    with pytest.raises(TransientSubmitError) as caught:
        submit(sub, make_request(attempt=1))
    assert caught.value.retry_after == timedelta(seconds=2)
    assert submit(sub, make_request(attempt=2)).external_id == "run-42"
    keys = [seen.headers["idempotency-key"] for seen in server.requests]
    assert keys == ["nightly:2024-03-31T01:30:00+00:00"] * 2


def test_a_fire_key_outside_ascii_is_percent_encoded(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(ACCEPTED)
    fire_key = "score:données 100%.csv:17"
    submit(submitter(), make_request(fire_key=fire_key))
    [seen] = server.requests
    assert seen.headers["idempotency-key"] == "score:donn%C3%A9es 100%25.csv:17"
    assert seen.json()["tags"]["triggerd_fire_key"] == fire_key


# --- answers --------------------------------------------------------------------------------


def test_503_with_retry_after_seconds_is_transient(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(Reply(503, body=b"Service Unavailable", headers={"Retry-After": "2"}))
    with pytest.raises(TransientSubmitError) as caught:
        submit(submitter())
    assert caught.value.retry_after == timedelta(seconds=2)
    assert str(caught.value) == "HTTP 503: Service Unavailable"


def test_429_with_an_http_date_retry_after(server: ScriptedServer, submitter: Factory) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    server.script(Reply(429, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    with pytest.raises(TransientSubmitError) as caught:
        submit(submitter())
    assert caught.value.retry_after is not None
    assert timedelta(seconds=85) <= caught.value.retry_after <= timedelta(seconds=90)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_retryable_statuses_are_transient(
    server: ScriptedServer, submitter: Factory, status: int
) -> None:
    server.script(Reply(status))
    with pytest.raises(TransientSubmitError) as caught:
        submit(submitter())
    assert (str(caught.value), caught.value.retry_after) == (f"HTTP {status}", None)


def test_400_fails_with_azure_error_message(server: ScriptedServer, submitter: Factory) -> None:
    error = {
        "error": {
            "code": "UserError",
            "message": "Parameter 'n' is not defined in the pipeline",
            "details": [],
        }
    }
    server.script(Reply(400, json=error))
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter())
    assert str(caught.value) == "HTTP 400: Parameter 'n' is not defined in the pipeline"
    assert len(server.requests) == 1


def test_401_is_permanent(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(401, body=b"Unauthorized"))
    with pytest.raises(PermanentSubmitError, match=r"^HTTP 401: Unauthorized$"):
        submit(submitter())


def test_a_long_error_body_is_cut_to_300_characters(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(Reply(404, body=b"<html>" + b"x" * 1000))
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter())
    assert str(caught.value) == "HTTP 404: <html>" + "x" * 294


def test_2xx_without_an_id_is_permanent(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(200, json={"Status": "ok"}))
    with pytest.raises(PermanentSubmitError, match=r"^HTTP 200 without a run Id in the answer"):
        submit(submitter())


def test_a_hanging_server_times_out_as_transient(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(Reply(hang=True))
    with pytest.raises(TransientSubmitError) as caught:
        submit(submitter(timeout=0.5))
    assert "within 0.5s (timeout)" in str(caught.value)
    assert caught.value.retry_after is None


def test_a_refused_connection_is_transient() -> None:
    sub = AzureMLSubmitter(
        refused_url() + PUBLISHED, auth=StaticToken(), timeout=timedelta(seconds=2)
    )
    with sub, pytest.raises(TransientSubmitError, match=r"^cannot connect to http://127\.0\.0\.1"):
        submit(sub)


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_before_sending(server: ScriptedServer, submitter: Factory) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SubmitInterrupted):
        submitter().submit(make_request(), cancel)
    assert server.requests == []


def test_cancel_during_a_hanging_request(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(hang=True))
    cancel = threading.Event()
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    try:
        with pytest.raises(SubmitInterrupted):
            submitter(timeout=0.5).submit(make_request(), cancel)
    finally:
        timer.cancel()


def test_an_answer_that_arrives_during_shutdown_is_kept(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(Reply(200, json={"Id": "run-late"}, delay=0.3))
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    try:
        assert submitter().submit(make_request(), cancel).external_id == "run-late"
    finally:
        timer.cancel()


# --- auth -----------------------------------------------------------------------------------


def test_bearer_token_from_env_is_read_at_each_attempt(
    server: ScriptedServer, submitter: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script(ACCEPTED, ACCEPTED)
    sub = submitter(auth=EnvSecret("AML_TOKEN", "the bearer token"))
    monkeypatch.setenv("AML_TOKEN", "first-token")
    submit(sub)
    monkeypatch.setenv("AML_TOKEN", "rotated-token")
    submit(sub)
    assert [seen.headers["authorization"] for seen in server.requests] == [
        "Bearer first-token",
        "Bearer rotated-token",
    ]


def test_bearer_token_from_file(server: ScriptedServer, submitter: Factory, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    server.script(ACCEPTED)
    submit(submitter(auth=FileSecret(token_file, "the bearer token")))
    assert server.requests[0].headers["authorization"] == "Bearer file-token"


def test_missing_token_variable_is_permanent(
    server: ScriptedServer, submitter: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AML_TOKEN", raising=False)
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter(auth=EnvSecret("AML_TOKEN", "the bearer token")))
    assert str(caught.value) == (
        "environment variable AML_TOKEN (the bearer token) is not set or empty: "
        "set it in the daemon's environment"
    )
    assert server.requests == []


def test_missing_token_file_is_permanent(
    server: ScriptedServer, submitter: Factory, tmp_path: Path
) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter(auth=FileSecret(missing, "the bearer token")))
    assert (
        str(caught.value) == f"cannot read {missing} (the bearer token): No such file or directory"
    )
    assert server.requests == []


class FakeCredential:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    def get_token(self, *scopes: str) -> Any:
        self.scopes.append(scopes)
        if self.fail:
            raise RuntimeError("IMDS said no; client_secret=hunter2-value")
        return type("Token", (), {"token": "aad-token", "expires_on": 0})()

    def close(self) -> None:
        self.closed = True


def test_azure_credential_is_made_once_and_asked_for_arm(
    server: ScriptedServer, submitter: Factory
) -> None:
    made: list[FakeCredential] = []

    def factory() -> FakeCredential:
        made.append(FakeCredential())
        return made[-1]

    server.script(ACCEPTED, ACCEPTED)
    sub = submitter(auth=AzureADToken(factory))
    submit(sub)
    submit(sub)
    assert len(made) == 1
    assert made[0].scopes == [("https://management.azure.com/.default",)] * 2
    assert server.requests[1].headers["authorization"] == "Bearer aad-token"
    sub.close()
    assert made[0].closed


def test_azure_credential_failure_is_transient_and_secret_free(
    server: ScriptedServer, submitter: Factory
) -> None:
    with pytest.raises(TransientSubmitError) as caught:
        submit(submitter(auth=AzureADToken(lambda: FakeCredential(fail=True))))
    message = str(caught.value)
    assert message.startswith(
        "cannot get an Azure AD token for https://management.azure.com/.default (RuntimeError)"
    )
    assert "hunter2" not in message
    assert server.requests == []


def test_no_auth_sends_no_authorization(server: ScriptedServer) -> None:
    server.script(ACCEPTED)
    with AzureMLSubmitter(server.url + PUBLISHED, auth=None) as sub:
        submit(sub)
    assert "authorization" not in server.requests[0].headers


# --- logs and secrets -----------------------------------------------------------------------


def test_logs_request_and_response_with_run_context(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(ACCEPTED)
    with capture_logs() as logs:
        submit(submitter(), make_request(attempt=3))
    events = [entry for entry in logs if entry["event"].startswith("run.")]
    assert [entry["event"] for entry in events] == ["run.request", "run.response"]
    request, response = events
    assert request["url"] == server.url + PUBLISHED
    assert (request["method"], request["attempt"]) == ("POST", 3)
    assert response["status"] == 200
    assert isinstance(response["duration_ms"], int)
    for entry in events:
        assert (entry["schedule"], entry["fire_key"], entry["run_id"]) == (
            "nightly",
            "nightly:2024-03-31T01:30:00+00:00",
            7,
        )


def test_token_never_in_logs_or_errors(server: ScriptedServer, submitter: Factory) -> None:
    echo = {"error": {"message": f"token {TOKEN} rejected for https://x/y?sv=1&sig=abc%2Fdef"}}
    server.script(Reply(403, json=echo), Reply(500, body=f"Bearer {TOKEN}".encode()))
    sub = submitter()
    errors = []
    with capture_logs() as logs:
        for _ in range(2):
            with pytest.raises((PermanentSubmitError, TransientSubmitError)) as caught:
                submit(sub)
            errors.append(str(caught.value))
    assert errors == [
        "HTTP 403: token *** rejected for https://x/y?sv=1&sig=***",
        "HTTP 500: Bearer ***",
    ]
    assert TOKEN not in repr(logs)


# --- from config ----------------------------------------------------------------------------


def test_build_submitter_from_config(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = AzureMLPipeline.model_validate(
        {
            "kind": "azureml",
            "endpoint": server.url + ENDPOINT,
            "version": "3",
            "auth": {"kind": "bearer", "token_env": "AML_TOKEN"},
            "timeout": "5s",
        }
    )
    monkeypatch.setenv("AML_TOKEN", "env-token")
    server.script(ACCEPTED)
    sub = build_submitter(pipeline)
    assert isinstance(sub, AzureMLSubmitter)
    with sub:
        assert submit(sub).external_id == "run-42"
    [seen] = server.requests
    assert (seen.path, seen.query) == (ENDPOINT + "/3", {"pipelineVersion": ["3"]})
    assert seen.headers["authorization"] == "Bearer env-token"
