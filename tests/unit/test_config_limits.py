"""What a config file may be: not empty, not a bomb, not too deep, too large or too long-named.

And the rule behind them: ``load_config`` raises ConfigError and nothing else, whatever the
files hold, so that ``validate`` prints a problem and a reload keeps the last good config.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from triggerd.config import load_config
from triggerd.config.files import read_config_file
from triggerd.config.loader import EMPTY_FILE
from triggerd.config.problems import MAX_NAME_LENGTH
from triggerd.config.yamllimits import MAX_DEPTH, MAX_VALUES
from triggerd.errors import ConfigError, ConfigProblem
from triggerd.store import tables

PIPELINE = "pipelines:\n  p: {kind: command, argv: [echo]}\n"
DAILY = "{frequency: Day, interval: 1, time_zone: W. Europe Standard Time}"
SCHEDULE = PIPELINE + f"schedules:\n  - {{name: s, pipeline: p, recurrence: {DAILY}}}\n"
NO_SCHEDULES = "to define no schedules on purpose, write 'schedules: []'"


def problems_of(path: Path) -> list[tuple[str, str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [(Path(p.file).name, p.key, p.line, p.message) for p in caught.value.problems]


# --- a file that defines nothing ------------------------------------------------------------

EMPTY_CASES = {
    "empty": ("", None, EMPTY_FILE),
    "only comments": ("# nothing here yet\n\n# still nothing\n", None, EMPTY_FILE),
    "only a document marker": ("---\n", None, EMPTY_FILE),
    "null": ("~\n", None, EMPTY_FILE),
    "a section without a value": (
        "# schedules are elsewhere\nschedules:\n",
        2,
        f"the file defines nothing ('schedules:' has no value); {NO_SCHEDULES}",
    ),
    "every section null": (
        "datastores: ~\npipelines: null\nschedules:\n",
        1,
        "the file defines nothing ('datastores:', 'pipelines:' and 'schedules:' have no value); "
        + NO_SCHEDULES,
    ),
    "an empty top-level mapping": (
        "{}\n",
        1,
        f"the file defines nothing (the top-level mapping is empty); {NO_SCHEDULES}",
    ),
}


@pytest.mark.parametrize(
    ("text", "line", "message"), list(EMPTY_CASES.values()), ids=list(EMPTY_CASES)
)
def test_a_file_that_defines_nothing_is_a_problem(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    (tmp_path / "c.yaml").write_text(text)
    problems = problems_of(tmp_path / "c.yaml")
    if problems[0][3].startswith("invalid YAML"):  # libyaml's own limit (1000) may come first
        message = "invalid YAML: while increasing flow level, exceeded maximum nesting depth"
    assert problems == [("c.yaml", "", line, message)]


@pytest.mark.parametrize(
    "text",
    ["schedules: []\n", "schedules: []\npipelines:\n", "pipelines: {}\n", "datastores: {}\n"],
)
def test_an_explicit_empty_section_defines_none(tmp_path: Path, text: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    config = load_config(tmp_path / "c.yaml")
    assert (config.datastores, config.pipelines, config.schedules) == ({}, {}, {})


def test_each_file_of_a_directory_is_judged_by_itself(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SCHEDULE)
    (tmp_path / "b.yaml").write_text("")  # an editor that truncates, then writes
    (tmp_path / "c.yaml").write_text("schedules: []\n")
    assert problems_of(tmp_path) == [("b.yaml", "", None, EMPTY_FILE)]


def test_a_misspelled_section_is_reported_as_such_not_as_empty(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("schedule:\n")
    assert problems_of(tmp_path / "c.yaml") == [
        ("c.yaml", "schedule", 1, "unknown key 'schedule' (did you mean 'schedules'?)")
    ]


# --- alias bombs, depth, size ---------------------------------------------------------------


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """``&a [*b, *b, ...]`` nine levels deep: 9**9 (387 million) values, about 300 bytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


BOMB_MESSAGE = (
    f"aliases (*name) expand this file to more than {MAX_VALUES:,} values, the limit for one "
    "file (is it an alias bomb?): repeat less through aliases"
)
MERGE_BOMB = "a: &a {k: v}\n" + "".join(
    f"b{i}: &b{i}\n  <<: [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 9) + "]\n"
    for i in range(9)
)
HUNDRED = ", ".join(["1"] * 100)
SCHEDULE_BOMB = (
    PIPELINE
    + "schedules:\n"
    + f"  - name: s\n    pipeline: p\n    recurrence: {DAILY}\n    pipeline_parameters:\n"
    + f"      x: &x [{HUNDRED}]\n"
    + "      y: &y [" + ", ".join(["*x"] * 100) + "]\n"
    + "      z: [" + ", ".join(["*y"] * 100) + "]\n"
)  # fmt: skip

BOMB_CASES = {
    "nine levels of lists": (alias_bomb(), 7),
    "merge keys": (MERGE_BOMB, 13),
    "inside a schedule": (SCHEDULE_BOMB, 10),
}


@pytest.mark.parametrize(("text", "line"), list(BOMB_CASES.values()), ids=list(BOMB_CASES))
def test_an_alias_bomb_is_refused_before_anything_is_built(
    tmp_path: Path, text: str, line: int
) -> None:
    assert len(text) < 40_000
    (tmp_path / "c.yaml").write_text(text)
    tracemalloc.start()
    started = time.monotonic()
    try:
        problems = problems_of(tmp_path / "c.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems == [("c.yaml", "", line, BOMB_MESSAGE)]
    assert peak < 20_000_000  # bytes: nothing of the expansion was built
    assert time.monotonic() - started < 5  # well under a second; generous for a busy machine


def many_schedules(count: int, *, merge: bool) -> str:
    """``count`` schedules sharing one anchored block: by ``<<: *defaults`` or ``*alias``."""
    head = (
        'pipelines:\n  noop: {kind: command, argv: ["true", "{a}"]}\n'
        "schedules:\n"
        "  - &defaults\n"
        "    name: s00000\n"
        "    pipeline: noop\n"
        "    recurrence: &r\n"
        "      {frequency: Week, interval: 1, week_days: [Monday, Friday], hours: [1, 2, 3],\n"
        "       minutes: [0, 30], time_zone: W. Europe Standard Time,\n"
        "       start_time: '2024-01-01T00:00:00'}\n"
        "    pipeline_parameters: {a: 1, b: x}\n"
    )
    if merge:
        item = "  - <<: *defaults\n    name: s{i:05d}\n"
    else:
        item = (
            "  - {{name: s{i:05d}, pipeline: noop, recurrence: *r, pipeline_parameters: {{a: 1}}}}"
        )
        item += "\n"
    return head + "".join(item.format(i=i) for i in range(1, count))


@pytest.mark.parametrize("merge", [True, False], ids=["<<: *defaults", "*alias"])
def test_ten_thousand_schedules_sharing_an_anchor_load(tmp_path: Path, merge: bool) -> None:
    (tmp_path / "c.yaml").write_text(many_schedules(10_000, merge=merge))
    config = load_config(tmp_path / "c.yaml")
    assert len(config.schedules) == 10_000
    first, last = config.schedule("s00000"), config.schedule("s09999")
    assert first.trigger.recurrence == last.trigger.recurrence
    assert first.trigger.recurrence is not None
    assert first.trigger.recurrence.hours == (1, 2, 3)


def test_a_file_of_more_values_than_the_limit_is_refused(tmp_path: Path) -> None:
    text = "schedules: [" + ",".join(["0"] * MAX_VALUES) + "]\n"
    (tmp_path / "c.yaml").write_text(text)
    assert problems_of(tmp_path / "c.yaml") == [
        (
            "c.yaml",
            "",
            1,
            f"the file holds more than {MAX_VALUES:,} values, the limit for one file: "
            "split it into several files",
        )
    ]


DEEP = f"lists and mappings are nested more than {MAX_DEPTH} levels deep (the limit"
DEPTH_CASES = {
    "100,000 brackets": ("[" * 100_000, 1, f"{DEEP})"),
    "100,000 braces": ("{a: " * 100_000, 1, f"{DEEP})"),
    "one level deeper than the limit": (
        "schedules: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n",
        1,
        f"{DEEP})",
    ),
    "deeper through aliases": (
        "a: &a " + "[" * 60 + "]" * 60 + "\nschedules: " + "[" * 45 + "*a" + "]" * 45 + "\n",
        2,
        f"{DEEP}, aliases included)",
    ),
    "block mappings": ("".join(" " * i + f"k{i}:\n" for i in range(2000)), 101, f"{DEEP})"),
}


@pytest.mark.parametrize(
    ("text", "line", "message"), list(DEPTH_CASES.values()), ids=list(DEPTH_CASES)
)
def test_deep_nesting_is_a_problem_not_a_recursion_error(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    (tmp_path / "c.yaml").write_text(text)
    problems = problems_of(tmp_path / "c.yaml")
    if problems[0][3].startswith("invalid YAML"):  # libyaml's own limit (1000) may come first
        message = "invalid YAML: while increasing flow level, exceeded maximum nesting depth"
    assert problems == [("c.yaml", "", line, message)]


def test_nesting_up_to_the_limit_loads(tmp_path: Path) -> None:
    body = "[" * (MAX_DEPTH - 4) + "1" + "]" * (MAX_DEPTH - 4)
    text = (
        "pipelines:\n  hook: {kind: http, url: 'https://h/', body: {deep: " + body + "}}\n"
        "schedules: []\n"
    )
    (tmp_path / "c.yaml").write_text(text)
    assert "hook" in load_config(tmp_path / "c.yaml").pipelines


def test_a_file_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with path.open("wb") as handle:  # sparse: 1 GiB of zero bytes, almost no disk
        handle.truncate(1024 * 1024 * 1024)
    tracemalloc.start()
    try:
        problem = read_config_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem == ConfigProblem(
        str(path), "", "the file is larger than 64 MiB, the limit: split it into several files"
    )
    assert peak < 1024 * 1024  # bytes: none of the file was read
    assert problems_of(path) == [("c.yaml", "", None, problem.message)]


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "c.yaml")
    assert problems_of(tmp_path / "c.yaml") == [
        ("c.yaml", "", None, "cannot read the file: not a regular file")
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_directory_is_a_problem(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    config.chmod(0)
    try:
        assert problems_of(config) == [
            ("config", "", None, "cannot read the directory: Permission denied")
        ]
    finally:
        config.chmod(0o700)


# --- names the store can hold ---------------------------------------------------------------


def test_names_fit_the_store_columns_with_the_lease_prefix() -> None:
    columns = [
        tables.schedule_state.c.name,
        tables.runs.c.schedule,
        tables.datastore_entries.c.schedule,
        tables.leases.c.name,
    ]
    for column in columns:
        assert len("poll:") + MAX_NAME_LENGTH <= column.type.length


LONG = "n" * (MAX_NAME_LENGTH + 1)
TOO_LONG = (
    f"name is {MAX_NAME_LENGTH + 1} characters long: at most {MAX_NAME_LENGTH} "
    "(it is a key in the database)"
)
NAME_CASES = {
    "schedule": (
        f"schedules:\n  - {{name: {LONG}, pipeline: p, recurrence: {DAILY}}}\n",
        "c.yaml",
        "schedules[0].name",
        2,
    ),
    "pipeline": (
        f"pipelines:\n  {LONG}: {{kind: command, argv: [echo]}}\n",
        "c.yaml",
        f"pipelines.{LONG}",
        2,
    ),
    "datastore": (
        f"datastores:\n  {LONG}: {{kind: local, path: d}}\n",
        "c.yaml",
        f"datastores.{LONG}",
        2,
    ),
    "Azure ML schedule named by its file": (
        f"Schedule:\n  pipeline_id: p\n  recurrence: {DAILY}\n",
        f"{LONG}.yaml",
        "Schedule.name",
        1,
    ),
}


@pytest.mark.parametrize(
    ("text", "file", "key", "line"), list(NAME_CASES.values()), ids=list(NAME_CASES)
)
def test_a_name_longer_than_the_store_holds_is_a_problem(
    tmp_path: Path, text: str, file: str, key: str, line: int
) -> None:
    (tmp_path / "pipelines.yaml").write_text(PIPELINE)
    (tmp_path / file).write_text(text)
    assert problems_of(tmp_path) == [(file, key, line, TOO_LONG)]


def test_a_name_of_the_longest_length_loads(tmp_path: Path) -> None:
    name = "s" * MAX_NAME_LENGTH
    text = PIPELINE + f"schedules:\n  - {{name: {name}, pipeline: p, recurrence: {DAILY}}}\n"
    (tmp_path / "c.yaml").write_text(text)
    assert list(load_config(tmp_path / "c.yaml").schedules) == [name]


# --- nothing but ConfigError ----------------------------------------------------------------

HOSTILE: dict[str, str | bytes] = {
    "alias bomb": alias_bomb(),
    "100,000 brackets": "[" * 100_000,
    "recursive alias": "schedules: &s [*s]\n",
    "a 5000-digit interval": PIPELINE
    + "schedules:\n  - {name: s, pipeline: p, recurrence: {frequency: Day, interval: 1"
    + "0" * 5000
    + "}}\n",
    "a 5000-digit duration": PIPELINE
    + "datastores: {d: {kind: local, path: d}}\n"
    + "schedules:\n  - {name: s, pipeline: p, datastore: d, polling_interval: '1"
    + "0" * 5000
    + "s'}\n",
    "a polling interval past timedelta": PIPELINE
    + "datastores: {d: {kind: local, path: d}}\n"
    + "schedules:\n  - {name: s, pipeline: p, datastore: d, polling_interval: 99999999999999999}\n",
    "a timeout past timedelta": "pipelines:\n  p: {kind: command, argv: [echo], "
    + "timeout: 10000000000000000}\n",
    "Month interval 40,000,000": PIPELINE
    + "schedules:\n  - {name: s, pipeline: p, recurrence: "
    + "{frequency: Month, interval: 40000000}}\n",
    "start_time past the year 9999 in UTC": PIPELINE
    + "schedules:\n  - {name: s, pipeline: p, recurrence: {frequency: Day, interval: 1, "
    + "start_time: '9999-12-31T23:59:59', time_zone: Hawaiian Standard Time}}\n",
    "a time zone name of 5000 letters": PIPELINE
    + "schedules:\n  - {name: s, pipeline: p, recurrence: {frequency: Day, interval: 1, "
    + f"time_zone: {'z' * 5000}}}}}\n",
    "a bad !!int": "schedules: [!!int abc]\n",
    "a bad !!timestamp": "schedules: [!!timestamp abc]\n",
    "a bad !!bool": "schedules: [!!bool maybe]\n",
    "a bad !!float": "schedules: [!!float '1:2']\n",
    "a bad !!binary": "schedules: [!!binary '%%%']\n",
    "a python tag": "schedules: [!!python/object:os.system {}]\n",
    "NUL bytes": "schedules: []\n\x00\x00",
    "not UTF-8": b"schedules: [\xff]\n",
    "two documents": "schedules: []\n---\nschedules: []\n",
    "a YAML 1.1 directive": "%YAML 1.1\n---\nschedules: []\n",
}


@pytest.mark.parametrize("content", list(HOSTILE.values()), ids=list(HOSTILE))
def test_load_config_raises_only_config_error(tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems
    assert all(problem.file == str(path) for problem in caught.value.problems)
