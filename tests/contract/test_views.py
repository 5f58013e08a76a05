"""The views say what the CLI's ``--json`` says: for the same database and config, each view
function returns what its command prints (the promise the daemon's API relies on: the page and
scripts agree). On SQLite and PostgreSQL; the real CLI (click's CliRunner) on the same database,
the rows written by triggerd's own code (a real poller over a real folder); one frozen clock
for both sides (next fires and heartbeat ages are counted from now)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from triggerd.cli import main
from triggerd.config import Config, load_config, read_config
from triggerd.engine.poller import DatastorePoller
from triggerd.engine.reload import ConfigReport
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, TriggerKind
from triggerd.settings import Settings
from triggerd.store import Store, instances, leases, outbox, states
from triggerd.views.daemons import status_view
from triggerd.views.runs import run_items, run_view
from triggerd.views.schedule import gather
from triggerd.views.schedules import schedule_items

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)

CONFIG = """
datastores:
  inbox: {{kind: local, path: {root}}}
  landing:
    kind: azure_blob
    container: landing
    account_url: https://acct.blob.core.windows.net
    events: {{queue: landing-events}}
pipelines:
  job: {{kind: command, argv: [echo, "{{f}}"], cwd: "."}}
schedules:
  - name: files
    pipeline: job
    description: new files of the inbox
    datastore: inbox
    path_on_datastore: incoming
    polling_interval: 1m
    data_path_parameter_name: f
  - name: landed
    pipeline: job
    datastore: landing
    data_path_parameter_name: f
  - name: nightly
    pipeline: job
    pipeline_parameters: {{f: none}}
    recurrence:
      frequency: Day
      interval: 1
      time_zone: Europe/Berlin
      start_time: "2026-03-01T02:30:00"
  - name: hourly
    pipeline: job
    pipeline_parameters: {{f: none}}
    recurrence: {{frequency: Hour, interval: 1, time_zone: W. Europe Standard Time}}
  - name: weekdays
    pipeline: job
    pipeline_parameters: {{f: none}}
    cron: {{expression: "30 7 * * 1-5", time_zone: Europe/Berlin, end_time: "2026-03-20T00:00"}}
"""


class World:
    """A config, its inbox folder, and the database ``store`` of ``url`` filled by triggerd's
    own code: polls of ``files``, time runs (one finished, one retried), an override, a
    daemon holding a lease and a run."""

    def __init__(self, tmp_path: Path, store: Store, url: str) -> None:
        self.store, self.url = store, url
        self.folder = tmp_path / "inbox" / "incoming"
        self.folder.mkdir(parents=True)
        self.config_path = tmp_path / "triggerd.yaml"
        text = CONFIG.format(root=json.dumps(str(tmp_path / "inbox")))
        self.config_path.write_text(text, encoding="utf-8")
        self.config: Config = load_config(self.config_path)
        self._mtime = 1_700_000_000 * 10**9

    def fill(self) -> None:
        self._polls()
        start = NOW - timedelta(days=2)
        for name in ("hourly", "nightly", "landed"):
            self.store.write(states.ensure, name, start)
        self.store.write(
            states.set_override, "nightly", False, note="disk full", by="alice", now=start
        )
        slots = [NOW - timedelta(hours=hours) for hours in (3, 2, 1)]
        fires = [NewRun("hourly", TriggerKind.TIME, f"hourly:{s}", s, {"f": "n"}) for s in slots]
        self.store.record_fires("hourly", fires, cursor_at=slots[-1], now=slots[-1])
        me = self._daemon()
        self._attempt(me, "succeeded")  # the file's run
        retried = self._attempt(me, "failed")  # the oldest hourly run: failed, then retried
        self.store.write(outbox.retry_run, retried)
        assert self._attempt(me, None) == retried  # running again, held by the daemon
        self._attempt(me, "failed")  # the next hourly run; the last one stays pending

    def _attempt(self, me: str, status: str | None) -> int:
        run = self.store.write(outbox.claim_next, me, NOW)
        assert run is not None
        if status is not None:
            code = 0 if status == "succeeded" else 1
            self.store.write(
                outbox.finish, run.id, status=status, now=NOW, exit_code=code, output="a\nb"
            )
        return run.id

    def _polls(self) -> None:
        clock = [NOW - timedelta(minutes=10)]
        poller = DatastorePoller(
            self.config.schedules["files"],
            self.config,
            self.store,
            clock=lambda: clock[0],
            is_enabled=lambda: True,
        )
        for names in (["baseline.csv"], ["fired.csv", "upload.tmp"], [], ["growing.csv"]):
            for name in names:
                self._write(name)
            clock[0] += timedelta(minutes=1)
            poller.poll()

    def _write(self, name: str) -> None:
        path = self.folder / name
        path.write_text("x", encoding="utf-8")
        self._mtime += 10**9
        os.utime(path, ns=(self._mtime, self._mtime))

    def _daemon(self) -> str:
        started = NOW - timedelta(seconds=5)
        me = self.store.write(instances.register, started, 4242)
        report = ConfigReport(self.store, me, clock=lambda: started, metrics=Metrics())
        report.started(read_config(self.config_path).files)
        self.store.write(leases.acquire, "poll:files", me, NOW, timedelta(seconds=30))
        return me

    def cli(self, *args: str, code: int = 0) -> Any:
        """What the command prints with --json, read back."""
        full = [*args, "--json", "--config", str(self.config_path), "--database", self.url]
        result = CliRunner().invoke(main, full, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)


def same(view: Any) -> Any:
    """``view`` as the CLI prints it (`print_json`), read back."""
    return json.loads(json.dumps(view, default=str))


@pytest.fixture
def world(tmp_path: Path, store: Store, store_url: str) -> Iterator[World]:
    filled = World(tmp_path, store, store_url)
    filled.fill()
    with freeze_time(NOW):
        yield filled


def test_schedule_items_are_schedules_list(world: World) -> None:
    items = schedule_items(world.store, world.config)
    assert world.cli("schedules", "list") == same(items)
    assert [i["name"] for i in items] == ["files", "landed", "nightly", "hourly", "weekdays"]
    assert items[2]["override"]["note"] == "disk full"  # the state is in the view
    assert items[1]["events"]["queue"] == "landing-events"


@pytest.mark.parametrize(
    ("name", "shown"),  # ``shown``: a field with something in it, the state is in the view
    [
        ("files", "not_fired"),
        ("landed", "events"),
        ("nightly", "first_seen_at"),
        ("hourly", "runs"),
        ("weekdays", "definition"),
    ],
)
def test_gather_is_schedules_describe(world: World, name: str, shown: str) -> None:
    schedule = world.config.schedules[name]
    view = gather(world.store, schedule, NOW, events=world.config.events_of(schedule))
    assert world.cli("schedules", "describe", name) == same(view)
    assert view[shown]


def test_status_view_is_status(world: World) -> None:
    settings = Settings.model_validate({"config": world.config_path})
    view = status_view(world.store, world.config_path, settings.heartbeat_interval, NOW)
    assert world.cli("status") == same(view)
    [daemon] = view["daemons"]
    assert (view["healthy"], daemon["claimed_runs"]["count"], len(daemon["leases"])) == (
        True,
        1,
        1,
    )


FILTERS: list[tuple[list[str], dict[str, Any]]] = [
    ([], {}),
    (["--schedule", "hourly", "--limit", "2"], {"schedule": "hourly", "limit": 2}),
    (["--status", "failed"], {"status": "failed"}),
    (["--trigger", "datastore"], {"trigger": "datastore"}),
    (["--file", "fired"], {"file": "fired"}),
    (["--since", "2026-03-28T11:30:00"], {"since": datetime(2026, 3, 28, 11, 30, tzinfo=UTC)}),
    (
        ["--until", "2026-03-28T12:30:00+01:00"],
        {"until": datetime(2026, 3, 28, 11, 30, tzinfo=UTC)},
    ),
]


@pytest.mark.parametrize(("flags", "filters"), FILTERS)
def test_run_items_are_runs_list(world: World, flags: list[str], filters: dict[str, Any]) -> None:
    assert world.cli("runs", "list", *flags) == same(run_items(world.store, **filters))


def test_the_filters_of_run_items_do_filter(world: World) -> None:
    everything = run_items(world.store)
    assert len(everything) == 4
    assert len(run_items(world.store, schedule="hourly", limit=2)) == 2
    assert [r["status"] for r in everything] == ["pending", "failed", "running", "succeeded"]
    assert [r["id"] for r in run_items(world.store, status="failed")] == [3]
    assert [r["trigger"] for r in run_items(world.store, trigger="datastore")] == ["datastore"]
    assert [r["id"] for r in run_items(world.store, file="fired")] == [1]
    half_past = datetime(2026, 3, 28, 11, 30, tzinfo=UTC)  # the hourly runs were recorded at 11
    assert [r["id"] for r in run_items(world.store, since=half_past)] == [1]
    assert [r["id"] for r in run_items(world.store, until=half_past)] == [4, 3, 2]


def test_run_view_is_runs_show(world: World) -> None:
    for item in run_items(world.store):
        view = run_view(world.store, item["id"])
        assert world.cli("runs", "show", str(item["id"])) == same(view)
    retried = run_view(world.store, 2)
    assert retried is not None and retried["history"]  # its earlier attempt


def test_run_view_of_no_run_is_none(world: World) -> None:
    assert run_view(world.store, 999) is None
    full = ["runs", "show", "999", "--json", "--config", str(world.config_path)]
    result = CliRunner().invoke(main, [*full, "--database", world.url])
    assert (result.exit_code, result.stderr) == (1, "Error: no run with id 999\n")
