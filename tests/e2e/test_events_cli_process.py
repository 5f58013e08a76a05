"""What the CLI says about a schedule fed by blob events: `validate` warns of a polling_interval
that is not used, `schedules describe` and `schedules list --json` show the queue, the last
event and the last reconcile. Real processes, a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.support.daemon import cli
from triggerd.store import open_store, states

CONFIG = """\
datastores:
  landing:
    kind: azure_blob
    container: landing
    connection_string_env: TRIGGERD_TEST_UNSET_CONN
    events:
      queue: landing-events
      reconcile_interval: 2h
  plain:
    kind: local
    path: {folder}
pipelines:
  job: {{kind: command, argv: ["true"]}}
schedules:
  - name: orders
    pipeline: job
    datastore: landing
    path_on_datastore: orders
{polling}  - name: local
    pipeline: job
    datastore: plain
    polling_interval: 1
"""


def write(tmp_path: Path, *, polling: bool) -> Path:
    path = tmp_path / "config" / "s.yaml"
    path.parent.mkdir(exist_ok=True)
    (tmp_path / "in").mkdir(exist_ok=True)
    text = CONFIG.format(
        folder=json.dumps(str(tmp_path / "in")),
        polling="    polling_interval: 10\n" if polling else "",
    )
    path.write_text(text, encoding="utf-8")
    return path.parent


def test_validate_warns_of_a_polling_interval_an_event_fed_schedule_does_not_use(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, polling=True)
    result = cli("validate", state_dir=tmp_path / "state", config=config)
    assert result.returncode == 0, result.stderr
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("warning: ")
    assert "s.yaml:19: schedules[0].polling_interval: not used" in warning
    assert "queue landing-events" in warning and "(2h)" in warning
    # The local schedule's polling_interval is used: no word about it.
    config = write(tmp_path, polling=False)
    result = cli("validate", state_dir=tmp_path / "state", config=config)
    assert (result.returncode, result.stderr) == (0, "")


def test_describe_and_list_show_the_queue_the_last_event_and_the_last_reconcile(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, polling=False)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    store = open_store(f"sqlite:///{state_dir / 'triggerd.db'}")
    listed = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    event = datetime(2026, 3, 29, 1, 5, 7, tzinfo=UTC)
    store.write(states.ensure, "orders", listed)
    store.write(states.record_poll, "orders", now=listed, entries=100_000)
    with store.writing() as conn:
        conn.execute(
            states.schedule_state.update()
            .where(states.schedule_state.c.name == "orders")
            .values(last_event_at=event)
        )
    store.close()

    result = cli("schedules", "describe", "orders", "--json", state_dir=state_dir, config=config)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["events"] == {
        "queue": "landing-events",
        "reconcile_interval_s": 7200.0,
        "last_event_at": "2026-03-29T01:05:07+00:00",
        "last_reconcile_at": "2026-03-29T00:30:00+00:00",
    }
    text = cli("schedules", "describe", "orders", state_dir=state_dir, config=config).stdout
    lines = {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}
    assert lines["Events"] == (
        "on (queue landing-events), last event 2026-03-29 01:05:07Z; "
        "listing reconciles every 2h, last 2026-03-29 00:30:00Z"
    ), text
    assert lines["Polled every"] == "not used (fed by events)"

    result = cli("schedules", "list", "--json", state_dir=state_dir, config=config)
    assert result.returncode == 0, result.stderr
    events = {item["name"]: item["events"] for item in json.loads(result.stdout)}
    assert events["local"] is None
    assert events["orders"] is not None
    assert events["orders"]["last_event_at"] == "2026-03-29T01:05:07+00:00"
