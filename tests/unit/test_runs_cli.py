"""`runs list` and `runs show` as an operator reads them: the file, finish time and duration
columns, WHY never cut mid-word, the filters, an unknown schedule, the attempt history.

The real CLI on a real SQLite file: click's CliRunner (its stdout is not a terminal), and a
real pseudo-terminal for what a person at a terminal sees.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd.cli import main
from triggerd.cli.runs import shorten
from triggerd.runs import DataPath, NewRun, TriggerKind
from triggerd.store import Store, open_store, outbox

CONFIG = """
pipelines:
  job: {kind: command, argv: [echo, "{f}"], cwd: "."}
datastores:
  inbox: {kind: local, path: ./inbox}
schedules:
  - name: nightly
    pipeline: job
    recurrence: {frequency: Day, interval: 1, time_zone: Europe/Berlin, hours: [2], minutes: [30]}
    pipeline_parameters: {f: x}
  - name: new-files
    pipeline: job
    datastore: inbox
    path_on_datastore: incoming
    data_path_parameter_name: f
"""

T0 = datetime(2026, 3, 29, 0, 30, 0, 123_456, tzinfo=UTC)  # 02:30 Berlin did not exist that night
LONG = (
    "HTTP 503: the upstream service is temporarily unavailable because of maintenance, "
    "try again later"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "triggerd.yaml"
    path.parent.mkdir()
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = open_store(f"sqlite:///{tmp_path / 'state' / 'triggerd.db'}")
    yield opened
    opened.close()


@pytest.fixture
def args(config: Path, tmp_path: Path) -> list[str]:
    return ["--config", str(config), "--state-dir", str(tmp_path / "state")]


@pytest.fixture
def invoke(args: list[str]) -> Any:
    def run(*command: str) -> Result:
        return CliRunner().invoke(main, [*command, *args], catch_exceptions=False)

    return run


def on_terminal(*command: str) -> str:
    """What `triggerd COMMAND` prints on a real (pseudo-)terminal."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    with subprocess.Popen(
        [sys.executable, "-m", "triggerd", *command],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(leader)
        _, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0, errors
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def table(output: str) -> list[dict[str, str]]:
    """The rows of a `runs list` table, by header (columns split where the headers start)."""
    header, *lines = output.splitlines()
    names = ["ID", "SCHEDULE", "STATUS", "TRIGGER", "FILE", "SCHEDULED FOR", "FINISHED"]
    names += ["DURATION", "ATTEMPTS", "WHY"]
    starts = [header.index(n) for n in names]
    assert starts == sorted(starts), header
    ends = [*starts[1:], None]
    return [
        {n: line[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}
        for line in lines
    ]


def record(store: Store, new: NewRun, now: datetime) -> int:
    return store.write(outbox.add_run, new, now)


def fail(store: Store, run_id: int, started: datetime, took: timedelta, error: str) -> None:
    """Claim the run at ``started`` and fail it ``took`` later."""
    claimed = store.write(outbox.claim_next, "test", started)
    assert claimed is not None and claimed.id == run_id
    store.write(outbox.finish, run_id, status="failed", now=started + took, error=error)


def file_run(key: str, path: str) -> NewRun:
    return NewRun("new-files", TriggerKind.DATASTORE, key, T0, {}, DataPath("inbox", path))


def time_run(key: str) -> NewRun:
    return NewRun("nightly", TriggerKind.TIME, key, T0, {})


def test_the_table_has_the_file_the_finish_time_and_the_duration(invoke: Any, store: Store) -> None:
    run_id = record(store, file_run("f:1", "incoming/a b.csv"), T0)
    fail(
        store,
        run_id,
        T0 + timedelta(seconds=1),
        timedelta(minutes=1, seconds=30),
        "exited with status 2",
    )
    record(store, time_run("n:1"), T0 + timedelta(seconds=2))
    result = invoke("runs", "list")
    assert result.exit_code == 0, result.output
    waiting, failed = table(result.output)
    assert failed == {
        "ID": str(run_id),
        "SCHEDULE": "new-files",
        "STATUS": "failed",
        "TRIGGER": "datastore",
        "FILE": "incoming/a b.csv",
        "SCHEDULED FOR": "2026-03-29 00:30:00Z",  # to the second, UTC
        "FINISHED": "2026-03-29 00:31:31Z",
        "DURATION": "1m30s",
        "ATTEMPTS": "1",
        "WHY": "exited with status 2",
    }
    assert (waiting["FILE"], waiting["FINISHED"], waiting["DURATION"]) == ("-", "-", "-")


def test_why_is_cut_at_a_word_with_an_ellipsis_on_a_terminal(store: Store, args: list[str]) -> None:
    run_id = record(store, time_run("n:1"), T0)
    fail(store, run_id, T0, timedelta(milliseconds=300), LONG)
    [row] = table(on_terminal("runs", "list", *args))
    assert row["DURATION"] == "<1s"
    why = row["WHY"]
    assert why.endswith("…") and len(why) <= 60
    kept = why.removesuffix("…")
    assert LONG.startswith(kept)
    assert LONG[len(kept)] in " ,"  # cut between words, not inside one
    [wide] = table(on_terminal("runs", "list", "--wide", *args))
    assert wide["WHY"] == LONG


def test_why_is_whole_when_the_output_is_not_a_terminal(invoke: Any, store: Store) -> None:
    run_id = record(store, time_run("n:1"), T0)
    fail(store, run_id, T0, timedelta(seconds=3), LONG + "\nsecond line")
    [row] = table(invoke("runs", "list").output)
    assert row["WHY"] == LONG + " second line"  # one line per run, every word
    [run] = json.loads(invoke("runs", "list", "--json").output)
    assert run["error"] == LONG + "\nsecond line"
    assert "history" not in run  # the list stays lean: the history is in `runs show`


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short enough", 60, "short enough"),
        ("exactly ten", 11, "exactly ten"),
        ("one two three four", 12, "one two…"),
        ("missed: 1m10s late, beyond grace", 21, "missed: 1m10s late…"),  # no dangling comma
        ("averyveryverylongwordwithoutspaces and more", 20, "averyveryverylongwo…"),
    ],
)
def test_shorten_cuts_between_words(text: str, width: int, expected: str) -> None:
    assert shorten(text, width) == expected
    assert len(shorten(text, width)) <= width


def test_filters_by_trigger_recording_time_and_file(invoke: Any, store: Store) -> None:
    record(store, time_run("n:1"), T0)
    record(store, file_run("f:1", "incoming/sales-2026.csv"), T0 + timedelta(hours=1))
    record(store, file_run("f:2", "incoming/stock.csv"), T0 + timedelta(hours=2))
    manual = NewRun("nightly", TriggerKind.MANUAL, "n:manual:1", T0, {})
    record(store, manual, T0 + timedelta(hours=3))

    def keys(*options: str) -> list[str]:
        result = invoke("runs", "list", "--json", *options)
        assert result.exit_code == 0, result.output
        return [r["fire_key"] for r in json.loads(result.output)]

    assert keys("--trigger", "datastore") == ["f:2", "f:1"]
    assert keys("--trigger", "manual") == ["n:manual:1"]
    assert keys("--file", "sales") == ["f:1"]
    assert keys("--file", "incoming/stock.csv") == ["f:2"]
    # Berlin summer time (+02:00) and no offset (UTC) name the same instants.
    assert keys("--since", "2026-03-29T03:30:00+02:00") == ["n:manual:1", "f:2", "f:1"]
    assert keys("--since", "2026-03-29T01:30:00", "--until", "2026-03-29T02:30:00") == ["f:1"]
    assert keys("--until", "2026-03-29T00:30:00") == []  # before, not at: n:1 has microseconds
    assert keys("--schedule", "new-files", "--file", "stock") == ["f:2"]


def test_a_time_that_is_not_iso_is_refused(invoke: Any, store: Store) -> None:
    result = invoke("runs", "list", "--since", "yesterday")
    assert result.exit_code == 2
    assert "--since" in result.output and "'yesterday' is not an ISO 8601" in result.output


def test_an_unknown_schedule_is_an_error_with_close_names(invoke: Any, store: Store) -> None:
    record(store, time_run("n:1"), T0)
    result = invoke("runs", "list", "--schedule", "nighlty")
    assert result.exit_code == 1
    assert "no schedule named 'nighlty' in the configuration or the database" in result.output
    assert "did you mean 'nightly'?" in result.output
    far = invoke("runs", "list", "--schedule", "zzz")
    assert far.exit_code == 1 and "did you mean" not in far.output


def test_a_schedule_known_to_only_one_side_lists_its_runs_or_nothing(
    invoke: Any, store: Store, config: Path
) -> None:
    gone = NewRun("removed-from-config", TriggerKind.TIME, "r:1", T0, {})
    record(store, gone, T0)
    removed = invoke("runs", "list", "--schedule", "removed-from-config", "--json")
    assert [r["fire_key"] for r in json.loads(removed.output)] == ["r:1"]
    never_ran = invoke("runs", "list", "--schedule", "new-files")  # in the config only
    assert never_ran.exit_code == 0, never_ran.output


def test_a_broken_config_still_lets_the_database_vouch_for_a_name(
    invoke: Any, store: Store, config: Path
) -> None:
    from triggerd.store import states

    store.write(states.ensure, "nightly", T0)
    config.write_text("schedules: [\n", encoding="utf-8")
    assert invoke("runs", "list", "--schedule", "nightly").exit_code == 0
    unknown = invoke("runs", "list", "--schedule", "nightlz")
    assert unknown.exit_code == 1 and "did you mean 'nightly'?" in unknown.output


def test_show_prints_the_earlier_attempts_and_only_the_current_error(
    invoke: Any, store: Store
) -> None:
    run_id = record(store, time_run("n:1"), T0)
    store.write(outbox.claim_next, "test", T0)
    store.write(outbox.schedule_retry, run_id, at=T0 + timedelta(seconds=2), error="HTTP 503: busy")
    fail(store, run_id, T0 + timedelta(seconds=2), timedelta(seconds=5), "exited with status 1")
    store.write(outbox.retry_run, run_id)
    claimed = store.write(outbox.claim_next, "test", T0 + timedelta(minutes=10))
    assert claimed is not None

    [row] = table(invoke("runs", "list").output)
    assert (row["STATUS"], row["WHY"], row["ATTEMPTS"]) == ("running", "", "3")
    shown = json.loads(invoke("runs", "show", str(run_id), "--json").output)
    assert (shown["error"], shown["started_at"]) == (None, "2026-03-29T00:40:00.123456+00:00")
    assert [(h["attempt"], h["error"], h.get("retried", False)) for h in shown["history"]] == [
        (1, "HTTP 503: busy", False),
        (2, "exited with status 1", True),
    ]
    text = invoke("runs", "show", str(run_id)).output
    assert "error:" not in text  # the current attempt has none yet
    lines = text.splitlines()
    at = lines.index("history:")
    assert lines[at + 1].split() == ["ATTEMPT", "STARTED", "FINISHED", "DURATION", "EXIT", "ERROR"]
    first, second = (line.split(None, 1)[1] for line in lines[at + 2 : at + 4])
    assert first.split()[:3] == ["2026-03-29", "00:30:00Z", "-"]
    assert first.endswith("HTTP 503: busy")
    assert "00:30:02Z" in second and "5s" in second
    assert second.endswith("exited with status 1 (then `runs retry`)")


def test_show_json_of_a_run_with_one_attempt_has_an_empty_history(
    invoke: Any, store: Store
) -> None:
    run_id = record(store, time_run("n:1"), T0)
    shown = json.loads(invoke("runs", "show", str(run_id), "--json").output)
    assert shown["history"] == []
    assert "history:" not in invoke("runs", "show", str(run_id)).output
