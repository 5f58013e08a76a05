"""`triggerd status`: the daemons on the database, what they hold, their config against the
files on disk, their last reload; exit 0 only with a healthy daemon (click's CliRunner, real
SQLite, the rows written by the daemon's own code)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd import __version__
from triggerd.cli import main
from triggerd.clock import utcnow
from triggerd.config import read_config
from triggerd.engine.reload import ConfigReport
from triggerd.errors import ConfigProblem
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, TriggerKind
from triggerd.store import Store, instances, leases, open_store, outbox, states

PIPELINES = """\
pipelines:
  job: {kind: command, argv: [echo, hi]}
datastores:
  inbox: {kind: local, path: ./inbox}
"""
SCHEDULES = """\
schedules:
  - name: hourly
    pipeline: job
    recurrence: {frequency: Hour, interval: 1, time_zone: W. Europe Standard Time}
  - name: new-files
    pipeline: job
    datastore: inbox
    path_on_datastore: incoming
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "pipelines.yaml").write_text(PIPELINES, encoding="utf-8")
    (directory / "schedules.yaml").write_text(SCHEDULES, encoding="utf-8")
    return directory


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = open_store(f"sqlite:///{tmp_path / 'state' / 'triggerd.db'}", daemon=True)
    yield opened
    opened.close()


@pytest.fixture
def invoke(config_dir: Path, tmp_path: Path) -> Any:
    def run(*args: str) -> Result:
        full = [
            "status",
            *args,
            "--config",
            str(config_dir),
            "--state-dir",
            str(tmp_path / "state"),
        ]
        return CliRunner().invoke(main, full, catch_exceptions=False)

    return run


def start_daemon(store: Store, config_dir: Path, *, ago: timedelta = timedelta(0)) -> str:
    """What a daemon writes when it starts on ``config_dir``, ``ago`` before now."""
    started = utcnow() - ago
    instance = store.write(instances.register, started, 4242)
    report = ConfigReport(store, instance, clock=lambda: started, metrics=Metrics())
    report.started(read_config(config_dir).files)
    return instance


def test_a_healthy_daemon_with_what_it_holds_and_its_config_same_as_on_disk(
    invoke: Any, store: Store, config_dir: Path
) -> None:
    me = start_daemon(store, config_dir)
    now = utcnow()
    store.write(leases.acquire, "poll:new-files", me, now, timedelta(seconds=30))
    store.write(states.ensure, "hourly", now)
    store.record_fires(
        "hourly", [NewRun("hourly", TriggerKind.TIME, "hourly:1", now, {})], cursor_at=now, now=now
    )
    run = store.write(outbox.claim_next, me, now)
    assert run is not None

    result = invoke("--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["healthy"] is True
    assert shown["heartbeat_limit_s"] == 15.0
    assert shown["config_path"] == str(config_dir)
    [daemon] = shown["daemons"]
    assert (daemon["id"], daemon["pid"], daemon["version"]) == (me, 4242, __version__)
    assert (daemon["healthy"], daemon["stopped"], daemon["stopped_at"]) == (True, False, None)
    assert 0 <= daemon["heartbeat_age_s"] < 15
    assert [lease["name"] for lease in daemon["leases"]] == ["poll:new-files"]
    assert daemon["claimed_runs"] == {"count": 1, "runs": [{"id": run.id, "schedule": "hourly"}]}
    config = daemon["config"]
    assert config["digest"] == shown["disk"]["digest"]
    assert [f["path"] for f in config["files"]] == [
        str(config_dir / "pipelines.yaml"),
        str(config_dir / "schedules.yaml"),
    ]
    assert (config["disk"], config["changed"], config["added"], config["removed"]) == (
        "same",
        [],
        [],
        [],
    )
    assert daemon["reload"] is None

    text = invoke()
    assert text.exit_code == 0
    assert f"daemon {me}  healthy" in text.stdout
    assert "1: poll:new-files (until " in text.stdout
    assert f"1 running: #{run.id} hourly" in text.stdout
    assert "the same as on disk" in text.stdout


def test_a_broken_file_on_disk_and_a_refused_reload(
    invoke: Any, store: Store, config_dir: Path
) -> None:
    me = start_daemon(store, config_dir)
    (config_dir / "schedules.yaml").write_text("schedules: [\n", encoding="utf-8")
    (config_dir / "more.yml").write_text("schedules: []\n", encoding="utf-8")
    (config_dir / "pipelines.yaml").unlink()
    problem = ConfigProblem(str(config_dir / "schedules.yaml"), "", "YAML: not closed", 2)
    ConfigReport(store, me, clock=utcnow, metrics=Metrics()).refused([problem])

    result = invoke("--json")
    assert result.exit_code == 0, result.output  # refused: the daemon runs on the last good one
    [daemon] = json.loads(result.stdout)["daemons"]
    config = daemon["config"]
    assert (config["disk"], config["changed"], config["added"], config["removed"]) == (
        "differs",
        [str(config_dir / "schedules.yaml")],
        [str(config_dir / "more.yml")],
        [str(config_dir / "pipelines.yaml")],
    )
    reload = daemon["reload"]
    assert (reload["result"], reload["problems"]) == ("refused", [str(problem)])

    text = invoke().stdout
    assert "differs from the files on disk now" in text
    assert f"changed: {config_dir / 'schedules.yaml'}" in text
    assert f"removed: {config_dir / 'pipelines.yaml'}" in text
    assert " refused\n" in text and f"{config_dir / 'schedules.yaml'}:2: YAML: not closed" in text


def test_without_a_healthy_daemon_it_exits_1(invoke: Any, store: Store, config_dir: Path) -> None:
    silent = start_daemon(store, config_dir, ago=timedelta(minutes=2))
    stopped = start_daemon(store, config_dir, ago=timedelta(minutes=30))
    store.write(instances.stop, stopped, utcnow() - timedelta(minutes=10))
    long_gone = start_daemon(store, config_dir, ago=timedelta(hours=3))
    store.write(instances.stop, long_gone, utcnow() - timedelta(hours=2))

    result = invoke("--json")
    assert result.exit_code == 1
    shown = json.loads(result.stdout)
    assert shown["healthy"] is False
    by_id = {d["id"]: d for d in shown["daemons"]}
    assert list(by_id) == [stopped, silent]  # oldest first; the one stopped 2 h ago is gone
    assert (by_id[silent]["healthy"], by_id[silent]["stopped"]) == (False, False)
    assert by_id[silent]["heartbeat_age_s"] >= 120
    assert (by_id[stopped]["healthy"], by_id[stopped]["stopped"]) == (False, True)

    text = invoke()
    assert text.exit_code == 1
    assert f"daemon {silent}  unhealthy: no heartbeat for 2m" in text.stdout
    assert f"daemon {stopped}  stopped at " in text.stdout


def test_no_daemon_on_the_database(invoke: Any, store: Store) -> None:
    result = invoke()
    assert result.exit_code == 1
    assert "no daemon on this database" in result.stdout
    shown = json.loads(invoke("--json").stdout)
    assert (shown["healthy"], shown["daemons"]) == (False, [])


def test_it_never_creates_the_database(invoke: Any, tmp_path: Path) -> None:
    result = invoke()
    assert result.exit_code == 1
    assert "no triggerd database at" in result.output
    assert not (tmp_path / "state").exists()
