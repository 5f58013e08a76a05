"""Loading a config from recorded texts ({path: text}) gives what loading those files from disk
gave: relative paths resolve from each file's own directory, wherever the command runs and
whether or not the files are still there (or still valid)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from triggerd.config import LocalDatastore, load_config, load_config_from_texts, read_config
from triggerd.config.base import SecretSource
from triggerd.config.digest import FilesChange, file_sha256, files_on_disk
from triggerd.config.pipelines import CommandPipeline, HttpPipeline
from triggerd.errors import ConfigError

DATASTORES = """\
datastores:
  inbox: {kind: local, path: ../data}
"""
PIPELINES = """\
pipelines:
  score:
    kind: command
    argv: [python3, score.py, "{input}"]
    cwd: ../jobs
  notify:
    kind: http
    url: http://127.0.0.1:9/hook
    headers: {X-Api-Key: {file: secrets/token}}
"""
SCHEDULES = """\
schedules:
  - name: score-files
    pipeline: score
    datastore: inbox
    path_on_datastore: incoming
    data_path_parameter_name: input
"""
AZUREML = """\
Schedule:
  recurrence: {frequency: Day, interval: 1, time_zone: W. Europe Standard Time,
               hours: [2], minutes: [30]}
  pipeline_id: notify
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "site" / "config"
    folder.mkdir(parents=True)
    for name, text in {
        "10-datastores.yaml": DATASTORES,
        "20-pipelines.yml": PIPELINES,
        "30-schedules.yaml": SCHEDULES,
        "nightly-notify.yaml": AZUREML,
    }.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_directory_loads_from_its_texts_as_it_did_from_disk(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(config_dir.parent)
    loaded = read_config(Path("config"))  # as a daemon started in /site with --config config
    site = config_dir.parent
    assert sorted(loaded.files.texts) == [
        str(config_dir / "10-datastores.yaml"),
        str(config_dir / "20-pipelines.yml"),
        str(config_dir / "30-schedules.yaml"),
        str(config_dir / "nightly-notify.yaml"),
    ]
    shutil.rmtree(config_dir)  # the files are gone; a command runs somewhere else
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)

    config = load_config_from_texts(loaded.files.texts)

    inbox = config.datastores["inbox"]
    assert isinstance(inbox, LocalDatastore)
    assert inbox.path.resolve() == site / "data"
    assert inbox.path.resolve() == loaded.config.datastores["inbox"].path.resolve()  # type: ignore[union-attr]
    score = config.pipelines["score"]
    assert isinstance(score, CommandPipeline) and score.cwd is not None
    assert score.cwd.resolve() == site / "jobs"
    notify = config.pipelines["notify"]
    assert isinstance(notify, HttpPipeline)
    assert notify.headers["X-Api-Key"] == SecretSource(file=config_dir / "secrets" / "token")
    assert list(config.schedules) == ["score-files", "nightly-notify"]  # the stem names it
    assert config.schedule("score-files").source == str(config_dir / "30-schedules.yaml")
    assert config.schedule("nightly-notify").pipeline == "notify"


def test_the_same_files_give_the_same_config_from_disk_and_from_texts(config_dir: Path) -> None:
    loaded = read_config(config_dir)
    assert load_config_from_texts(loaded.files.texts) == loaded.config == load_config(config_dir)


def test_a_single_file_config_is_one_file(tmp_path: Path) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text(DATASTORES + PIPELINES + SCHEDULES, encoding="utf-8")
    loaded = read_config(path)
    assert loaded.files.sha256s == {str(path): file_sha256(path.read_text(encoding="utf-8"))}
    config = load_config_from_texts(loaded.files.texts)
    assert config.datastores["inbox"].path.resolve() == tmp_path.parent / "data"  # type: ignore[union-attr]
    assert config == loaded.config


def test_problems_in_texts_name_the_recorded_file_and_line(tmp_path: Path) -> None:
    path = str(tmp_path / "config" / "broken.yaml")
    with pytest.raises(ConfigError) as raised:
        load_config_from_texts({path: "schedules:\n  - name: x\n    pipeline: nowhere\n"})
    [problem, *_] = raised.value.problems
    assert (problem.file, problem.line) == (path, 2)


def test_the_files_on_disk_are_compared_without_being_valid(config_dir: Path) -> None:
    loaded = read_config(config_dir)
    recorded = loaded.files.sha256s
    assert files_on_disk(config_dir).sha256s == recorded
    assert files_on_disk(config_dir).digest == loaded.files.digest
    (config_dir / "30-schedules.yaml").write_text("schedules: [\n", encoding="utf-8")
    (config_dir / "nightly-notify.yaml").unlink()
    (config_dir / "40-more.yaml").write_bytes(b"\xff not UTF-8")
    disk = files_on_disk(config_dir)
    assert disk.sha256s[str(config_dir / "40-more.yaml")] is None
    assert disk.digest is None  # no config could be loaded from these
    change = FilesChange.between(recorded, disk.sha256s)
    assert (change.changed, change.added, change.removed, change.same) == (
        [str(config_dir / "30-schedules.yaml")],
        [str(config_dir / "40-more.yaml")],
        [str(config_dir / "nightly-notify.yaml")],
        False,
    )
