"""SIGTERM always ends the daemon within the drain grace (issue 11, fault 2), whatever a poll of
an unreachable blob endpoint is doing when it lands; and the endpoint's password never shows."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.e2e

PASSWORD = "Pa55-in-the-url"
CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
    f"KBHBeksoGMGw==;BlobEndpoint=http://operator:{PASSWORD}@127.0.0.1:1/devstoreaccount1;"
)
CONFIG = """
datastores:
  lake: {kind: azure_blob, container: raw, connection_string_env: LAKE_CONNECTION}
pipelines:
  noop: {kind: command, argv: ["true"]}
schedules:
""" + "".join(
    f"  - {{name: lake-{i}, pipeline: noop, datastore: lake, polling_interval: 1s}}\n"
    for i in range(4)
)
TRIALS = 8
GRACE_S = 2
# The drain grace, plus a moment for the process to start its stop and exit.
BOUND_S = GRACE_S + 4


def test_sigterm_during_failing_blob_polls_always_ends_the_daemon_in_time(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {"LAKE_CONNECTION": CONNECTION, "TRIGGERD_SHUTDOWN_GRACE": f"{GRACE_S}s"}
    rng = random.Random(11)
    took: list[float] = []
    for trial in range(TRIALS):
        daemon = DaemonProcess(config, tmp_path / "state", env=env)
        try:
            daemon.wait_event("daemon.started", timeout=30)
            # Land anywhere: in the first polls' connection retries (about 4 s each), in the
            # wait before their retry, in the next poll.
            time.sleep(rng.uniform(0.5, 5.0))
            daemon.signal(signal.SIGTERM)
            began = time.monotonic()
            code = daemon.wait(timeout=60)
            took.append(time.monotonic() - began)
        finally:
            daemon.kill()
        assert code == 0, f"trial {trial}: exit {code}\n{daemon.log_text()}"
        assert took[-1] < BOUND_S, f"trial {trial}: {took[-1]:.1f}s\n{daemon.log_text()}"
        daemon.wait_event("daemon.stopped", timeout=1)
        assert PASSWORD not in daemon.log_text()
        for event in daemon.named("poll.failed"):  # the endpoint is shown, its user info not
            assert "http://***@127.0.0.1:1/devstoreaccount1" in event["reason"]
    assert max(took) < BOUND_S
    print(f"stops took {', '.join(f'{t:.2f}' for t in took)} s")
