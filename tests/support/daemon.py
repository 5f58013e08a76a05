"""Run `triggerd` as a real process in tests: start, read its JSON log lines, signal, wait."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def cli(
    *args: str, state_dir: Path, config: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one `triggerd` command to completion."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "triggerd",
            *args,
            "--config",
            str(config),
            "--state-dir",
            str(state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=_env(),
        check=False,
    )


def runs_json(state_dir: Path, config: Path, *extra: str) -> list[dict[str, Any]]:
    result = cli(
        "runs", "list", "--json", "--limit", "1000", *extra, state_dir=state_dir, config=config
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TRIGGERD_DATABASE_URL", None)
    env.setdefault("TRIGGERD_HTTP_ADDRESS", "127.0.0.1:0")  # a free port: tests run side by side
    # Debug: a poll that found nothing new logs `poll.completed` at debug, and tests count polls.
    env.setdefault("TRIGGERD_LOG_LEVEL", "DEBUG")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DaemonProcess:
    """`triggerd run` in the background; its JSON log events are collected as dicts."""

    def __init__(
        self, config: Path, state_dir: Path, *extra: str, env: dict[str, str] | None = None
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "triggerd",
                "run",
                "--config",
                str(config),
                "--state-dir",
                str(state_dir),
                "--log-format",
                "json",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**_env(), **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.raw.append(text)
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(text))

    def named(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == event]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
        """Poll ``predicate`` (bounded) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}; log:\n" + self.log_text())

    def wait_event(self, event: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
        def match() -> dict[str, Any] | None:
            for e in self.named(event):
                if all(e.get(k) == v for k, v in fields.items()):
                    return e
            return None

        return self.wait_for(match, timeout, what=f"{event} {fields}")  # type: ignore[no-any-return]

    def log_text(self) -> str:
        with self._lock:
            return "\n".join(self.raw[-200:])

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


def probe(url: str, timeout: float = 5) -> tuple[int, str]:
    """GET ``url``: (status, body); (0, reason) when nothing answers (the daemon is gone)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def read_records(out: Path) -> list[dict[str, Any]]:
    """The JSON lines a test pipeline script appended to ``out`` (none if it never ran)."""
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]
