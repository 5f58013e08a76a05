"""Metrics that survive a restart, with a real daemon: a run succeeds, the daemon stops, starts
again, and /metrics shows that schedule's last success (from the database) before any new run;
the next-fire gauge is there; a datastore schedule on a missing folder warns at start
(``config.check_failed``), and its failed polls count and set the last-error gauge."""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.daemon import DaemonProcess, runs_json
from triggerd import __version__

pytestmark = pytest.mark.e2e


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "triggerd.yaml").write_text(
        f"""
datastores:
  inbox: {{kind: local, path: ../inbox}}
pipelines:
  ok:
    kind: command
    argv: [{json.dumps(sys.executable)}, -c, "pass"]
schedules:
  - name: hourly
    pipeline: ok
    recurrence: {{frequency: Hour, interval: 1, time_zone: W. Europe Standard Time}}
  - name: watch
    pipeline: ok
    datastore: inbox
    polling_interval: 1
""",
        encoding="utf-8",
    )
    return config


def scrape(url: str) -> tuple[dict[tuple[str, str], float], str]:
    """The per-schedule samples of /metrics, by (name, schedule), and the Server header."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
        server = answer.headers["Server"]
    samples = {
        (s.name, s.labels["schedule"]): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "schedule" in s.labels
    }
    return samples, server


def test_the_last_success_survives_a_restart_and_next_fire_and_poll_errors_show(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    state = tmp_path / "state"
    first = DaemonProcess(config, state)
    try:
        first.wait_event("run.succeeded", schedule="hourly")
        first.signal(signal.SIGTERM)
        assert first.wait() == 0
    finally:
        first.kill()
    [run] = runs_json(state, config)
    finished = datetime.fromisoformat(run["finished_at"]).timestamp()

    second = DaemonProcess(config, state)
    try:
        url = second.wait_event("http.listening")["url"]
        # The folder of `watch` is missing: a warning naming the file, the key and the problem.
        warning = second.wait_event("config.check_failed", key="datastores.inbox.path")
        assert warning["file"] == str(config / "triggerd.yaml")
        assert warning["problem"] == f"folder {tmp_path}/inbox does not exist"  # no config/..
        assert warning["level"] == "warning"

        def seeded() -> dict[tuple[str, str], float] | None:
            samples, _ = scrape(url)
            key = ("triggerd_last_success_timestamp_seconds", "hourly")
            return samples if key in samples else None

        samples = second.wait_for(seeded, what="the seeded last-success gauge")
        assert samples[("triggerd_last_success_timestamp_seconds", "hourly")] == pytest.approx(
            finished, abs=0.001
        )
        next_fire = samples[("triggerd_next_fire_timestamp_seconds", "hourly")]
        assert time.time() < next_fire <= time.time() + 3600
        assert ("triggerd_next_fire_timestamp_seconds", "watch") not in samples

        def poll_failed() -> dict[tuple[str, str], float] | None:
            found, _ = scrape(url)
            return found if found.get(("triggerd_poll_failures_total", "watch"), 0) >= 1 else None

        samples = second.wait_for(poll_failed, what="a failed poll counted")
        assert samples[("triggerd_last_poll_error_timestamp_seconds", "watch")] > finished
        _, server = scrape(url)
        assert server == f"triggerd/{__version__}"
        # Nothing ran since the restart: the gauge came from the database.
        assert not second.named("run.started")
        assert len(runs_json(state, config)) == 1
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
    finally:
        second.kill()
