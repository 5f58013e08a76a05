"""Operating the daemon: systemd's notify protocol, health and metrics endpoints, check, drain."""

from __future__ import annotations

import json
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, cli
from tests.support.notify import NotifySocket

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parent / "scripts" / "record.py"


def write_config(tmp_path: Path, sleep: float) -> tuple[Path, Path]:
    out = tmp_path / "record.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
pipelines:
  slow:
    kind: command
    argv: [{json.dumps(sys.executable)}, {json.dumps(str(SCRIPT))}, {json.dumps(str(out))},
           "{sleep}"]
schedules:
  - name: slow
    pipeline: slow
    recurrence: {{frequency: Hour, interval: 1, time_zone: AUS Eastern Standard Time}}
""",
        encoding="utf-8",
    )
    return config, out


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_notify_health_metrics_check_and_a_drain_that_waits_for_a_slow_run(
    tmp_path: Path,
) -> None:
    config, out = write_config(tmp_path, sleep=2.0)
    state = tmp_path / "state"
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {
        "NOTIFY_SOCKET": str(notify.path),
        "WATCHDOG_USEC": "1000000",  # ping every 0.5 s
        "TRIGGERD_SHUTDOWN_GRACE": "20s",
    }
    assert cli("check", state_dir=state, config=config).returncode == 1
    daemon = DaemonProcess(config, state, env=env)
    try:
        url = daemon.wait_event("http.listening")["url"]
        daemon.wait_for(lambda: notify.count("READY=1") == 1, what="READY=1")
        daemon.wait_for(lambda: notify.count("WATCHDOG=1") >= 3, what="three watchdog pings")
        assert any(m.startswith("STATUS=") or "\nSTATUS=" in m for m in notify.messages)
        assert get(f"{url}/healthz")[0] == 200
        status, body = get(f"{url}/readyz")
        assert (status, body.startswith("ok")) == (200, True)
        daemon.wait_event("run.started", schedule="slow")  # first run at once, sleeps 2 s
        status, metrics = get(f"{url}/metrics")
        assert status == 200
        assert (
            'triggerd_fires_total{outcome="planned",schedule="slow",trigger="time"} 1.0' in metrics
        )
        assert "triggerd_build_info" in metrics
        assert get(f"{url}/nope")[0] == 404
        assert cli("check", state_dir=state, config=config).returncode == 0
        daemon.signal(signal.SIGTERM)  # while the slow run runs: it is waited for
        assert daemon.wait(timeout=60) == 0
    finally:
        daemon.kill()
        notify.close()
    assert notify.count("STOPPING=1") == 1
    phases = [json.loads(line)["phase"] for line in out.read_text().splitlines()]
    assert phases == ["started", "finished"]  # the drain let it finish
    assert daemon.named("run.succeeded")
    assert cli("check", state_dir=state, config=config).returncode == 1
