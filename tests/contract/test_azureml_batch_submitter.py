"""Contract of the ``azureml_batch`` submitter, against the fake Azure ML on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tests.support.azureml_fake import AzureMLFake, Reply, job_body, run_body
from triggerd.config.pipelines import AzureMLBatchPipeline
from triggerd.errors import PermanentSubmitError, TransientSubmitError
from triggerd.runs import BoundFile
from triggerd.submitters import build_submitter
from triggerd.submitters.azureml_batch import AzureMLBatchSubmitter
from triggerd.submitters.base import RunRequest
from triggerd.submitters.httpcommon import AzureADToken, EnvSecret, FileSecret, Secret

pytestmark = pytest.mark.timeout(30)

TOKEN = "tok-SECRET-batch-789"
BLOB = "https://acct.blob.core.windows.net/raw/incoming/new%20file.csv"
FIRE_KEY = "score:incoming/new file.csv:1700000000"


class StaticToken:
    def read(self) -> str:
        return TOKEN


def blob_file(azureml_datastore: str | None = None) -> BoundFile:
    return BoundFile("landing", "incoming/new file.csv", BLOB, BLOB, azureml_datastore)


def make_request(**overrides: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "run_id": 11,
        "schedule": "score",
        "fire_key": FIRE_KEY,
        "trigger": "datastore",
        "scheduled_for": None,
        "parameters": {},
    }
    fields.update(overrides)
    return RunRequest(**fields)


@pytest.fixture
def aml() -> Iterator[AzureMLFake]:
    with AzureMLFake() as running:
        yield running


Factory = Callable[..., AzureMLBatchSubmitter]


@pytest.fixture
def submitter(aml: AzureMLFake) -> Iterator[Factory]:
    made: list[AzureMLBatchSubmitter] = []

    def make(*, auth: Secret | None = None, **options: Any) -> AzureMLBatchSubmitter:
        made.append(
            AzureMLBatchSubmitter(
                aml.invocation_url,
                auth=auth if auth is not None else StaticToken(),
                timeout=timedelta(seconds=5),
                **options,
            )
        )
        return made[-1]

    yield make
    for item in made:
        item.close()


def submit(sub: AzureMLBatchSubmitter, request: RunRequest | None = None) -> Any:
    return sub.submit(request or make_request(), threading.Event())


# --- the request ----------------------------------------------------------------------------


def test_a_blob_becomes_a_uri_file_input_with_its_https_url(
    aml: AzureMLFake, submitter: Factory
) -> None:
    request = make_request(
        file=blob_file(),
        data_path_parameter_name="input_data",
        parameters={"threshold": 0.5, "input_data": "replaced by the file"},
    )
    outcome = submit(submitter(), request)
    assert (outcome.status, outcome.external_id) == ("submitted", "batchjob-1")
    assert outcome.remote_id is not None
    assert outcome.remote_id.endswith("/workspaces/ws/jobs/batchjob-1")
    [seen] = aml.submissions
    assert (seen.method, seen.path, seen.query) == ("POST", "/jobs", {})
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert "azureml-model-deployment" not in seen.headers
    assert seen.json() == {
        "properties": {
            "InputData": {
                "threshold": {"JobInputType": "Literal", "Value": "0.5"},
                "input_data": {"JobInputType": "UriFile", "Uri": BLOB},
            }
        }
    }


def test_a_datastore_with_its_azure_ml_name_gives_an_azureml_uri(
    aml: AzureMLFake, submitter: Factory
) -> None:
    request = make_request(
        file=blob_file("workspaceblobstore"), data_path_parameter_name="input_data"
    )
    submit(submitter(), request)
    inputs = aml.submissions[0].json()["properties"]["InputData"]
    assert inputs == {
        "input_data": {
            "JobInputType": "UriFile",
            "Uri": "azureml://datastores/workspaceblobstore/paths/incoming/new%20file.csv",
        }
    }


@pytest.mark.parametrize(
    ("value", "sent"),
    [(True, "True"), (False, "False"), (3, "3"), (0.01, "0.01"), ("append", "append")],
)
def test_parameters_are_literal_inputs_as_strings(
    aml: AzureMLFake, submitter: Factory, value: Any, sent: str
) -> None:
    submit(submitter(), make_request(trigger="time", parameters={"score_mode": value}))
    assert aml.submissions[0].json() == {
        "properties": {"InputData": {"score_mode": {"JobInputType": "Literal", "Value": sent}}}
    }


def test_the_deployment_header_and_the_experiment_name(
    aml: AzureMLFake, submitter: Factory
) -> None:
    sub = submitter(deployment="nightly-v2", experiment_name="scoring")
    submit(sub)
    submit(sub, make_request(experiment_name="from-the-schedule"))
    first, second = aml.submissions
    assert first.headers["azureml-model-deployment"] == "nightly-v2"
    assert first.json()["properties"]["properties"] == {"experimentName": "scoring"}
    # The schedule's experiment_name wins over the pipeline's.
    assert second.json()["properties"]["properties"] == {"experimentName": "from-the-schedule"}


def test_a_202_answer_is_submitted_too() -> None:
    with (
        AzureMLFake(invoke_status=202) as aml,
        AzureMLBatchSubmitter(aml.invocation_url, auth=None) as sub,
    ):
        assert submit(sub).external_id == "batchjob-1"
    assert "authorization" not in aml.submissions[0].headers


def test_the_job_name_is_the_last_part_of_id_when_name_is_missing(
    aml: AzureMLFake, submitter: Factory
) -> None:
    job_id = "/subscriptions/s/resourceGroups/g/providers/x/workspaces/w/jobs/job-from-id"
    aml.script_submissions(Reply(200, json={"id": job_id}))
    outcome = submit(submitter())
    assert (outcome.external_id, outcome.remote_id) == ("job-from-id", job_id)


def test_a_local_file_is_refused_before_sending(aml: AzureMLFake, submitter: Factory) -> None:
    local = BoundFile("inbox", "a.csv", "/srv/inbox/a.csv", "file:///srv/inbox/a.csv")
    with pytest.raises(PermanentSubmitError, match="is on this machine: a batch endpoint reads"):
        submit(submitter(), make_request(file=local, data_path_parameter_name="input_data"))
    assert aml.requests == []


# --- answers --------------------------------------------------------------------------------


def test_retry_after_then_200_is_two_attempts_with_one_key(
    aml: AzureMLFake, submitter: Factory
) -> None:
    aml.script_submissions(Reply(503, body=b"busy", headers={"Retry-After": "2"}))
    sub = submitter()
    with pytest.raises(TransientSubmitError) as caught:
        submit(sub, make_request(attempt=1))
    assert (str(caught.value), caught.value.retry_after) == ("HTTP 503: busy", timedelta(seconds=2))
    assert submit(sub, make_request(attempt=2)).external_id == "batchjob-1"
    keys = [seen.headers["idempotency-key"] for seen in aml.submissions]
    assert keys == ["score:incoming/new file.csv:1700000000"] * 2


def test_a_4xx_is_permanent_with_the_servers_message(aml: AzureMLFake, submitter: Factory) -> None:
    error = {"error": {"code": "UserError", "message": "Input 'score_mode' is not defined"}}
    aml.script_submissions(Reply(400, json=error))
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter())
    assert str(caught.value) == "HTTP 400: Input 'score_mode' is not defined"
    assert len(aml.submissions) == 1


def test_a_200_without_a_job_name_is_permanent_and_says_what_was_expected(
    aml: AzureMLFake, submitter: Factory
) -> None:
    aml.script_submissions(Reply(200, json={"properties": {"status": "NotStarted"}}))
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter())
    assert str(caught.value).startswith(
        "HTTP 200 without a job name in the answer (expected a batch job with 'name' or 'id'; "
        "is this a batch endpoint's invocation URL, .../jobs?): {"
    )


def test_secrets_never_in_errors_or_logs(aml: AzureMLFake, submitter: Factory) -> None:
    echo = {"error": {"message": f"token {TOKEN} rejected"}}
    aml.script_submissions(
        Reply(401, json=echo),
        Reply(500, body=f"Bearer {TOKEN}".encode()),
        Reply(200, body=f"not json {TOKEN}".encode()),
    )
    sub = submitter()
    errors = []
    with capture_logs() as logs:
        for _ in range(3):
            with pytest.raises((PermanentSubmitError, TransientSubmitError)) as caught:
                submit(sub)
            errors.append(str(caught.value))
    assert errors[:2] == ["HTTP 401: token *** rejected", "HTTP 500: Bearer ***"]
    assert errors[2].endswith(": not json ***")
    assert TOKEN not in repr(logs)


# --- auth -----------------------------------------------------------------------------------


def test_bearer_token_from_env_is_read_at_each_attempt(
    aml: AzureMLFake, submitter: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = submitter(auth=EnvSecret("BATCH_TOKEN", "the bearer token"))
    monkeypatch.setenv("BATCH_TOKEN", "first-token")
    submit(sub)
    monkeypatch.setenv("BATCH_TOKEN", "rotated-token")
    submit(sub)
    assert [seen.headers["authorization"] for seen in aml.submissions] == [
        "Bearer first-token",
        "Bearer rotated-token",
    ]


def test_bearer_token_from_file(aml: AzureMLFake, submitter: Factory, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    submit(submitter(auth=FileSecret(token_file, "the bearer token")))
    assert aml.submissions[0].headers["authorization"] == "Bearer file-token"


class FakeCredential:
    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str) -> Any:
        self.scopes.append(scopes)
        return type("Token", (), {"token": "aad-token", "expires_on": 0})()


def test_from_config_azure_auth_asks_for_the_ml_audience(aml: AzureMLFake) -> None:
    pipeline = AzureMLBatchPipeline.model_validate(
        {"kind": "azureml_batch", "endpoint": aml.invocation_url, "deployment": "blue"}
    )
    sub = build_submitter(pipeline)
    assert isinstance(sub, AzureMLBatchSubmitter)
    credential = FakeCredential()
    auth = sub._auth
    assert isinstance(auth, AzureADToken)
    auth._factory = lambda: credential
    with sub:
        assert submit(sub).external_id == "batchjob-1"
    assert credential.scopes == [("https://ml.azure.com/.default",)]
    assert aml.submissions[0].headers["authorization"] == "Bearer aad-token"
    assert aml.submissions[0].headers["azureml-model-deployment"] == "blue"


def test_from_config_bearer_from_env(aml: AzureMLFake, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = AzureMLBatchPipeline.model_validate(
        {
            "kind": "azureml_batch",
            "endpoint": aml.invocation_url,
            "experiment_name": "scoring",
            "auth": {"kind": "bearer", "token_env": "BATCH_TOKEN"},
        }
    )
    monkeypatch.setenv("BATCH_TOKEN", "env-token")
    sub = build_submitter(pipeline)
    assert isinstance(sub, AzureMLBatchSubmitter)
    with sub:
        submit(sub)
    [seen] = aml.submissions
    assert seen.headers["authorization"] == "Bearer env-token"
    assert seen.json()["properties"]["properties"] == {"experimentName": "scoring"}


# --- the fake's status routes (what the follower reads) -------------------------------------


def test_the_fake_scripts_job_and_run_statuses(aml: AzureMLFake) -> None:
    aml.job_statuses("batchjob-1", "Running", "Completed")
    aml.run_statuses("run-1", run_body("run-1", "Failed", error="Out of memory"))
    aml.job_statuses("batchjob-2", Reply(429, headers={"Retry-After": "1"}), "Failed")
    with httpx.Client() as http:
        seen = [http.get(aml.job_url("batchjob-1")).json()["properties"]["status"] for _ in "abc"]
        assert seen == ["Running", "Completed", "Completed"]
        run = http.get(aml.run_url("run-1")).json()
        assert (run["status"], run["error"]["error"]["message"]) == ("Failed", "Out of memory")
        throttled = http.get(aml.job_url("batchjob-2"))
        assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "1")
        assert http.get(aml.job_url("batchjob-2")).json() == job_body("batchjob-2", "Failed")
        missing = http.get(aml.job_url("nope"))
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "nope not found"
