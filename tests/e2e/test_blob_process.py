"""Datastore schedules on an Azure Blob container (Azurite), with the daemon as a process."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from tests.support.azurite import AzuriteServer
from tests.support.daemon import DaemonProcess, runs_json

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parent / "scripts" / "record.py"


def test_new_and_overwritten_blobs_fire_and_other_prefixes_never(
    tmp_path: Path, azurite: AzuriteServer, blob_container: ContainerClient
) -> None:
    out = tmp_path / "record.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
datastores:
  workspaceblobstore:
    kind: azure_blob
    container: {blob_container.container_name}
    connection_string_env: TEST_AZURE_STORAGE
pipelines:
  record:
    kind: command
    argv: [{json.dumps(sys.executable)}, {json.dumps(str(SCRIPT))}, {json.dumps(str(out))},
           "0", "{{input_data}}"]
schedules:
  - name: blobs
    pipeline: record
    datastore: workspaceblobstore
    path_on_datastore: incoming
    polling_interval: 1s
    data_path_parameter_name: input_data
""",
        encoding="utf-8",
    )

    def upload(name: str, data: bytes) -> None:
        blob_container.upload_blob(name, data, overwrite=True)

    def fired() -> list[str]:
        if not out.exists():
            return []
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        return [line["argv"][0] for line in lines if line["phase"] == "finished"]

    upload("incoming/baseline.csv", b"there before the schedule")
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state, env={"TEST_AZURE_STORAGE": azurite.connection_string})
    try:
        daemon.wait_event("poll.completed", baseline=True)
        upload("incoming/new.csv", b"a,b")
        upload("incoming/deeper/nested.csv", b"never")
        upload("incomingX.csv", b"never")
        upload("incoming2/sibling.csv", b"never")
        daemon.wait_for(lambda: len(fired()) >= 1, what="the new blob's run")
        upload("incoming/new.csv", b"a,b,c")  # overwritten: a new ETag
        daemon.wait_for(lambda: len(fired()) >= 2, what="the overwritten blob's run")
        target = len(daemon.named("poll.completed")) + 3
        daemon.wait_for(lambda: len(daemon.named("poll.completed")) >= target, what="3 polls")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    url = f"{blob_container.url}/incoming/new.csv"
    assert fired() == [url, url]
    runs = runs_json(state, config)
    assert [r["data_path"] for r in runs] == [
        {"datastore": "workspaceblobstore", "relative_path": "incoming/new.csv"}
    ] * 2
    assert len({r["fire_key"] for r in runs}) == 2
    assert azurite.account_key not in "\n".join(daemon.raw)
