"""Plain scalars are read as YAML 1.2, as the Azure ML SDK (ruamel.yaml) reads them.

Every case runs in both file shapes, a native file and an Azure ML ``Schedule:`` file, with the
scalar as a pipeline parameter (which keeps its type: the run sends ``str(value)``). The
expected values were checked against ruamel.yaml 0.19.1, ``YAML(typ="safe").load``. Where
YAML 1.1 (what triggerd read before) and YAML 1.2 differ in a way that cannot be guessed (the
booleans ``yes``/``no``/``on``/``off``), the value is refused with what to write instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from triggerd.config import load_config
from triggerd.config.yamltree import yaml11_bool_problem
from triggerd.errors import ConfigError

PIPELINES = "pipelines:\n  p: {kind: command, argv: [echo]}\n"


def write(tmp_path: Path, form: str, scalar: str) -> tuple[Path, str, int]:
    """(config path, key path of the parameter, its line)."""
    if form == "native":
        (tmp_path / "c.yaml").write_text(
            PIPELINES + "schedules:\n  - name: s\n    pipeline: p\n"
            "    recurrence: {frequency: Day, interval: 1, time_zone: W. Europe Standard Time}\n"
            f"    pipeline_parameters:\n      v: {scalar}\n"
        )
        return tmp_path / "c.yaml", "schedules[0].pipeline_parameters.v", 8
    (tmp_path / "pipelines.yaml").write_text(PIPELINES)
    (tmp_path / "s.yaml").write_text(
        "Schedule:\n  pipeline_id: p\n"
        "  recurrence: {frequency: Day, interval: 1, time_zone: W. Europe Standard Time,\n"
        "               start_time: ~, hours: ~, minutes: ~, time_of_day: ~, week_days: ~}\n"
        f"  pipeline_parameters:\n    v: {scalar}\n"
    )
    return tmp_path, "Schedule.pipeline_parameters.v", 6


@pytest.fixture(params=["native", "azure"])
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# scalar as written -> the value it is read as
READ_AS: dict[str, Any] = {
    # integers: decimal even with leading zeros (YAML 1.1: 010 was octal 8, 08 was text)
    "010": 10,
    "08": 8,
    "09": 9,
    "-010": -10,
    "+08": 8,
    "00": 0,
    "0o10": 8,  # YAML 1.1: text
    "0x10": 16,
    "0b101": 5,  # ruamel reads binary in 1.2 too
    "1_000": 1000,  # and ignores "_" between digits
    "-0x_1f": -31,
    # floats: an exponent needs no dot or sign any more (YAML 1.1: text)
    "1e3": 1000.0,
    "1.0e3": 1000.0,
    "2E-2": 0.02,
    "+.5": 0.5,
    "1.5": 1.5,
    "1_0.25": 10.25,
    # booleans: the YAML 1.2 words only
    "true": True,
    "False": False,
    "TRUE": True,
    # text, in both
    "tRue": "tRue",
    "y": "y",
    "n": "n",
    "18:30": "18:30",  # no base 60
    "1:30.5": "1:30.5",
    "2024-01-01": "2024-01-01",  # no timestamps
    "0o8": "0o8",
    "0X10": "0X10",
    "0b": "0b",
    "-_": "-_",  # ruamel resolves it as an int, then fails to build it
    "=": "=",  # YAML 1.1's value key type: neither loader builds it
    "\u0660\u0668": "\u0660\u0668",  # Arabic-Indic digits are not digits
    "\uff11\uff12": "\uff11\uff12",  # neither are full-width ones
}


@pytest.mark.parametrize(("scalar", "expected"), list(READ_AS.items()), ids=list(READ_AS))
def test_a_plain_scalar_is_read_as_yaml_1_2(
    tmp_path: Path, form: str, scalar: str, expected: Any
) -> None:
    config, _, _ = write(tmp_path, form, scalar)
    value = load_config(config).schedule("s").pipeline_parameters["v"]
    assert (type(value), value) == (type(expected), expected)


YAML11_BOOLEANS = ["yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]


@pytest.mark.parametrize("word", YAML11_BOOLEANS)
def test_a_yaml_1_1_boolean_word_is_refused_with_what_to_write(
    tmp_path: Path, form: str, word: str
) -> None:
    config, key, line = write(tmp_path, form, word)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert [(p.key, p.line, p.message) for p in caught.value.problems] == [
        (key, line, yaml11_bool_problem(word))
    ]


def test_the_yaml_1_1_boolean_message() -> None:
    assert yaml11_bool_problem("yes") == (
        "yes is a boolean (true) in YAML 1.1 but the text 'yes' in YAML 1.2, which triggerd and "
        "the Azure ML SDK read: write true for the boolean, or quote it ('yes') for the text"
    )
    assert "(false)" in yaml11_bool_problem("Off")


@pytest.mark.parametrize("scalar", ["'yes'", '"on"', "!!str off"])
def test_a_quoted_yaml_1_1_boolean_word_is_text(tmp_path: Path, form: str, scalar: str) -> None:
    config, _, _ = write(tmp_path, form, scalar)
    assert load_config(config).schedule("s").pipeline_parameters["v"] in ("yes", "on", "off")


@pytest.mark.parametrize(("key", "value"), [("continue_on_step_failure", "yes"), ("status", "On")])
def test_a_refused_word_is_one_problem_not_two(tmp_path: Path, key: str, value: str) -> None:
    """The key's own check (true or false; Active or Disabled) does not add a second one."""
    (tmp_path / "c.yaml").write_text(
        PIPELINES + "schedules:\n  - name: s\n    pipeline: p\n"
        f"    recurrence: {{frequency: Day, interval: 1}}\n    {key}: {value}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert [(p.key, p.line, p.message) for p in caught.value.problems] == [
        (f"schedules[0].{key}", 7, yaml11_bool_problem(value))
    ]


UNREADABLE = {
    "!!int with Arabic-Indic digits": ("!!int '\u0661\u0662'", "this value is not an integer"),
    "!!int of letters": ("!!int abc", "this value is not an integer"),
    "!!float with Arabic-Indic digits": ("!!float '\u0661.\u0665'", "this value is not a number"),
    "an integer of 5000 digits": ("1" + "0" * 4999, "this value is an integer of more than "
                                  "4000 digits"),
    "!!bool maybe": ("!!bool maybe", "this value cannot be read as a boolean"),
    "!!timestamp of letters": ("!!timestamp soon", "this value cannot be read as a date"),
}  # fmt: skip


@pytest.mark.parametrize(("scalar", "message"), list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_a_scalar_that_cannot_be_built_is_a_problem(
    tmp_path: Path, form: str, scalar: str, message: str
) -> None:
    config, key, line = write(tmp_path, form, scalar)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert [(p.key, p.line, p.message) for p in caught.value.problems] == [(key, line, message)]


def test_a_yaml_1_1_directive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("%YAML 1.1\n---\nschedules: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert [(p.key, p.line, p.message) for p in caught.value.problems] == [
        (
            "",
            1,
            "the '%YAML 1.1' directive is not supported: triggerd reads YAML 1.2, as the Azure "
            "ML SDK does; remove the directive",
        )
    ]


def test_a_yaml_1_2_directive_is_welcome(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "%YAML 1.2\n---\n" + PIPELINES + "schedules:\n  - name: s\n    pipeline: p\n"
        "    recurrence: {frequency: Day, interval: 010}\n"
    )
    recurrence = load_config(tmp_path / "c.yaml").schedule("s").trigger.recurrence
    assert recurrence is not None
    assert recurrence.interval == 10
