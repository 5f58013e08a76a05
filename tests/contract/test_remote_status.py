"""Reading the status of a submitted Azure ML run, against a real local server: the v1 pipeline
run and the v2 batch job, every remote status, errors, Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.azureml_status_fake import WORKSPACE, Status, StatusFake
from tests.support.httpserver import refused_url
from triggerd.runs import RunRecord, RunStatus, TriggerKind
from triggerd.submitters.httpcommon import EnvSecret
from triggerd.submitters.remote_status import (
    BatchJobStatus,
    PipelineRunStatus,
    StatusError,
    final_status,
    read_state,
)

T0 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
TOKEN = "st4tus-t0ken-value"


def run(external_id: str | None = "run-1", remote_id: str | None = None) -> RunRecord:
    return RunRecord(
        id=1, schedule="s", trigger=TriggerKind.TIME, fire_key="s:1", scheduled_for=T0,
        status=RunStatus.SUBMITTED, reason=None, parameters={}, data_path=None, attempts=1,
        created_at=T0, started_at=T0, finished_at=T0, next_attempt_at=None, claimed_by=None,
        claim_expires_at=None, external_id=external_id, exit_code=None, error=None, output=None,
        remote_id=remote_id, follow_next_at=T0, follow_until=T0 + timedelta(hours=1),
    )  # fmt: skip


@pytest.fixture
def fake() -> Iterator[StatusFake]:
    with StatusFake() as server:
        yield server


@pytest.fixture
def v1(fake: StatusFake, monkeypatch: pytest.MonkeyPatch) -> Iterator[PipelineRunStatus]:
    monkeypatch.setenv("TEST_STATUS_TOKEN", TOKEN)
    endpoint = f"{fake.url}/pipelines/v1.0{WORKSPACE}/PipelineRuns/PipelineSubmit/p-1"
    client = PipelineRunStatus(
        endpoint, EnvSecret("TEST_STATUS_TOKEN"), timeout=timedelta(seconds=5)
    )
    yield client
    client.close()


@pytest.mark.parametrize(
    ("remote", "final"),
    [
        ("NotStarted", None),
        ("Starting", None),
        ("Provisioning", None),
        ("Preparing", None),
        ("Queued", None),
        ("Running", None),
        ("Finalizing", None),
        ("CancelRequested", None),
        ("NotResponding", None),
        ("Paused", None),
        ("Unknown", None),
        ("SomethingNew", None),
        ("Completed", RunStatus.SUCCEEDED),
        ("completed", RunStatus.SUCCEEDED),
        ("Failed", RunStatus.FAILED),
        ("Canceled", RunStatus.CANCELED),
    ],
)
def test_every_remote_status_maps_to_an_end_or_to_not_yet(
    remote: str, final: RunStatus | None, fake: StatusFake, v1: PipelineRunStatus
) -> None:
    assert final_status(remote) is final
    fake.script("run-1", Status(remote))
    state = v1.check(run())
    assert (state.status, state.final) == (remote, final)


def test_v1_reads_the_run_history_of_the_endpoints_workspace_with_the_token(
    fake: StatusFake, v1: PipelineRunStatus
) -> None:
    fake.script("run-1", Status("Failed", error="Step 'train' failed: ValueError: bad rows"))
    state = v1.check(run())
    assert state.final is RunStatus.FAILED
    assert state.error == "UserError: Step 'train' failed: ValueError: bad rows"
    assert state.url == (
        "https://ml.azure.com/runs/run-1?wsid=/subscriptions/sub-1/resourcegroups/rg-1"
        "/workspaces/ws-1"
    )
    [(run_id, headers)] = fake.checks
    assert run_id == "run-1"
    assert headers["authorization"] == f"Bearer {TOKEN}"


def test_v2_reads_the_job_named_by_its_arm_id_and_accepts_the_job_shape(
    fake: StatusFake,
) -> None:
    client = BatchJobStatus(f"{fake.url}/jobs", None, timeout=timedelta(seconds=5))
    job = run(external_id="job-7", remote_id=f"{WORKSPACE}/jobs/job-7")
    fake.script("job-7", Status("Running", shape="job"), Status("Completed"))
    first, second = client.check(job), client.check(job)
    client.close()
    assert (first.status, first.final) == ("Running", None)
    assert (second.status, second.final, second.error) == ("Completed", RunStatus.SUCCEEDED, None)
    assert second.url is not None and second.url.startswith("https://ml.azure.com/runs/job-7?")
    assert "authorization" not in fake.checks[0][1]


def test_v2_without_a_job_id_or_region_cannot_be_followed(fake: StatusFake) -> None:
    client = BatchJobStatus(f"{fake.url}/jobs", None, timeout=timedelta(seconds=5))
    with pytest.raises(StatusError, match="no job id"):
        client.check(run(external_id="job-7", remote_id=None))
    remote = BatchJobStatus("https://x.example.com/jobs", None, timeout=timedelta(seconds=5))
    with pytest.raises(StatusError, match="region is unknown"):
        remote.check(run(remote_id=f"{WORKSPACE}/jobs/job-7"))
    assert fake.checks == []


def test_a_batch_endpoint_host_gives_the_regions_run_history() -> None:
    client = BatchJobStatus(
        "https://score.westeurope.inference.ml.azure.com/jobs", None, timeout=timedelta(seconds=1)
    )
    url, _ = client.run_ref(run(remote_id=f"{WORKSPACE}/jobs/job-7"))
    assert url == f"https://westeurope.api.azureml.ms/history/v1.0{WORKSPACE}/runs/job-7"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Status(http=503, headers={"Retry-After": "7"}), "HTTP 503: status 503"),
        (Status(http=429, headers={"Retry-After": "120"}), "HTTP 429: status 429"),
        (Status(http=401), "HTTP 401: status 401"),
        (Status(http=404), "HTTP 404: status 404"),
    ],
)
def test_a_failed_status_request_says_why_and_carries_retry_after(
    answer: Status, message: str, fake: StatusFake, v1: PipelineRunStatus
) -> None:
    fake.script("run-1", answer)
    with pytest.raises(StatusError) as raised:
        v1.check(run())
    assert str(raised.value) == message
    wanted = answer.headers.get("Retry-After")
    assert raised.value.retry_after == (timedelta(seconds=int(wanted)) if wanted else None)


def test_retry_after_on_a_running_answer_is_kept(fake: StatusFake, v1: PipelineRunStatus) -> None:
    fake.script("run-1", Status("Queued", headers={"Retry-After": "30"}))
    assert v1.check(run()).retry_after == timedelta(seconds=30)


def test_an_unknown_run_and_an_unreachable_server_are_status_errors(
    fake: StatusFake, v1: PipelineRunStatus
) -> None:
    with pytest.raises(StatusError, match="HTTP 404: no such run"):
        v1.check(run("missing"))
    endpoint = f"{refused_url()}{WORKSPACE}/PipelineRuns/PipelineSubmit/p-1"
    away = PipelineRunStatus(endpoint, None, timeout=timedelta(seconds=5))
    with pytest.raises(StatusError, match=r"^GET http://127\.0\.0\.1:\d+/history/.* failed"):
        away.check(run())
    away.close()


def test_the_token_never_reaches_an_error(v1: PipelineRunStatus, fake: StatusFake) -> None:
    fake.script("run-1", Status("Failed", error=f"denied for Bearer {TOKEN}"))
    state = v1.check(run())
    assert state.error is not None and TOKEN not in state.error


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        ({"status": "Failed"}, "Failed", "the Azure ML run ended Failed"),
        ({"status": "Failed", "error": {"message": "x"}}, "Failed", "x"),
        ({"properties": {"status": "Canceled"}}, "Canceled", None),
        ({"status": "Completed", "error": {"error": {"message": "ignored"}}}, "Completed", None),
    ],
)
def test_read_state_takes_both_shapes(answer: dict[str, object], status: str, error: str) -> None:
    state = read_state(answer, None)
    assert (state.status, state.error) == (status, error)


@pytest.mark.parametrize("answer", [[], {"status": ""}, {"properties": {}}, None])
def test_an_answer_without_a_status_is_an_error(answer: object) -> None:
    with pytest.raises(StatusError, match="status"):
        read_state(answer, None)


def test_an_endpoint_without_a_workspace_cannot_be_followed() -> None:
    client = PipelineRunStatus(
        "http://127.0.0.1:1/PipelineRuns/PipelineSubmit/p", None, timeout=timedelta(seconds=1)
    )
    with pytest.raises(StatusError, match="names no workspace"):
        client.check(replace(run()))
