"""The ``command`` submitter: runs a pipeline as a local process and waits for it to end.

The command is an argv list and never goes through a shell. ``{name}`` placeholders are
substituted *inside* each argv element and the result stays one argument whatever the value, so
a file named ``a; rm -rf ~.csv`` reaches the program as exactly that string. ``{{`` and ``}}``
are literal braces.

The child runs in its own process group (``start_new_session``), so a timeout or a shutdown
stops the whole tree it started, grandchildren included: SIGTERM to the group, ``kill_grace``
to finish, then SIGKILL. Processes the command leaves running in the background when it exits
are stopped the same way, so nothing of a run outlives ``submit``.

Nothing, that is, unless the daemon itself dies. With a ``tracking`` in the request, the child
carries ``TRIGGERD_RUN_MARKER`` and its identity (pid, start time, host, boot) is reported as
soon as it runs, so that the next attempt can end what is left first (``processgroup.py``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any, Literal

from triggerd.errors import SubmitInterrupted
from triggerd.humanize import human_timeout
from triggerd.observability.logging import Logger, get_logger
from triggerd.submitters.base import RunOutcome, RunRequest
from triggerd.submitters.output import OutputReader, OutputTail
from triggerd.submitters.processgroup import (
    DEFAULT_KILL_GRACE,
    MARKER_VARIABLE,
    ProcessIdentity,
    group_alive,
    identify,
    signal_group,
)

__all__ = [
    "CommandSubmitter",
    "UnknownPlaceholder",
    "placeholder_values",
    "placeholders",
    "render_argv",
    "run_environment",
]

# `{{` and `}}` come first so that they win over a placeholder that starts or ends with them.
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_UNSAFE = re.compile(r"[^A-Z0-9_]")

# Variables that describe one run. Inherited copies are dropped so a child never sees a stale
# value from the daemon's own environment when the run has none.
_RUN_VARIABLES = (
    "TRIGGERD_FIRE_KEY",
    "TRIGGERD_SCHEDULE",
    "TRIGGERD_RUN_ID",
    "TRIGGERD_TRIGGER",
    "TRIGGERD_SCHEDULED_FOR",
    "TRIGGERD_ATTEMPT",
    "TRIGGERD_EXPERIMENT_NAME",
    "TRIGGERD_DATASTORE",
    "TRIGGERD_DATA_PATH",
    "TRIGGERD_DATA_URI",
    MARKER_VARIABLE,
)
_PARAM_PREFIX = "TRIGGERD_PARAM_"

_POLL_SECONDS = 0.1  # how often a waiting loop looks at `cancel` and the clock

_Ending = Literal["exited", "timed_out", "cancelled"]


class UnknownPlaceholder(LookupError):
    """An argv placeholder has no value in the run's parameters."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"argv placeholder {{{name}}} has no value")

    def __str__(self) -> str:
        return str(self.args[0])


# --- pure helpers ---------------------------------------------------------------------------


def placeholders(argv: Sequence[str]) -> set[str]:
    """The placeholder names used in ``argv`` (escaped braces ``{{``/``}}`` are not names)."""
    return {m.group(1) for element in argv for m in _TOKEN.finditer(element) if m.group(1)}


def render_argv(argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Substitute ``{name}`` in every element; each element stays exactly one argument.

    Raises :class:`UnknownPlaceholder` for a name that has no value.
    """

    def substitute(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if name is None:
            return token[0]  # "{{" -> "{", "}}" -> "}"
        if name not in values:
            raise UnknownPlaceholder(name)
        return values[name]

    return [_TOKEN.sub(substitute, element) for element in argv]


def _as_text(value: Any) -> str:
    # Azure ML passes pipeline parameters as strings; booleans become "True"/"False".
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def placeholder_values(request: RunRequest) -> dict[str, str]:
    """Parameters as strings, overlaid by the data path parameter (where the file is)."""
    values = {name: _as_text(value) for name, value in request.parameters.items()}
    values.update(request.bound_values())
    return values


# The daemon's own secrets: a run has no use for them (it would print them in its output).
_DAEMON_SECRETS = ("TRIGGERD_HTTP_TOKEN",)


def run_environment(
    request: RunRequest, pipeline_env: Mapping[str, str], base: Mapping[str, str]
) -> dict[str, str]:
    """The child's environment: ``base`` (the daemon's, but its HTTP token), the pipeline's
    ``env`` and TRIGGERD_*."""
    dropped = (*_RUN_VARIABLES, *_DAEMON_SECRETS)
    env = {
        key: value
        for key, value in base.items()
        if key not in dropped and not key.startswith(_PARAM_PREFIX)
    }
    env.update(pipeline_env)
    scheduled_for = ""
    if request.scheduled_for is not None:
        when = request.scheduled_for
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        scheduled_for = when.isoformat()
    env.update(
        TRIGGERD_FIRE_KEY=request.fire_key,
        TRIGGERD_SCHEDULE=request.schedule,
        TRIGGERD_RUN_ID=str(request.run_id),
        TRIGGERD_TRIGGER=request.trigger,
        TRIGGERD_SCHEDULED_FOR=scheduled_for,
        TRIGGERD_ATTEMPT=str(request.attempt),
    )
    if request.experiment_name:
        env["TRIGGERD_EXPERIMENT_NAME"] = request.experiment_name
    if request.tracking is not None:
        env[MARKER_VARIABLE] = request.tracking.marker
    for name, value in request.parameters.items():
        env[_PARAM_PREFIX + _ENV_UNSAFE.sub("_", name.upper())] = _as_text(value)
    if request.file is not None:
        env["TRIGGERD_DATASTORE"] = request.file.datastore
        bound = request.data_path_parameter_name
        env["TRIGGERD_DATA_PATH"] = request.file.location if bound else request.file.relative_path
        env["TRIGGERD_DATA_URI"] = request.file.uri
    return env


def _describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = str(-returncode)
    return f"killed by signal {name}"


def _reporter(pid: int, started: Callable[[ProcessIdentity], None]) -> Callable[[], None]:
    """Report the identity of the child ``pid``. Read right after Popen, before the child is
    reaped: its /proc entry cannot be another process's yet."""
    identity = identify(pid)

    def report() -> None:
        if identity is not None:
            started(identity)

    return report


# --- the submitter --------------------------------------------------------------------------


class CommandSubmitter:
    """Runs ``argv`` as a local process per run and reports how it ended."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: timedelta | None = None,
        kill_grace: timedelta = DEFAULT_KILL_GRACE,
        output_limit: int = 64 * 1024,
    ) -> None:
        if timeout is not None and timeout <= timedelta(0):
            raise ValueError(f"timeout must be positive, got {timeout}")
        if kill_grace < timedelta(0):
            raise ValueError(f"kill_grace must not be negative, got {kill_grace}")
        if output_limit < 0:
            raise ValueError(f"output_limit must not be negative, got {output_limit}")
        self._argv = list(argv)
        self._env = dict(env or {})
        self._cwd = cwd
        self._timeout = timeout
        self._kill_grace = kill_grace
        self._grace = kill_grace.total_seconds()
        self._output_limit = output_limit

    @property
    def kill_grace(self) -> timedelta:
        """How long the group has between SIGTERM and SIGKILL (also for a dead daemon's)."""
        return self._kill_grace

    def submit(self, request: RunRequest, cancel: threading.Event) -> RunOutcome:
        log = get_logger(
            schedule=request.schedule, fire_key=request.fire_key, run_id=request.run_id
        )
        if cancel.is_set():
            raise SubmitInterrupted("interrupted: daemon shutting down")
        try:
            argv = render_argv(self._argv, placeholder_values(request))
        except UnknownPlaceholder as exc:
            log.warning("run.start_failed", error=str(exc))
            return RunOutcome(status="failed", error=str(exc))
        if not argv:
            log.warning("run.start_failed", error="argv is empty")
            return RunOutcome(status="failed", error="argv is empty")
        env = run_environment(request, self._env, os.environ)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self._cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            error = self._start_error(argv[0], exc)
            log.warning("run.start_failed", error=error)
            return RunOutcome(status="failed", error=error)
        # Only argv[0] is logged: the other arguments carry parameter values, which may be
        # secrets or personal data, and the log outlives the run.
        log.info("run.process_started", pid=proc.pid, argv0=argv[0])
        report = None
        if request.tracking is not None:
            report = _reporter(proc.pid, request.tracking.started)
        with proc:
            ending, output = self._supervise(proc, cancel, log, report)
        return self._outcome(proc.returncode, ending, output, log)

    def _supervise(
        self,
        proc: subprocess.Popen[bytes],
        cancel: threading.Event,
        log: Logger,
        report: Callable[[], None] | None = None,
    ) -> tuple[_Ending, str]:
        """Wait for the run to end, stop its group, and return how it ended and its output.

        ``report`` (the child's identity to the dispatcher) runs once the output is read."""
        assert proc.stdout is not None and proc.stderr is not None
        tail = OutputTail(self._output_limit)
        readers = [
            OutputReader(proc.stdout, "stdout", log, tail),
            OutputReader(proc.stderr, "stderr", log, tail),
        ]
        for reader in readers:
            reader.start()
        stopped = False
        try:
            if report is not None:
                report()
            ending = self._wait(proc, cancel)
            if ending == "exited" and group_alive(proc.pid):
                log.warning("run.leftover_processes", pid=proc.pid)
            self._stop_group(proc)
            stopped = True
        finally:
            if not stopped:  # interrupted above: nothing of the run may outlive this call
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            for reader in readers:
                reader.finish(drain=1.0)
            for reader in readers:
                reader.join()
        return ending, tail.render()

    def _wait(self, proc: subprocess.Popen[bytes], cancel: threading.Event) -> _Ending:
        deadline = None
        if self._timeout is not None:
            deadline = time.monotonic() + self._timeout.total_seconds()
        while True:
            step = _POLL_SECONDS
            if deadline is not None:
                step = max(0.0, min(step, deadline - time.monotonic()))
            try:
                proc.wait(timeout=step)
            except subprocess.TimeoutExpired:
                pass
            else:
                return "exited"
            if cancel.is_set():
                return "cancelled"
            if deadline is not None and time.monotonic() >= deadline:
                return "timed_out"

    def _stop_group(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the group, give it ``kill_grace`` to end, then SIGKILL what is left.

        Returns at once when the group is already empty (the usual case after a clean exit).
        """
        if proc.poll() is not None and not group_alive(proc.pid):
            return
        signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        while time.monotonic() < deadline:
            # The group id stays taken while any member lives, so probing it after the leader
            # was reaped cannot hit an unrelated process.
            if proc.poll() is not None and not group_alive(proc.pid):
                return
            time.sleep(0.05)
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    def _outcome(self, returncode: int, ending: _Ending, output: str, log: Logger) -> RunOutcome:
        log.info("run.process_exited", exit_code=returncode, ending=ending)
        if ending == "cancelled":
            raise SubmitInterrupted("interrupted: daemon shutting down")
        if ending == "timed_out":
            assert self._timeout is not None
            error = f"timed out after {human_timeout(self._timeout)}"
            return RunOutcome(status="failed", exit_code=returncode, error=error, output=output)
        if returncode == 0:
            return RunOutcome(status="succeeded", exit_code=0, output=output)
        return RunOutcome(
            status="failed", exit_code=returncode, error=_describe_exit(returncode), output=output
        )

    def _start_error(self, argv0: str, exc: OSError | ValueError) -> str:
        if isinstance(exc, ValueError):  # e.g. a NUL byte in an argument or variable
            return f"cannot start {argv0!r}: {exc}"
        cwd = None if self._cwd is None else os.fspath(self._cwd)
        # subprocess reports a failed chdir with the cwd, as given, as the filename.
        if cwd is not None and exc.filename is not None and os.fspath(exc.filename) == cwd:
            if isinstance(exc, FileNotFoundError):
                return f"working directory not found: {cwd!r}"
            return f"cannot use working directory {cwd!r}: {exc.strerror}"
        if isinstance(exc, FileNotFoundError):
            return f"executable not found: {argv0!r}"
        if isinstance(exc, PermissionError):
            return f"not executable: {argv0!r} (permission denied)"
        return f"cannot start {argv0!r}: {exc.strerror or exc}"
