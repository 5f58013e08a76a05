"""Contract of the ``command`` submitter, against real processes (``scripts/child.py``)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from triggerd.errors import SubmitInterrupted
from triggerd.humanize import human_timeout
from triggerd.runs import BoundFile
from triggerd.submitters.base import ProcessTracking, RunOutcome, RunRequest, RunsProcesses
from triggerd.submitters.command import (
    CommandSubmitter,
    UnknownPlaceholder,
    placeholders,
    render_argv,
)
from triggerd.submitters.processgroup import ProcessIdentity, this_host

CHILD = str(Path(__file__).parent / "scripts" / "child.py")
PY = sys.executable

pytestmark = pytest.mark.timeout(60)


def make_request(**overrides: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "run_id": 7,
        "schedule": "nightly",
        "fire_key": "nightly:1700000000000",
        "trigger": "time",
        "scheduled_for": datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        "parameters": {},
    }
    fields.update(overrides)
    return RunRequest(**fields)


def run(argv: list[str], request: RunRequest | None = None, **options: Any) -> RunOutcome:
    submitter = CommandSubmitter(argv, **options)
    return submitter.submit(request or make_request(), threading.Event())


def dump(tmp_path: Path, args: list[str], request: RunRequest | None = None, **options: Any) -> Any:
    """Run ``child.py dump ARGS`` and return what it saw (argv after the mode, env, cwd)."""
    out = tmp_path / "dump.json"
    env = {"CHILD_OUT": str(out), **options.pop("env", {})}
    outcome = run([PY, CHILD, "dump", *args], request, env=env, **options)
    assert outcome.status == "succeeded", outcome
    return json.loads(out.read_text())


def is_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for init to reap it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def assert_gone(pid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not is_gone(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.02)


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("triggerd-command-")]


# --- placeholders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "values", "expected"),
    [
        (["{p}"], {"p": "a b"}, ["a b"]),
        (["--input={p}"], {"p": "x; rm -rf ~"}, ["--input=x; rm -rf ~"]),
        (["{a}-{b}", "{a}"], {"a": "1", "b": "2"}, ["1-2", "1"]),
        (["{{p}}"], {}, ["{p}"]),
        (["{{{p}}}"], {"p": "v"}, ["{v}"]),
        (["{p}"], {"p": "{q}"}, ["{q}"]),  # values are not rendered again
        (["{1}", "{ p }", "{", "}"], {}, ["{1}", "{ p }", "{", "}"]),  # not placeholders
        (["{p}"], {"p": ""}, [""]),
    ],
)
def test_render_argv(argv: list[str], values: dict[str, str], expected: list[str]) -> None:
    assert render_argv(argv, values) == expected


def test_placeholders_lists_names_but_not_escaped_braces() -> None:
    assert placeholders(["run", "--in={input_path}", "{{literal}}", "{_x1}{y}"]) == {
        "input_path",
        "_x1",
        "y",
    }


def test_render_argv_names_the_unknown_placeholder() -> None:
    with pytest.raises(UnknownPlaceholder) as caught:
        render_argv(["{known}", "{unknown}"], {"known": "1"})
    assert caught.value.name == "unknown"
    assert str(caught.value) == "argv placeholder {unknown} has no value"


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(seconds=60), "60s"),
        (timedelta(milliseconds=500), "0.5s"),
        (timedelta(seconds=90), "90s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=2, seconds=5), "2h5s"),
    ],
)
def test_human_timeout(duration: timedelta, text: str) -> None:
    assert human_timeout(duration) == text


# --- arguments --------------------------------------------------------------------------------


def test_hostile_values_stay_one_argument_and_are_never_interpreted(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    hostile = {
        "semicolon": "x; rm -rf ~",
        "subst": f"$(touch {pwned})",
        "backtick": f"`touch {pwned}`",
        "spaces": "a b  c",
        "newline": "line1\nline2",
        "quotes": "'\"",
        "glob": "*",
        "tilde": "~",
        "empty": "",
    }
    args = [f"{{{name}}}" for name in hostile]
    seen = dump(tmp_path, args, make_request(parameters=hostile))
    assert seen["argv"] == list(hostile.values())
    assert not pwned.exists()


def test_placeholder_inside_an_element_and_literal_braces(tmp_path: Path) -> None:
    request = make_request(parameters={"p": "a b.csv"})
    seen = dump(tmp_path, ["--input={p}", "{{p}}", "x{p}y"], request)
    assert seen["argv"] == ["--input=a b.csv", "{p}", "xa b.csvy"]


def test_parameter_values_are_rendered_as_strings(tmp_path: Path) -> None:
    request = make_request(parameters={"yes": True, "no": False, "n": 3, "f": 0.5})
    seen = dump(tmp_path, ["{yes}", "{no}", "{n}", "{f}"], request)
    assert seen["argv"] == ["True", "False", "3", "0.5"]


def test_the_bound_file_overrides_its_parameter(tmp_path: Path) -> None:
    request = make_request(
        parameters={"input": "raw/a.csv", "other": "o"},
        file=BoundFile("landing", "raw/a.csv", "/mnt/data/raw/a.csv", "file:///mnt/data/raw/a.csv"),
        data_path_parameter_name="input",
    )
    seen = dump(tmp_path, ["{input}", "{other}"], request)
    assert seen["argv"] == ["/mnt/data/raw/a.csv", "o"]


def test_unknown_placeholder_fails_without_starting_anything(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with capture_logs() as logs:
        outcome = run([PY, "-c", f"open({str(marker)!r}, 'w')", "{nope}"])
    assert outcome == RunOutcome(status="failed", error="argv placeholder {nope} has no value")
    assert not marker.exists()
    assert [e["event"] for e in logs] == ["run.start_failed"]


# --- environment ------------------------------------------------------------------------------


def test_environment_carries_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGERD_TEST_INHERITED", "from-daemon")
    monkeypatch.setenv("TRIGGERD_TEST_OVERRIDDEN", "from-daemon")
    request = make_request(
        trigger="datastore",
        attempt=2,
        experiment_name="exp-1",
        parameters={"input-path": "raw/a.csv", "limit": 10, "dry.run": True, "Mixed_Case": "m"},
        file=BoundFile(
            "landing", "raw/a.csv", "/mnt/landing/raw/a.csv", "file:///mnt/landing/raw/a.csv"
        ),
        data_path_parameter_name="input-path",
    )
    env = dump(
        tmp_path,
        [],
        request,
        env={"PIPELINE_VAR": "p", "TRIGGERD_TEST_OVERRIDDEN": "from-pipeline"},
    )["env"]
    assert env["TRIGGERD_TEST_INHERITED"] == "from-daemon"
    assert env["TRIGGERD_TEST_OVERRIDDEN"] == "from-pipeline"
    assert env["PIPELINE_VAR"] == "p"
    assert env["PATH"] == os.environ["PATH"]
    run_vars = {k: v for k, v in env.items() if k.startswith("TRIGGERD_") and "_TEST_" not in k}
    assert run_vars == {
        "TRIGGERD_FIRE_KEY": "nightly:1700000000000",
        "TRIGGERD_SCHEDULE": "nightly",
        "TRIGGERD_RUN_ID": "7",
        "TRIGGERD_TRIGGER": "datastore",
        # 02:30 does not exist in Berlin on 2024-03-31; zoneinfo reads it as CET (+01:00).
        "TRIGGERD_SCHEDULED_FOR": "2024-03-31T01:30:00+00:00",
        "TRIGGERD_ATTEMPT": "2",
        "TRIGGERD_EXPERIMENT_NAME": "exp-1",
        "TRIGGERD_PARAM_INPUT_PATH": "raw/a.csv",
        "TRIGGERD_PARAM_LIMIT": "10",
        "TRIGGERD_PARAM_DRY_RUN": "True",
        "TRIGGERD_PARAM_MIXED_CASE": "m",
        "TRIGGERD_DATASTORE": "landing",
        "TRIGGERD_DATA_PATH": "/mnt/landing/raw/a.csv",
        "TRIGGERD_DATA_URI": "file:///mnt/landing/raw/a.csv",
    }


def test_environment_without_optional_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stale run variables in the daemon's own environment never reach a run.
    monkeypatch.setenv("TRIGGERD_DATA_PATH", "stale")
    monkeypatch.setenv("TRIGGERD_PARAM_OLD", "stale")
    monkeypatch.setenv("TRIGGERD_RUN_MARKER", "stale")  # e.g. triggerd run by a triggerd command
    request = make_request(trigger="manual", scheduled_for=None, file=None)
    env = dump(tmp_path, [], request)["env"]
    assert env["TRIGGERD_SCHEDULED_FOR"] == ""
    assert env["TRIGGERD_TRIGGER"] == "manual"
    for absent in (
        "TRIGGERD_EXPERIMENT_NAME",
        "TRIGGERD_DATASTORE",
        "TRIGGERD_DATA_PATH",
        "TRIGGERD_DATA_URI",
        "TRIGGERD_PARAM_OLD",
        "TRIGGERD_RUN_MARKER",
    ):
        assert absent not in env


# --- what a later daemon needs to recognise the run's processes -------------------------------


def test_tracking_marks_the_processes_and_reports_the_leader(tmp_path: Path) -> None:
    reported: list[ProcessIdentity] = []
    request = make_request(tracking=ProcessTracking("db-id:7", reported.append))
    with capture_logs() as logs:
        env = dump(tmp_path, [], request)["env"]
    assert env["TRIGGERD_RUN_MARKER"] == "db-id:7"
    [started] = [e for e in logs if e["event"] == "run.process_started"]
    [identity] = reported
    assert identity.pid == started["pid"]
    assert (identity.host, identity.boot_id) == this_host()
    assert identity.start_ticks > 0


def test_a_failing_report_leaves_nothing_running(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"

    def started(_identity: ProcessIdentity) -> None:
        while not pidfile.exists():  # the grandchild runs before the report fails
            time.sleep(0.01)
        raise RuntimeError("boom")

    request = make_request(tracking=ProcessTracking("db-id:7", started))
    with pytest.raises(RuntimeError, match="boom"):
        run([PY, CHILD, "tree", str(pidfile)], request)
    assert_gone(int(pidfile.read_text()))


def test_a_command_submitter_runs_processes_with_its_kill_grace() -> None:
    submitter = CommandSubmitter(["true"], kill_grace=timedelta(seconds=3))
    assert isinstance(submitter, RunsProcesses)
    assert submitter.kill_grace == timedelta(seconds=3)
    assert CommandSubmitter(["true"]).kill_grace == timedelta(seconds=10)


def test_data_path_falls_back_to_the_relative_path(tmp_path: Path) -> None:
    bound = BoundFile(
        "landing", "raw/b.csv", "/mnt/landing/raw/b.csv", "file:///mnt/landing/raw/b.csv"
    )
    request = make_request(file=bound)  # no data_path_parameter_name
    env = dump(tmp_path, [], request)["env"]
    assert env["TRIGGERD_DATASTORE"] == "landing"
    assert env["TRIGGERD_DATA_PATH"] == "raw/b.csv"
    assert env["TRIGGERD_DATA_URI"] == "file:///mnt/landing/raw/b.csv"


def test_runs_in_the_configured_directory(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    assert dump(tmp_path, [], cwd=workdir)["cwd"] == str(workdir)


# --- exit -------------------------------------------------------------------------------------


def test_exit_zero_succeeds() -> None:
    outcome = run([PY, CHILD, "exit", "0"])
    assert (outcome.status, outcome.exit_code, outcome.error) == ("succeeded", 0, None)


def test_non_zero_exit_fails_with_the_status() -> None:
    outcome = run([PY, CHILD, "exit", "3"])
    assert (outcome.status, outcome.exit_code, outcome.error) == (
        "failed",
        3,
        "exited with status 3",
    )


def test_death_by_signal_is_named() -> None:
    outcome = run([PY, CHILD, "signal", "SIGKILL"])
    assert (outcome.status, outcome.exit_code, outcome.error) == (
        "failed",
        -9,
        "killed by signal SIGKILL",
    )


@pytest.mark.parametrize(
    ("argv", "cwd", "error"),
    [
        (["nosuchprog-triggerd"], None, "executable not found: 'nosuchprog-triggerd'"),
        (["/nonexistent/bin/prog"], None, "executable not found: '/nonexistent/bin/prog'"),
        ([PY, "-c", "pass"], "missing", "working directory not found: '{tmp}/missing'"),
        (["{tmp}/script.sh"], None, "not executable: '{tmp}/script.sh' (permission denied)"),
    ],
)
def test_a_process_that_cannot_start_fails_with_a_clear_error(
    tmp_path: Path, argv: list[str], cwd: str | None, error: str
) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with capture_logs() as logs:
        outcome = run(argv, cwd=tmp_path / cwd if cwd else None)
    assert outcome == RunOutcome(status="failed", error=error.replace("{tmp}", str(tmp_path)))
    assert [e["event"] for e in logs] == ["run.start_failed"]


# --- output -----------------------------------------------------------------------------------


def test_output_is_logged_per_line_with_its_channel() -> None:
    with capture_logs() as logs:
        outcome = run([PY, CHILD, "lines"])
    started = [e for e in logs if e["event"] == "run.process_started"]
    assert len(started) == 1
    assert started[0]["argv0"] == PY
    assert isinstance(started[0]["pid"], int)
    assert "argv" not in started[0]  # parameter values may be secrets
    output = [e for e in logs if e["event"] == "run.output"]
    for event in output:
        assert (event["schedule"], event["fire_key"], event["run_id"]) == (
            "nightly",
            "nightly:1700000000000",
            7,
        )
    lines = [(e["channel"], e["line"]) for e in output]
    stdout = [line for channel, line in lines if channel == "stdout"]
    stderr = [line for channel, line in lines if channel == "stderr"]
    assert stdout[:2] == ["out one", "out two"]
    assert stderr == ["err one", "err two"]
    # A long line is logged cut to 4 KiB, and kept whole in the outcome's output.
    assert stdout[2] == "x" * 4096
    assert [e.get("truncated", False) for e in output if e["channel"] == "stdout"] == [
        False,
        False,
        True,
    ]
    assert "x" * 10_000 in outcome.output
    # The two streams interleave in the combined output; each keeps its own order.
    kept = outcome.output.splitlines()
    assert [line for line in kept if line.startswith("out ")] == ["out one", "out two"]
    assert [line for line in kept if line.startswith("err ")] == ["err one", "err two"]


def test_output_keeps_the_last_bytes_up_to_the_limit() -> None:
    outcome = run([PY, CHILD, "count", "1000"], output_limit=1000)
    marker, _, body = outcome.output.partition("\n")
    assert marker.startswith("[... ") and marker.endswith(" bytes dropped]")
    dropped = int(marker.removeprefix("[... ").removesuffix(" bytes dropped]"))
    assert len(body.encode()) <= 1000
    assert body.endswith("line 999\n")
    total = sum(len(f"line {i}\n") for i in range(1000))
    assert dropped + len(body.encode()) == total


def test_small_output_is_kept_whole() -> None:
    outcome = run([PY, CHILD, "count", "3"])
    assert outcome.output == "line 0\nline 1\nline 2\n"


def test_lots_of_output_on_both_streams_does_not_deadlock() -> None:
    size = 1024 * 1024  # well past a pipe buffer on each stream
    with capture_logs() as logs:
        outcome = run([PY, CHILD, "flood", str(size)], timeout=timedelta(seconds=30))
    assert outcome.status == "succeeded", outcome.error
    counts = {"stdout": 0, "stderr": 0}
    for event in logs:
        if event["event"] == "run.output":
            counts[event["channel"]] += 1
    lines = 2 * (size // 100)
    assert counts == {"stdout": lines, "stderr": lines}
    assert len(outcome.output.encode()) <= 64 * 1024 + 100


# --- timeout, cancel, process group -----------------------------------------------------------


def test_timeout_stops_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    before = len(reader_threads())
    started = time.monotonic()
    outcome = run(
        [PY, CHILD, "tree", str(pidfile)],
        timeout=timedelta(seconds=1),
        kill_grace=timedelta(seconds=10),
    )
    assert time.monotonic() - started < 5  # the group ended on SIGTERM: no need for the grace
    assert (outcome.status, outcome.error) == ("failed", "timed out after 1s")
    assert outcome.exit_code == -15  # SIGTERM was enough
    assert "grandchild running" in outcome.output
    assert_gone(int(pidfile.read_text()))
    assert len(reader_threads()) == before


def test_timeout_escalates_to_sigkill_after_the_grace(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    outcome = run(
        [PY, CHILD, "stubborn", str(pidfile)],
        timeout=timedelta(seconds=1),
        kill_grace=timedelta(milliseconds=500),
    )
    elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 5
    assert (outcome.status, outcome.exit_code, outcome.error) == (
        "failed",
        -9,
        "timed out after 1s",
    )
    assert_gone(int(pidfile.read_text()))


def test_cancel_stops_the_group_and_hands_the_run_back(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    cancel = threading.Event()

    def cancel_once_running() -> None:
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        cancel.set()

    helper = threading.Thread(target=cancel_once_running)
    helper.start()
    submitter = CommandSubmitter([PY, CHILD, "tree", str(pidfile)], kill_grace=timedelta(seconds=1))
    started = time.monotonic()
    try:
        with pytest.raises(SubmitInterrupted, match=r"^interrupted: daemon shutting down$"):
            submitter.submit(make_request(), cancel)
    finally:
        helper.join()
    assert time.monotonic() - started < 5
    assert_gone(int(pidfile.read_text()))


def test_cancel_before_start_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    cancel = threading.Event()
    cancel.set()
    submitter = CommandSubmitter([PY, "-c", f"open({str(marker)!r}, 'w')"])
    with pytest.raises(SubmitInterrupted, match="interrupted: daemon shutting down"):
        submitter.submit(make_request(), cancel)
    assert not marker.exists()


def test_processes_left_in_the_background_are_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    with capture_logs() as logs:
        outcome = run([PY, CHILD, "background", str(pidfile)], kill_grace=timedelta(seconds=1))
    assert (outcome.status, outcome.exit_code) == ("succeeded", 0)
    assert_gone(int(pidfile.read_text()))
    assert [e for e in logs if e["event"] == "run.leftover_processes"]


def test_no_reader_thread_outlives_submit() -> None:
    before = len(reader_threads())
    for _ in range(3):
        run([PY, CHILD, "lines"])
    assert len(reader_threads()) == before


def test_scheduled_time_is_utc_in_the_ambiguous_dst_hour(tmp_path: Path) -> None:
    # 02:30 happens twice in Berlin on 2024-10-27; fold=1 is the second one, in CET (+01:00).
    when = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin"))
    env = dump(tmp_path, [], make_request(scheduled_for=when))["env"]
    assert env["TRIGGERD_SCHEDULED_FOR"] == "2024-10-27T01:30:00+00:00"
    assert datetime.fromisoformat(env["TRIGGERD_SCHEDULED_FOR"]) == when.astimezone(UTC)


def test_secrets_a_command_prints_are_masked_in_its_log_lines_and_output() -> None:
    printed = (
        "conn DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5PT0=;x=1\n"
        "db postgresql://triggerd:hunter2@db.internal/triggerd\n"
        "sas https://acct.blob.core.windows.net/c/a.csv?sv=2024&sig=S1GNATURE%3D\n"
    )
    with capture_logs() as logs:
        outcome = run([PY, "-c", f"import sys; sys.stdout.write({printed!r})"])
    lines = [e["line"] for e in logs if e["event"] == "run.output"]
    assert lines == [
        "conn DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;x=1",
        "db postgresql://***@db.internal/triggerd",
        "sas https://acct.blob.core.windows.net/c/a.csv?sv=2024&sig=***",
    ]
    assert outcome.output == "\n".join(lines) + "\n"
    for secret in ("c2VjcmV0a2V5PT0", "hunter2", "S1GNATURE"):
        assert secret not in repr(logs) and secret not in outcome.output


def test_the_daemons_http_token_is_not_passed_to_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERD_HTTP_TOKEN", "the-daemons-token")
    env = dump(tmp_path, [])["env"]
    assert "TRIGGERD_HTTP_TOKEN" not in env
    assert env["PATH"] == os.environ["PATH"]
