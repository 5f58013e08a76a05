"""`triggerd validate --strict`: a valid config checked against the world it names, with real
folders, files and programs. Each problem is one line naming the file, the key and what is
wrong, like a config problem; no line holds a secret's value.

Tests run as root here, and root lists and reads whatever its mode says (``chmod 000`` stops
nobody): "cannot be listed" and "cannot be read" are tested with what root cannot list or read
either (a file where a folder should be, a folder where a file should be); the ``chmod 000``
cases run only for a user that is not root.
"""

from __future__ import annotations

import base64
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from triggerd.cli import main
from triggerd.config import load_config
from triggerd.engine.worldcheck import check_world, program_problem

SECRET = "s3cr3t-value-never-printed"
KEY = base64.b64encode(SECRET.encode()).decode()  # an account key is base64
root_only = pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads and lists whatever the mode says"
)


def validate(config: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(main, ["validate", "--config", str(config), *extra])
    return result.exit_code, result.stderr


def write(folder: Path, text: str, name: str = "triggerd.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def problems(config: Path) -> list[str]:
    return [str(p) for p in check_world(load_config(config), config)]


def test_a_config_whose_world_exists_passes_strict(tmp_path: Path) -> None:
    (tmp_path / "data" / "incoming").mkdir(parents=True)
    (tmp_path / "token").write_text(SECRET)
    config = write(
        tmp_path / "config",
        f"""
datastores:
  inbox: {{kind: local, path: ../data}}
pipelines:
  show: {{kind: command, argv: [{sys.executable}, -c, "print(1)"], cwd: ..}}
  echo: {{kind: command, argv: [echo, "{{file}}"]}}
  hook:
    kind: http
    url: https://example.com/hook
    headers: {{X-Token: {{file: ../token}}}}
schedules:
  - name: watch
    pipeline: echo
    datastore: inbox
    path_on_datastore: incoming
    data_path_parameter_name: file
""",
    )
    code, err = validate(config, "--strict")
    assert (code, err) == (0, "")


def test_missing_folders_are_one_line_each_with_file_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config = write(
        tmp_path / "config",
        """
datastores:
  inbox: {kind: local, path: ../data}
  gone: {kind: local, path: ../nowhere}
pipelines:
  p: {kind: command, argv: [echo]}
schedules:
  - name: watch
    pipeline: p
    datastore: inbox
    path_on_datastore: incoming/
  - name: on-gone
    pipeline: p
    datastore: gone
    path_on_datastore: sub
""",
    )
    code, err = validate(config, "--strict")
    assert code == 1
    # The path is shown as meant (no "config/../"); a schedule on a missing datastore folder is
    # not reported again for its sub-folder.
    assert err.splitlines() == [
        f"{config}:4: datastores.gone.path: folder {tmp_path}/nowhere does not exist",
        f"{config}:11: schedules[0].path_on_datastore: folder {tmp_path}/data/incoming "
        "does not exist",
    ]
    assert validate(config) == (0, "")  # without --strict: the config alone, as before


def test_a_file_where_the_folder_should_be_cannot_be_listed(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    config = write(
        tmp_path,
        "datastores:\n  inbox: {kind: local, path: data}\n",
        name="c.yaml",
    )
    assert problems(config) == [
        f"{config}:2: datastores.inbox.path: {tmp_path}/data is not a folder"
    ]


@root_only
def test_a_folder_without_read_permission_cannot_be_listed(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(mode=0)
    config = write(tmp_path, "datastores:\n  inbox: {kind: local, path: data}\n", name="c.yaml")
    assert problems(config) == [
        f"{config}:2: datastores.inbox.path: cannot list folder {tmp_path}/data: Permission denied"
    ]


def test_commands_argv0_on_path_relative_to_cwd_and_executable(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    runnable = work / "run.sh"
    runnable.write_text("#!/bin/sh\n")
    runnable.chmod(0o755)
    (work / "plain.txt").write_text("")
    (work / "plain.txt").chmod(0o644)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "my-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    config = write(
        tmp_path,
        f"""
pipelines:
  relative-ok: {{kind: command, argv: [./run.sh], cwd: work}}
  relative-missing: {{kind: command, argv: [./run.sh]}}
  not-executable: {{kind: command, argv: [./plain.txt], cwd: work}}
  folder: {{kind: command, argv: [{work}]}}
  not-installed: {{kind: command, argv: [no-such-program-here]}}
  own-path: {{kind: command, argv: [my-tool], env: {{PATH: {bin_dir}}}}}
  own-path-missing: {{kind: command, argv: [echo], env: {{PATH: {bin_dir}}}}}
  placeholder: {{kind: command, argv: ["{{tool}}"]}}
  no-cwd: {{kind: command, argv: [./run.sh], cwd: nowhere}}
  cwd-file: {{kind: command, argv: [echo], cwd: work/plain.txt}}
""",
        name="c.yaml",
    )
    # relative-missing: without cwd, ./run.sh is looked for where the daemon runs (not here)
    assert problems(config) == [
        f"{config}:4: pipelines.relative-missing.argv[0]: './run.sh' does not exist",
        f"{config}:5: pipelines.not-executable.argv[0]: './plain.txt' is not an executable file",
        f"{config}:6: pipelines.folder.argv[0]: '{work}' is not an executable file",
        f"{config}:7: pipelines.not-installed.argv[0]: 'no-such-program-here' is not found on PATH",
        f"{config}:9: pipelines.own-path-missing.argv[0]: 'echo' is not found on the PATH of "
        "the pipeline's env",
        f"{config}:11: pipelines.no-cwd.cwd: working directory {tmp_path}/nowhere does not exist",
        f"{config}:12: pipelines.cwd-file.cwd: working directory {tmp_path}/work/plain.txt "
        "is not a folder",
    ]


def test_argv0_is_found_on_the_daemons_path(tmp_path: Path) -> None:
    assert program_problem("sh", None, None) is None
    assert (
        program_problem("sh", None, str(tmp_path))
        == "'sh' is not found on the PATH of the pipeline's env"
    )
    assert program_problem(sys.executable, tmp_path, None) is None  # absolute: cwd is not used


def secrets_config(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        """
datastores:
  raw:
    kind: azure_blob
    container: raw
    connection_string_env: TEST_WC_CONNECTION
  keyed:
    kind: azure_blob
    container: raw
    account_url: http://127.0.0.1:1/devstoreaccount1
    credential: {kind: account_key, file: keys/account.key}
pipelines:
  hook:
    kind: http
    url: https://example.com/hook
    headers:
      X-Api-Key: {env: TEST_WC_API_KEY}
      X-Other: {file: keys/empty.key}
      X-Dir: {file: keys}
  aml:
    kind: azureml
    endpoint: https://example.api.azureml.ms/pipelines/v1.0/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/PipelineRuns/PipelineSubmit/abc
    auth: {kind: bearer, token_env: TEST_WC_TOKEN}
  aml-file:
    kind: azureml
    endpoint: https://example.api.azureml.ms/pipelines/v1.0/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/PipelineRuns/PipelineSubmit/abc
    auth: {kind: bearer, token_file: keys/missing.token}
""",
        name="c.yaml",
    )


def test_secrets_whose_variable_is_unset_or_empty_or_whose_file_is_missing_or_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "empty.key").write_text("  \n")
    config = secrets_config(tmp_path)
    monkeypatch.delenv("TEST_WC_CONNECTION", raising=False)
    monkeypatch.setenv("TEST_WC_API_KEY", "   ")
    monkeypatch.delenv("TEST_WC_TOKEN", raising=False)
    keys = tmp_path / "keys"
    assert problems(config) == [
        f"{config}:6: datastores.raw.connection_string_env: environment variable "
        "TEST_WC_CONNECTION is not set or empty",
        f"{config}:11: datastores.keyed.credential.file: file {keys}/account.key does not exist",
        f"{config}:17: pipelines.hook.headers.X-Api-Key.env: environment variable "
        "TEST_WC_API_KEY is not set or empty",
        f"{config}:18: pipelines.hook.headers.X-Other.file: file {keys}/empty.key is empty",
        f"{config}:19: pipelines.hook.headers.X-Dir.file: {keys} is not a regular file",
        f"{config}:23: pipelines.aml.auth.token_env: environment variable TEST_WC_TOKEN is not "
        "set or empty",
        f"{config}:27: pipelines.aml-file.auth.token_file: file {keys}/missing.token does not "
        "exist",
    ]


def test_secrets_that_are_there_pass_and_no_value_is_ever_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "account.key").write_text(KEY)
    (keys / "empty.key").write_text(SECRET)
    (keys / "missing.token").write_text(SECRET)
    config = secrets_config(tmp_path)
    monkeypatch.setenv("TEST_WC_API_KEY", SECRET)
    monkeypatch.setenv("TEST_WC_TOKEN", SECRET)
    monkeypatch.setenv(
        "TEST_WC_CONNECTION",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={KEY};BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;",
    )
    found = problems(config)
    # X-Dir stays a folder; nothing listens on port 1, so the containers cannot be listed:
    # the reasons name the container and the account, never a key.
    assert found == [
        f"{config}:5: datastores.raw.container: cannot list the container: cannot reach the "
        "storage account (azure_blob http://127.0.0.1:1/devstoreaccount1/raw/): "
        "[Errno 111] Connection refused",
        f"{config}:9: datastores.keyed.container: cannot list the container: cannot reach the "
        "storage account (azure_blob http://127.0.0.1:1/devstoreaccount1/raw/): "
        "[Errno 111] Connection refused",
        f"{config}:19: pipelines.hook.headers.X-Dir.file: {keys} is not a regular file",
    ]
    assert not any(SECRET in p or KEY in p for p in found)


@root_only
def test_a_secret_file_without_read_permission(tmp_path: Path) -> None:
    key = tmp_path / "token"
    key.write_text(SECRET)
    key.chmod(0)
    config = write(
        tmp_path,
        "pipelines:\n  hook:\n    kind: http\n    url: https://example.com/h\n"
        "    headers: {X-Token: {file: token}}\n",
        name="c.yaml",
    )
    assert problems(config) == [
        f"{config}:5: pipelines.hook.headers.X-Token.file: cannot read file {key}: "
        "Permission denied"
    ]


def test_a_fifo_as_a_secret_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    config = write(
        tmp_path,
        "pipelines:\n  hook:\n    kind: http\n    url: https://example.com/h\n"
        "    headers: {X-Token: {file: token}}\n",
        name="c.yaml",
    )
    [problem] = problems(config)
    assert problem.endswith(f"pipelines.hook.headers.X-Token.file: {fifo} is not a regular file")


def test_schedules_in_an_azure_ml_file_name_its_own_keys(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write(
        tmp_path,
        "datastores:\n  d: {kind: local, path: data}\npipelines:\n  p: {kind: command, "
        "argv: [echo]}\n",
        name="a.yaml",
    )
    schedule = write(
        tmp_path,
        "Schedule:\n  datastore_name: d\n  pipeline_id: p\n  path_on_datastore: uploads\n",
        name="uploads.yaml",
    )
    assert problems(tmp_path) == [
        f"{schedule}:4: Schedule.path_on_datastore: folder {tmp_path}/data/uploads does not exist"
    ]


def test_paths_lose_their_dotdot_but_never_step_back_over_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "etc" / "config"
    write(real, "datastores:\n  inbox: {kind: local, path: ../data}\n")
    link = tmp_path / "config-link"
    link.symlink_to(real)
    # Through the real folder: etc/config/../data is etc/data, and shown so.
    by_real = load_config(real / "triggerd.yaml").datastores["inbox"]
    assert by_real.path == tmp_path / "etc" / "data"  # type: ignore[union-attr]
    # Through a symlink, ".." is the link target's parent (etc), not tmp_path: the pair stays.
    by_link = load_config(link / "triggerd.yaml").datastores["inbox"]
    assert by_link.path == link / ".." / "data"  # type: ignore[union-attr]
    assert problems(link / "triggerd.yaml") == [
        f"{link}/triggerd.yaml:2: datastores.inbox.path: folder {link}/../data does not exist"
    ]
