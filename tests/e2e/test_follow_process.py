"""Remote runs followed to their end, with the daemon as a process against a local Azure ML
fake (tests/support/azureml_status_fake.py) that speaks the run history's shapes."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import postgres
from tests.support.azureml_status_fake import WORKSPACE, Status, StatusFake
from tests.support.daemon import DaemonProcess, cli, runs_json

pytestmark = pytest.mark.e2e

ENV = {"TRIGGERD_FOLLOW_INTERVAL": "1s"}  # checks 1 s after submission, doubling from there


def write_config(tmp_path: Path, fake: StatusFake, pipeline: str = "", schedule: str = "") -> Path:
    inbox = tmp_path / "store" / "incoming"
    inbox.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
datastores:
  inbox: {{kind: local, path: {json.dumps(str(inbox.parent))}}}
pipelines:
  retrain:
    kind: azureml
    endpoint: {fake.url}/pipelines/v1.0{WORKSPACE}/PipelineRuns/PipelineSubmit/p-1
    auth: {{kind: none}}
    timeout: 5s
{pipeline}
schedules:
  - name: retrain-hourly
    pipeline: retrain
    recurrence: {{frequency: Hour, interval: 1, time_zone: W. Europe Standard Time}}
{schedule}""",
        encoding="utf-8",
    )
    return config


def show(state: Path, config: Path, run_id: int) -> dict[str, Any]:
    shown = cli("runs", "show", str(run_id), "--json", state_dir=state, config=config)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)  # type: ignore[no-any-return]


def test_a_followed_run_ends_failed_with_the_remote_message_and_a_link(tmp_path: Path) -> None:
    with StatusFake() as fake:
        fake.runs = ["run-1"]
        fake.script("run-1", Status("Queued"), Status("Running"), Status("Failed", error="OOM"))
        config, state = write_config(tmp_path, fake), tmp_path / "state"
        daemon = DaemonProcess(config, state, env=ENV)
        try:
            daemon.wait_event("run.submitted", external_id="run-1")
            assert runs_json(state, config)[0]["status"] == "submitted"  # followed meanwhile
            ended = daemon.wait_event("run.followed", timeout=60)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        finally:
            daemon.kill()
    assert (ended["status"], ended["remote_status"]) == ("failed", "Failed")
    assert ended["error"] == "UserError: OOM"
    run = show(state, config, ended["run_id"])
    assert (run["status"], run["error"], run["remote_status"]) == (
        "failed", "UserError: OOM", "Failed"
    )  # fmt: skip
    assert run["remote_url"].startswith("https://ml.azure.com/runs/run-1?wsid=/subscriptions/")
    assert run["follow_until"] is None
    text = cli("runs", "show", str(ended["run_id"]), state_dir=state, config=config).stdout
    assert "remote_status:    Failed" in text and "remote_url:" in text
    failed = cli("runs", "list", "--status", "failed", state_dir=state, config=config)
    assert "UserError: OOM" in failed.stdout


def test_a_restart_in_the_middle_of_following_ends_the_run_once(tmp_path: Path) -> None:
    with StatusFake() as fake:
        fake.runs = ["run-1"]
        fake.script("run-1", Status("Running"))
        config, state = write_config(tmp_path, fake), tmp_path / "state"
        first = DaemonProcess(config, state, env=ENV)
        try:
            first.wait_event("run.submitted")
            first.wait_for(lambda: fake.checks_of("run-1") >= 2, timeout=30, what="two checks")
        finally:
            first.kill()  # SIGKILL while following
        fake.script("run-1", Status("Completed"))
        second = DaemonProcess(config, state, env=ENV)
        try:
            ended = second.wait_event("run.followed", timeout=60)
            second.signal(signal.SIGTERM)
            assert second.wait() == 0
        finally:
            second.kill()
        submissions = len(fake.submissions)
    [run] = runs_json(state, config)
    assert (run["status"], run["remote_status"], run["attempts"]) == ("succeeded", "Completed", 1)
    assert ended["status"] == "succeeded"
    assert submissions == 1  # followed, never submitted again
    assert first.named("run.followed") == [] and len(second.named("run.followed")) == 1


def test_follow_false_keeps_the_run_submitted(tmp_path: Path) -> None:
    with StatusFake() as fake:
        fake.runs = ["run-1"]
        config = write_config(tmp_path, fake, pipeline="    follow: false\n")
        state = tmp_path / "state"
        daemon = DaemonProcess(config, state, env=ENV)
        try:
            daemon.wait_event("run.submitted")
            time.sleep(3)  # three follow intervals: a followed run would have been checked
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        finally:
            daemon.kill()
        checks = list(fake.checks)
    [run] = runs_json(state, config)
    assert (run["status"], run["remote_status"], run["follow_until"]) == ("submitted", None, None)
    assert checks == []
    assert daemon.named("run.followed") == []


def test_overlap_skip_counts_a_remote_run_still_running(tmp_path: Path) -> None:
    schedule = """  - name: new-files
    pipeline: retrain
    datastore: inbox
    path_on_datastore: incoming
    polling_interval: 1s
    data_path_parameter_name: input_data
    overlap: skip
    max_concurrent_runs: 1
"""
    with StatusFake() as fake:
        fake.runs = ["hourly-1", "run-a", "run-c"]
        fake.script("hourly-1", Status("Completed"))
        fake.script("run-a", Status("Running"))
        fake.script("run-c", Status("Completed"))
        config, state = write_config(tmp_path, fake, schedule=schedule), tmp_path / "state"
        folder = tmp_path / "store" / "incoming"
        daemon = DaemonProcess(config, state, env=ENV)
        try:
            daemon.wait_event("poll.completed", baseline=True)
            _drop(folder / "a.csv", 1)
            a = daemon.wait_event("run.submitted", external_id="run-a")
            daemon.wait_for(lambda: fake.checks_of("run-a") >= 1, what="run-a followed")
            _drop(folder / "b.csv", 2)
            daemon.wait_event("fire.skipped", schedule="new-files")
            fake.script("run-a", Status("Completed"))
            daemon.wait_event("run.followed", timeout=60, run_id=a["run_id"])
            _drop(folder / "c.csv", 3)
            daemon.wait_event("run.submitted", external_id="run-c", timeout=60)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        finally:
            daemon.kill()
    files = {r["data_path"]["relative_path"]: r for r in runs_json(state, config) if r["data_path"]}
    assert files["incoming/b.csv"]["status"] == "skipped"
    assert "1 run(s) of this schedule still running" in files["incoming/b.csv"]["reason"]
    assert files["incoming/a.csv"]["status"] == "succeeded"
    assert files["incoming/c.csv"]["status"] in ("submitted", "succeeded")


def _drop(path: Path, n: int) -> None:
    path.write_text(path.name, encoding="utf-8")
    moment = (1_700_000_000 + n) * 10**9
    os.utime(path, ns=(moment, moment))


def test_a_batch_endpoint_job_is_followed_by_its_arm_id_to_canceled(tmp_path: Path) -> None:
    batch = """  score:
    kind: azureml_batch
    endpoint: {url}/jobs
    auth: {{kind: none}}
    timeout: 5s
"""
    with StatusFake() as fake:
        fake.runs, fake.jobs = ["hourly-1"], ["batchjob-1"]
        fake.script("hourly-1", Status("Completed"))
        fake.script("batchjob-1", Status("Running", shape="job"), Status("Canceled"))
        schedule = """  - name: score-hourly
    pipeline: score
    recurrence: {frequency: Hour, interval: 1}
"""
        config = write_config(
            tmp_path, fake, pipeline=batch.format(url=fake.url), schedule=schedule
        )
        state = tmp_path / "state"
        daemon = DaemonProcess(config, state, env=ENV)
        try:
            job = daemon.wait_event("run.submitted", external_id="batchjob-1")
            ended = daemon.wait_event("run.followed", timeout=60, run_id=job["run_id"])
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
        finally:
            daemon.kill()
    assert (ended["status"], ended["remote_status"]) == ("canceled", "Canceled")
    run = show(state, config, job["run_id"])
    assert (run["status"], run["external_id"], run["error"]) == ("canceled", "batchjob-1", None)
    assert run["remote_url"].startswith("https://ml.azure.com/runs/batchjob-1?wsid=")
    canceled = runs_json(state, config, "--status", "canceled")
    assert [r["id"] for r in canceled] == [job["run_id"]]


def test_two_replicas_on_postgresql_end_a_followed_run_once(
    tmp_path: Path, pg_server: postgres.PostgresServer
) -> None:
    database = pg_server.create_database(f"follow_{uuid.uuid4().hex[:12]}")
    with StatusFake() as fake:
        fake.runs = ["run-1"]
        fake.script("run-1", *[Status("Running")] * 4, Status("Completed"))
        config = write_config(tmp_path, fake)
        replicas = [
            DaemonProcess(config, tmp_path / f"state-{i}", "--database", database, env=ENV)
            for i in range(2)
        ]
        try:
            for daemon in replicas:
                daemon.wait_event("daemon.started")

            def ended() -> list[dict[str, Any]]:
                return [e for d in replicas for e in d.named("run.followed")]

            replicas[0].wait_for(ended, timeout=90, what="run.followed")
            time.sleep(2)  # the other replica's next look: it must not record the end again
            for daemon in replicas:
                daemon.signal(signal.SIGTERM)
            assert [daemon.wait() for daemon in replicas] == [0, 0]
        finally:
            for daemon in replicas:
                daemon.kill()
        checks, submissions = fake.checks_of("run-1"), len(fake.submissions)
    assert len(ended()) == 1 and ended()[0]["status"] == "succeeded"
    assert submissions == 1
    assert checks == 5  # each answer read once: never two replicas on one check
