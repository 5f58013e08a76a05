"""`validate --strict` on blob datastores, against Azurite: a container that exists passes, one
that does not is one line naming the datastore's key, and an account that never answers is a
problem within the timeout (the check waits no longer, and nothing hangs)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient
from click.testing import CliRunner

from tests.support.azurite import AzuriteServer
from triggerd.cli import main
from triggerd.config import load_config
from triggerd.engine.worldcheck import check_world

ENV = "TEST_WORLDCHECK_BLOB"


def write_config(tmp_path: Path, container: str, *, account_url: str | None = None) -> Path:
    way_in = (
        f"account_url: {account_url}\n    credential: {{kind: account_key, env: {ENV}_KEY}}"
        if account_url
        else f"connection_string_env: {ENV}"
    )
    path = tmp_path / "triggerd.yaml"
    path.write_text(
        "datastores:\n"
        "  raw:\n"
        "    kind: azure_blob\n"
        f"    container: {container}\n"
        f"    {way_in}\n"
        "pipelines:\n  p: {kind: command, argv: [echo]}\n"
        "schedules:\n  - {name: s, pipeline: p, datastore: raw, path_on_datastore: in}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def blob_env(azurite: AzuriteServer, monkeypatch: pytest.MonkeyPatch) -> AzuriteServer:
    monkeypatch.setenv(ENV, azurite.connection_string)
    monkeypatch.setenv(f"{ENV}_KEY", azurite.account_key)
    return azurite


def test_a_container_that_exists_passes(
    tmp_path: Path, blob_env: AzuriteServer, blob_container: ContainerClient
) -> None:
    blob_container.upload_blob("in/a.csv", b"x")
    config = write_config(tmp_path, blob_container.container_name)
    result = CliRunner().invoke(main, ["validate", "--strict", "--config", str(config)])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.startswith(f"{config}: ok (")


def test_an_empty_container_reached_with_an_account_key_passes(
    tmp_path: Path, blob_env: AzuriteServer, blob_container: ContainerClient
) -> None:
    url = blob_env.account_url
    config = write_config(tmp_path, blob_container.container_name, account_url=url)
    assert check_world(load_config(config), config) == []


def test_a_container_that_does_not_exist_is_one_line(
    tmp_path: Path, blob_env: AzuriteServer
) -> None:
    config = write_config(tmp_path, "no-such-container")
    result = CliRunner().invoke(main, ["validate", "--strict", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{config}:4: datastores.raw.container: cannot list the container: container "
        f"'no-such-container' not found (azure_blob {blob_env.account_url}/no-such-container/)"
    ]
    assert blob_env.account_key not in result.stderr


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a black hole, a stuck proxy)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_an_account_that_never_answers_is_a_problem_within_the_timeout(
    tmp_path: Path, blob_env: AzuriteServer, silent_port: int
) -> None:
    url = f"http://127.0.0.1:{silent_port}/{blob_env.account_name}"
    config = write_config(tmp_path, "raw", account_url=url)
    started = time.monotonic()
    found = check_world(load_config(config), config, blob_timeout=1.0)
    took = time.monotonic() - started
    assert took < 3.0  # one attempt, no retries
    [problem] = found
    assert (problem.key, problem.line) == ("datastores.raw.container", 4)
    assert problem.message == (
        f"cannot list the container: cannot reach the storage account (azure_blob {url}/raw/): "
        "timed out"
    )


def test_an_account_nobody_listens_on_is_a_problem_at_once(
    tmp_path: Path, blob_env: AzuriteServer
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{port}/{blob_env.account_name}"
        config = write_config(tmp_path, "raw", account_url=url)
        [problem] = check_world(load_config(config), config, blob_timeout=5.0)
    assert problem.message == (
        "cannot list the container: cannot reach the storage account "
        f"(azure_blob {url}/raw/): [Errno 111] Connection refused"
    )


def test_a_default_credential_that_fails_is_one_line_not_the_sdks_account(tmp_path: Path) -> None:
    """DefaultAzureCredential logs its own many-line story of every credential it tried; the
    check says it once, naming the datastore (a process: the SDK logs through stderr)."""
    config = tmp_path / "triggerd.yaml"
    config.write_text(
        "datastores:\n"
        "  raw: {kind: azure_blob, account_url: 'https://127.0.0.1:1/devstoreaccount1', "
        "container: inbox}\n"
        "pipelines:\n  p: {kind: command, argv: [echo]}\n"
        "schedules:\n  - {name: s, pipeline: p, datastore: raw}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    done = subprocess.run(
        [sys.executable, "-m", "triggerd", "validate", "--strict", "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{config}:") and "datastores.raw" in lines[0]
    assert "authentication failed" in lines[0]
