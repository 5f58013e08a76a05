"""A daemon whose config names no Azure datastore never imports the Azure SDK.

The SDK (blob and queue, with requests, cryptography and isodate) is about 300 modules and a
tenth of a second of every start; the event feeds, the blob lister and the world checks import
it only for the datastores that need it. Checked in a fresh interpreter, since this test
process may have imported it already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LOCAL_CONFIG = """
datastores:
  files: {kind: local, path: "."}
pipelines:
  noop: {kind: command, argv: ["true"]}
schedules:
  - name: every-5
    pipeline: noop
    recurrence: {frequency: Minute, interval: 5, time_zone: UTC}
  - name: landing
    pipeline: noop
    datastore: files
    path_on_datastore: in
    polling_interval: 1m
"""

BLOB_EVENTS_CONFIG = """
datastores:
  lake:
    kind: azure_blob
    container: landing
    connection_string_env: LAKE_CONN
    events: {queue: landing-events}
pipelines:
  noop: {kind: command, argv: ["true"]}
schedules:
  - name: on-upload
    pipeline: noop
    datastore: lake
    path_on_datastore: in
"""

# Startup as `triggerd run` goes through it: the CLI and the daemon modules imported, the config
# read, a Runtime (its pollers and event feeds) built and started on a SQLite store. Then, as a
# control that the check can see an import, the feeds of a config with blob events are worked out.
SCRIPT = """
import json, sys
from datetime import UTC, datetime
from pathlib import Path

import triggerd.cli
import triggerd.engine.daemon
from triggerd.config import read_config
from triggerd.engine.runtime import Runtime
from triggerd.store import open_store

root = Path(sys.argv[1])
loaded = read_config(root / "local")
store = open_store(f"sqlite:///{root / 'triggerd.db'}", daemon=True)
runtime = Runtime(
    loaded.config, store, clock=lambda: datetime.now(UTC), owner="test",
    running_since=datetime.now(UTC),
)
runtime.startup()
after_startup = sorted(m for m in sys.modules if m == "azure" or m.startswith("azure."))
runtime.close()
store.close()

from triggerd.engine.eventfeeds import wanted_feeds

wanted_feeds(read_config(root / "events").config)
after_events = any(m == "azure" or m.startswith("azure.") for m in sys.modules)
print(json.dumps({"after_startup": after_startup, "after_events": after_events}))
"""


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    for name, text in (("local", LOCAL_CONFIG), ("events", BLOB_EVENTS_CONFIG)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "triggerd.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "local" / "in").mkdir()
    return tmp_path


def test_a_local_only_startup_does_not_import_the_azure_sdk(configs: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(configs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["after_startup"] == []
    assert found["after_events"] is True  # the control: a feed's queue key needs the SDK
