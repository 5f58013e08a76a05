"""`schedules trigger` refuses what could only fail, by the poll's own rules, and records nothing.

Real folders (FIFOs, symlinks, sub-folders, a name that is not UTF-8) and a real blob container
in Azurite; the real CLI (click's CliRunner) on a real SQLite file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerClient
from click.testing import CliRunner, Result

from tests.support.azurite import AzuriteServer
from triggerd.cli import main

CONNECTION_ENV = "TRIGGERD_TEST_MANUAL_BLOB"

CONFIG = """
datastores:
  inbox: {kind: local, path: ./inbox}
  missing: {kind: local, path: ./no-such-folder}
pipelines:
  job: {kind: command, argv: [echo, "{input_file}", "{greeting}"]}
  plain: {kind: command, argv: [echo, hello]}
schedules:
  - name: files
    pipeline: job
    datastore: inbox
    path_on_datastore: incoming
    data_path_parameter_name: input_file
    pipeline_parameters: {greeting: hi}
  - name: csv-only
    pipeline: job
    datastore: inbox
    path_on_datastore: incoming
    data_path_parameter_name: input_file
    include: ["*.csv"]
    exclude: ["*.bak.csv"]
    pipeline_parameters: {greeting: hi}
  - name: gone
    pipeline: job
    datastore: missing
    data_path_parameter_name: input_file
    pipeline_parameters: {greeting: hi}
  - name: every-minute
    pipeline: plain
    recurrence: {frequency: Minute, interval: 1}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    incoming = directory / "inbox" / "incoming"
    (incoming / "sub").mkdir(parents=True)
    (directory / "inbox" / "other").mkdir()
    (directory / "triggerd.yaml").write_text(CONFIG, encoding="utf-8")
    for name in ("a.csv", ".hidden.csv", "notes.txt", "old.bak.csv", "sub/b.csv"):
        (incoming / name).write_text(name)
    (directory / "inbox" / "other" / "c.csv").write_text("c")
    os.mkfifo(incoming / "pipe.csv")
    outside = tmp_path / "secret.csv"
    outside.write_text("not yours")
    (incoming / "out.csv").symlink_to(outside)
    (incoming / "in.csv").symlink_to(incoming / "a.csv")
    (incoming / "dangling.csv").symlink_to(incoming / "nothing")
    with open(os.fsencode(incoming) + b"/bad\xff.csv", "w") as handle:
        handle.write("x")
    return directory


@pytest.fixture
def invoke(config: Path, tmp_path: Path) -> Any:
    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        full = [*args, "--config", str(config), "--state-dir", str(tmp_path / "state")]
        return CliRunner().invoke(main, full, catch_exceptions=False, env=env)

    return run


def recorded(invoke: Any, tmp_path: Path) -> list[dict[str, Any]]:
    if not (tmp_path / "state" / "triggerd.db").exists():
        return []
    result = invoke("runs", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


REFUSED = [
    ("files", [], "give --data-path, the file to run on, relative to the datastore root"),
    ("files", ["--data-path", "../etc/passwd"], "'../etc/passwd' leaves the datastore ('..')"),
    ("files", ["--data-path", "incoming/../../x"], "leaves the datastore ('..')"),
    ("files", ["--data-path", "/etc/passwd"], "'/etc/passwd' is an absolute path"),
    ("files", ["--data-path", "incoming/nope.csv"], "there is no file "),
    ("files", ["--data-path", "incoming/pipe.csv"], "pipe.csv is a FIFO, not a regular file"),
    ("files", ["--data-path", "incoming/sub"], "incoming/sub is a folder, not a file"),
    ("files", ["--data-path", "incoming/sub/b.csv"], "is in a sub-folder of the watched folder"),
    ("files", ["--data-path", "incoming/out.csv"], "secret.csv, outside the watched folder"),
    ("files", ["--data-path", "incoming/dangling.csv"], "is a symlink to nothing"),
    ("files", ["--data-path", "incoming/.hidden.csv"], "'.*' in the default exclude list"),
    ("files", ["--data-path", "other/c.csv"], "is not in the folder the schedule watches"),
    ("files", ["--data-path", "a.csv"], "did you mean 'incoming/a.csv'?"),
    ("files", ["--data-path", "incoming/bad\udcff.csv"], "its name is not valid UTF-8"),
    ("csv-only", ["--data-path", "incoming/notes.txt"], "none of the schedule's include patterns"),
    ("csv-only", ["--data-path", "incoming/old.bak.csv"], "matches '*.bak.csv' in exclude"),
    (
        "files",
        ["--data-path", "incoming/a.csv", "--param", "nope=1"],
        "unknown parameter 'nope' for schedule 'files'; known: greeting, input_file",
    ),
    (
        "every-minute",
        ["--param", "greeting=x"],
        "unknown parameter 'greeting' for schedule 'every-minute'; known: none",
    ),
    ("every-minute", ["--data-path", "a.csv"], "schedule 'every-minute' watches no datastore"),
]


@pytest.mark.parametrize(("schedule", "args", "message"), REFUSED)
def test_a_run_that_could_only_fail_is_refused_and_nothing_is_recorded(
    invoke: Any, tmp_path: Path, schedule: str, args: list[str], message: str
) -> None:
    result = invoke("schedules", "trigger", schedule, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert recorded(invoke, tmp_path) == []


def test_a_folder_that_cannot_be_listed_exits_1(invoke: Any, tmp_path: Path) -> None:
    result = invoke("schedules", "trigger", "gone", "--data-path", "a.csv")
    assert result.exit_code == 1, result.output
    assert "cannot check --data-path: folder " in result.output
    assert "no-such-folder does not exist" in result.output
    assert recorded(invoke, tmp_path) == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("incoming/a.csv", "incoming/a.csv"),
        ("./incoming//a.csv", "incoming/a.csv"),
        ("incoming/in.csv", "incoming/in.csv"),  # a symlink inside the folder: listed
    ],
)
def test_a_file_a_poll_would_fire_is_recorded(
    invoke: Any, tmp_path: Path, given: str, stored: str
) -> None:
    result = invoke("schedules", "trigger", "files", "--data-path", given, "--param", "greeting=x")
    assert result.exit_code == 0, result.output
    [run] = recorded(invoke, tmp_path)
    assert run["data_path"] == {"datastore": "inbox", "relative_path": stored}
    assert run["parameters"] == {"greeting": "x"}


# -- a blob container (Azurite) ----------------------------------------------------------------

BLOB_CONFIG = """
datastores:
  raw: {{kind: azure_blob, container: {container}, connection_string_env: {env}}}
pipelines:
  job: {{kind: command, argv: [echo, "{{input_file}}"]}}
schedules:
  - name: blobs
    pipeline: job
    datastore: raw
    path_on_datastore: incoming
    data_path_parameter_name: input_file
"""


@pytest.fixture
def blob_invoke(
    tmp_path: Path, azurite: AzuriteServer, blob_container: ContainerClient
) -> Iterator[Any]:
    directory = tmp_path / "blob-config"
    directory.mkdir()
    text = BLOB_CONFIG.format(container=blob_container.container_name, env=CONNECTION_ENV)
    (directory / "triggerd.yaml").write_text(text, encoding="utf-8")
    for name in ("incoming/a.csv", "incoming/.hidden", "incoming/sub/b.csv", "other.csv"):
        blob_container.upload_blob(name, b"x")
    env = {CONNECTION_ENV: azurite.connection_string}

    def run(*args: str) -> Result:
        full = [*args, "--config", str(directory), "--state-dir", str(tmp_path / "state")]
        return CliRunner().invoke(main, full, catch_exceptions=False, env=env)

    yield run


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("incoming/nope.csv", "no blob 'incoming/nope.csv' directly in azure_blob http://"),
        ("incoming/sub/b.csv", "is in a sub-folder of the watched folder"),
        ("incoming/.hidden", "'.*' in the default exclude list"),
        ("a.csv", "did you mean 'incoming/a.csv'?"),
        ("other.csv", "is not in the folder the schedule watches"),
        ("../x", "leaves the datastore"),
    ],
)
def test_a_blob_a_poll_would_not_fire_is_refused(
    blob_invoke: Any, tmp_path: Path, given: str, message: str
) -> None:
    result = blob_invoke("schedules", "trigger", "blobs", "--data-path", given)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "state").exists()


def test_a_listed_blob_is_recorded(blob_invoke: Any) -> None:
    result = blob_invoke("schedules", "trigger", "blobs", "--data-path", "incoming/a.csv")
    assert result.exit_code == 0, result.output
    [run] = json.loads(blob_invoke("runs", "list", "--json").output)
    assert run["data_path"] == {"datastore": "raw", "relative_path": "incoming/a.csv"}
