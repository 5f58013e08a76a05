"""The CLI contract: command names, --json shapes, exit codes (click's CliRunner, real SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd.cli import main
from triggerd.clock import utcnow
from triggerd.runs import NewRun
from triggerd.store import instances, open_store, outbox, states

NATIVE = """
pipelines:
  job:
    kind: command
    argv: [echo, "{greeting}"]
datastores:
  inbox: {kind: local, path: ./inbox}
schedules:
  - name: every-minute
    pipeline: job
    recurrence: {frequency: Minute, interval: 1, time_zone: W. Europe Standard Time}
    pipeline_parameters: {greeting: hi}
  - name: new-files
    pipeline: job
    datastore: inbox
    path_on_datastore: incoming
    data_path_parameter_name: greeting
"""

AZUREML = """
Schedule:
  description: Nightly report, Azure ML style
  recurrence:
    frequency: Day
    interval: 1
    start_time: "2024-03-01T00:00:00"
    time_zone: Pacific Standard Time
    hours: [2]
    minutes: [30]
    time_of_day: ~
    week_days: ~
  pipeline_parameters: {greeting: night}
  wait_for_provisioning: false
  wait_timeout: 3600
  datastore_name: ~
  polling_interval: ~
  data_path_parameter_name: ~
  continue_on_step_failure: None
  path_on_datastore: ~
  pipeline_id: job
  experiment_name: nightly
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "triggerd.yaml").write_text(NATIVE, encoding="utf-8")
    (directory / "nightly-report.yaml").write_text(AZUREML, encoding="utf-8")
    return directory


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """The state directory's database, created as the daemon's first start creates it."""
    path = (tmp_path / "state" / "triggerd.db").resolve()
    open_store(f"sqlite:///{path}", daemon=True).close()
    return path


@pytest.fixture
def invoke(config_dir: Path, tmp_path: Path) -> Any:
    def run(*args: str) -> Result:
        full = [*args, "--config", str(config_dir), "--state-dir", str(tmp_path / "state")]
        return CliRunner().invoke(main, full, catch_exceptions=False)

    return run


def test_next_on_an_azureml_schedule_yaml_crosses_spring_forward(invoke: Any) -> None:
    result = invoke("next", "nightly-report", "--after", "2024-03-08T12:00:00Z", "--count", "4")
    assert result.exit_code == 0, result.output
    assert result.output.split() == [
        "2024-03-09T02:30:00-08:00",
        "2024-03-10T03:30:00-07:00",  # 02:30 does not exist that night in Los Angeles
        "2024-03-11T02:30:00-07:00",
        "2024-03-12T02:30:00-07:00",
    ]


def test_next_json_lists_times_strictly_after(invoke: Any) -> None:
    result = invoke(
        "next", "nightly-report", "--after", "2024-11-03T02:30:00-08:00", "--count", "2", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "schedule": "nightly-report",
        "times": ["2024-11-04T02:30:00-08:00", "2024-11-05T02:30:00-08:00"],
    }


def test_next_of_a_datastore_schedule_says_why_not(invoke: Any) -> None:
    result = invoke("next", "new-files")
    assert result.exit_code == 1
    assert "datastore schedule" in result.output


def test_an_unknown_schedule_is_named(invoke: Any) -> None:
    result = invoke("next", "nope")
    assert result.exit_code == 1
    assert "no schedule named 'nope'" in result.output


@pytest.mark.usefixtures("database")
def test_schedules_list_json(invoke: Any) -> None:
    result = invoke("schedules", "list", "--json")
    assert result.exit_code == 0, result.output
    items = {i["name"]: i for i in json.loads(result.output)}
    assert set(items) == {"every-minute", "new-files", "nightly-report"}
    nightly = items["nightly-report"]
    assert (nightly["pipeline"], nightly["trigger"], nightly["status"]) == (
        "job",
        "recurrence",
        "Active",
    )
    assert nightly["next_fire"].endswith(("T02:30:00-08:00", "T02:30:00-07:00", "T03:30:00-07:00"))
    assert nightly["last_run"] is None
    assert items["new-files"]["trigger"] == "datastore"
    assert items["new-files"]["next_fire"] is None
    assert {"last_poll", "entries"} <= set(items["new-files"])


def test_disable_and_enable_show_in_the_list(invoke: Any) -> None:
    assert invoke("schedules", "disable", "every-minute").exit_code == 0
    items = {i["name"]: i for i in json.loads(invoke("schedules", "list", "--json").output)}
    assert items["every-minute"]["status"] == "Disabled"
    assert items["every-minute"]["next_fire"] is None
    assert invoke("schedules", "enable", "every-minute").exit_code == 0
    items = {i["name"]: i for i in json.loads(invoke("schedules", "list", "--json").output)}
    assert items["every-minute"]["status"] == "Active"


def test_trigger_records_a_manual_run_with_overrides(invoke: Any) -> None:
    result = invoke("schedules", "trigger", "every-minute", "--param", "greeting=x; rm -rf ~")
    assert result.exit_code == 0, result.output
    [run] = json.loads(invoke("runs", "list", "--json").output)
    assert run["trigger"] == "manual"
    assert run["status"] == "pending"
    assert run["fire_key"].startswith("every-minute:manual:")
    assert run["parameters"] == {"greeting": "x; rm -rf ~"}
    assert set(run) >= {
        "id", "schedule", "status", "trigger", "fire_key", "scheduled_for", "data_path",
        "parameters", "attempts", "created_at", "finished_at", "error", "external_id",
    }  # fmt: skip


def test_trigger_with_a_data_path_binds_the_datastore(invoke: Any, config_dir: Path) -> None:
    (config_dir / "inbox" / "incoming").mkdir(parents=True)
    (config_dir / "inbox" / "incoming" / "a b.csv").write_text("x")
    result = invoke("schedules", "trigger", "new-files", "--data-path", "incoming/a b.csv")
    assert result.exit_code == 0, result.output
    [run] = json.loads(invoke("runs", "list", "--json").output)
    assert run["data_path"] == {"datastore": "inbox", "relative_path": "incoming/a b.csv"}


def test_trigger_rejects_a_data_path_on_a_time_schedule(invoke: Any) -> None:
    result = invoke("schedules", "trigger", "every-minute", "--data-path", "a.csv")
    assert result.exit_code == 2
    assert "watches no datastore" in result.output


def test_runs_show_and_retry(invoke: Any, tmp_path: Path) -> None:
    invoke("schedules", "trigger", "every-minute")
    store = open_store(f"sqlite:///{(tmp_path / 'state' / 'triggerd.db').resolve()}")
    try:
        run = store.write(outbox.claim_next, "test", utcnow())
        assert run is not None
        store.write(outbox.finish, run.id, status="failed", now=utcnow(), exit_code=3, error="boom")
    finally:
        store.close()
    shown = json.loads(invoke("runs", "show", str(run.id), "--json").output)
    assert (shown["status"], shown["exit_code"], shown["error"]) == ("failed", 3, "boom")
    failed = json.loads(invoke("runs", "list", "--status", "failed", "--json").output)
    assert [r["id"] for r in failed] == [run.id]
    retried = invoke("runs", "retry", str(run.id))
    assert retried.exit_code == 0
    assert f"run {run.id} is pending again" in retried.output
    again = invoke("runs", "retry", str(run.id))
    assert again.exit_code == 1
    assert "only a failed run can be retried" in again.output
    missing = invoke("runs", "show", "999")
    assert missing.exit_code == 1
    assert "no run with id 999" in missing.output


@pytest.mark.usefixtures("database")
def test_check_fails_without_a_daemon(invoke: Any) -> None:
    result = invoke("check")
    assert result.exit_code == 1
    assert "no daemon is running" in result.output


def test_check_passes_with_a_fresh_heartbeat(invoke: Any, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{(tmp_path / 'state' / 'triggerd.db').resolve()}")
    try:
        store.write(instances.register, utcnow(), 1234)
    finally:
        store.close()
    result = invoke("check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("healthy")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "TRIGGERD_SHUTDOWN_GRACE",
            "soon",
            "TRIGGERD_SHUTDOWN_GRACE: Value error, ",  # the wording is the duration parser's
        ),
        (
            "TRIGGERD_CONCURRENCY",
            "0",
            "TRIGGERD_CONCURRENCY: Input should be greater than or equal",
        ),
        ("TRIGGERD_LOG_FORMAT", "xml", "TRIGGERD_LOG_FORMAT: Input should be 'auto', 'json'"),
        (
            "TRIGGERD_HTTP_ADDRESS",
            "9464",
            "TRIGGERD_HTTP_ADDRESS: Value error, HTTP address '9464'",
        ),
    ],
)
def test_a_bad_setting_names_its_variable(
    config_dir: Path, variable: str, value: str, message: str
) -> None:
    result = CliRunner().invoke(
        main, ["validate", "--config", str(config_dir)], env={variable: value}
    )
    assert result.exit_code == 2
    assert result.output.startswith(message)


def test_backfill_records_only_the_missing_slots(invoke: Any, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{(tmp_path / 'state' / 'triggerd.db').resolve()}")
    try:
        store.write(states.ensure, "nightly-report", utcnow())
        done = NewRun(
            "nightly-report", "time", "nightly-report:2024-03-09T10:30:00Z",
            datetime(2024, 3, 9, 10, 30, tzinfo=UTC), {},
        )  # fmt: skip
        missed = NewRun(
            "nightly-report", "time", "nightly-report:2024-03-10T10:30:00Z",
            datetime(2024, 3, 10, 10, 30, tzinfo=UTC), {}, status="skipped",
            reason="missed: the daemon was not running (catchup: none)",
        )  # fmt: skip
        [run_id] = store.record_fires(
            "nightly-report", [done, missed], cursor_at=None, now=utcnow()
        )
        store.write(outbox.claim_next, "test", utcnow())
        store.write(outbox.finish, run_id, status="succeeded", now=utcnow())
    finally:
        store.close()
    window = ["--from", "2024-03-08T00:00:00-08:00", "--to", "2024-03-11T12:00:00Z"]
    dry = json.loads(
        invoke("schedules", "backfill", "nightly-report", *window, "--dry-run", "--json").output
    )
    assert [(s["scheduled_for"], s["action"]) for s in dry["slots"]] == [
        ("2024-03-08T02:30:00-08:00", "record"),
        ("2024-03-09T02:30:00-08:00", "leave (succeeded)"),
        ("2024-03-10T03:30:00-07:00", "run skipped slot"),  # 02:30 does not exist that night
        ("2024-03-11T02:30:00-07:00", "record"),
    ]
    assert json.loads(invoke("runs", "list", "--json").output)[0]["status"] == "skipped"
    result = invoke("schedules", "backfill", "nightly-report", *window)
    assert result.exit_code == 0, result.output
    assert "recorded 3 of 4 slots" in result.output
    runs = {r["fire_key"]: r["status"] for r in json.loads(invoke("runs", "list", "--json").output)}
    assert runs == {
        "nightly-report:2024-03-08T10:30:00Z": "pending",
        "nightly-report:2024-03-09T10:30:00Z": "succeeded",
        "nightly-report:2024-03-10T10:30:00Z": "pending",
        "nightly-report:2024-03-11T09:30:00Z": "pending",
    }
    again = invoke("schedules", "backfill", "nightly-report", *window)
    assert "recorded 0 of 4 slots" in again.output


def test_backfill_refuses_future_slots(invoke: Any) -> None:
    result = invoke(
        "schedules", "backfill", "nightly-report", "--from", "2024-01-01", "--to", "2999-01-01"
    )
    assert result.exit_code == 2
    assert "backfill records past slots only" in result.output
