"""`triggerd validate --config PATH`: one line per problem on stderr and exit 1, or exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from triggerd.cli import main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "configs"
HEAD = "pipelines:\n  p: {kind: command, argv: [echo]}\nschedules:\n  - name: s\n    pipeline: p\n"

# (file text, the line printed after "<file>:")
CASES = {
    "frequency": (
        HEAD + "    recurrence: {frequency: daily, interval: 1}\n",
        "6: schedules[0].recurrence.frequency: Invalid value for frequency, only one of Minute, "
        "Hour, Day, Week, or Month accepted",
    ),
    "interval": (
        HEAD + "    recurrence: {frequency: Day, interval: 0}\n",
        "6: schedules[0].recurrence.interval: Interval must be an integer greater than 0.",
    ),
    "hours frequency": (
        HEAD + "    recurrence: {frequency: Hour, interval: 1, hours: [1]}\n",
        "6: schedules[0].recurrence.hours: Can only specify hours if frequency is Week or Day.",
    ),
    "minutes frequency": (
        HEAD + "    recurrence: {frequency: Month, interval: 1, minutes: [1]}\n",
        "6: schedules[0].recurrence.minutes: Can only specify minutes if frequency is Week or Day.",
    ),
    "week days frequency": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, week_days: [Monday]}\n",
        "6: schedules[0].recurrence.week_days: Can only specify week days if frequency is Week.",
    ),
    "hours range": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, hours: [24]}\n",
        "6: schedules[0].recurrence.hours[0]: Hours must be between 0 and 23.",
    ),
    "minutes range": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, minutes: [60]}\n",
        "6: schedules[0].recurrence.minutes[0]: Minutes must be between 0 and 59.",
    ),
    "week days": (
        HEAD + "    recurrence: {frequency: Week, interval: 1, week_days: [Mon]}\n",
        "6: schedules[0].recurrence.week_days[0]: Week days must be a list of str, accepted "
        "values: Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.",
    ),
    "time zone": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, time_zone: CET Standard Time}\n",
        "6: schedules[0].recurrence.time_zone: Time zone is not a valid TimeZone enum. "
        "'CET Standard Time' is neither a Windows zone ID nor an IANA name: "
        'did you mean "W. Europe Standard Time" (Europe/Berlin)?',
    ),
    "time_of_day and hours": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, hours: [1], time_of_day: '1:00'}\n",
        "6: schedules[0].recurrence.time_of_day: Can not specify time_of_day and hours or minutes.",
    ),
    "time_of_day format": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, time_of_day: noon}\n",
        "6: schedules[0].recurrence.time_of_day: time_of_day should be in the format hh:mm.",
    ),
    "time_of_day hour": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, time_of_day: '25:00'}\n",
        "6: schedules[0].recurrence.time_of_day: Time of day hour value must be between 0 and 23.",
    ),
    "time_of_day minute": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, time_of_day: '1:75'}\n",
        "6: schedules[0].recurrence.time_of_day: Time of day minute value must be between 0 "
        "and 59.",
    ),
    "start_time offset": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, start_time: 2024-01-01T09:00:00Z}\n",
        "6: schedules[0].recurrence.start_time: Can not specify tzinfo for start_time, use "
        "time_zone instead.",
    ),
    "start_time malformed": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, start_time: '2024-13-01T09:00'}\n",
        "6: schedules[0].recurrence.start_time: start_time has the form YYYY-MM-DDThh:mm:ss but "
        "is not a real date and time",
    ),
    "float interval": (
        HEAD + "    recurrence: {frequency: Day, interval: 1.5}\n",
        "6: schedules[0].recurrence.interval: interval must be an integer, not 1.5",
    ),
    "duplicate hour": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, hours: [9, 9]}\n",
        "6: schedules[0].recurrence.hours[1]: hour 9 is listed twice",
    ),
    "recurrence and datastore": (
        "datastores:\n  d: {kind: local, path: d}\n"
        + HEAD
        + "    recurrence: {frequency: Day, interval: 1}\n    datastore: d\n",
        "9: schedules[0].datastore: Can not specify both a Recurrence and a Datastore",
    ),
    "no trigger": (HEAD, "4: schedules[0]: a schedule needs a recurrence, a cron or a datastore"),
    "data path parameter": (
        HEAD + "    recurrence: {frequency: Day, interval: 1}\n    data_path_parameter_name: f\n",
        "7: schedules[0].data_path_parameter_name: Data Path parameter name can only be "
        "specified for Datastore schedules.",
    ),
    "path on datastore": (
        HEAD + "    recurrence: {frequency: Day, interval: 1}\n    path_on_datastore: f\n",
        "7: schedules[0].path_on_datastore: Path on datastore parameter can only be specified "
        "for Datastore schedules.",
    ),
    "status": (
        HEAD + "    recurrence: {frequency: Day, interval: 1}\n    status: Paused\n",
        "7: schedules[0].status: Status must be either Active or Disabled",
    ),
    "unknown pipeline": (
        HEAD.replace("pipeline: p", "pipeline: x")
        + "    recurrence: {frequency: Day, interval: 1}\n",
        "5: schedules[0].pipeline: unknown pipeline 'x' (defined: p)",
    ),
    "unknown pipeline kind": (
        "pipelines:\n  p: {kind: azure_ml}\n",
        "2: pipelines.p.kind: unknown pipeline kind 'azure_ml' "
        "(supported: command, azureml, azureml_batch, http)",
    ),
    "yaml syntax": (
        "pipelines: {p: [\n",
        "2: invalid YAML: while parsing a flow node, did not find expected node content",
    ),
}


@pytest.mark.parametrize(("text", "expected"), list(CASES.values()), ids=list(CASES))
def test_invalid_config_prints_the_problem_and_exits_1(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", "--config", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{path}:{expected}"]
    assert result.stdout == ""


@pytest.mark.parametrize(
    "config",
    [REPO / "config", FIXTURES / "azure-recurrence", FIXTURES / "azure-datastore"],
    ids=["example config", "Schedule-YAML recurrence", "Schedule-YAML datastore"],
)
def test_valid_config_exits_0(config: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{config}: ok (")


NOTHING = "to define no schedules on purpose, write 'schedules: []'"
# (file text, every line printed after "<file>", in order)
MANY_CASES = {
    "empty file": (
        "",
        [f": the file defines nothing (it is empty or holds only comments); {NOTHING}"],
    ),
    "only comments": (
        "# schedules: moved to team-b.yaml\n",
        [f": the file defines nothing (it is empty or holds only comments); {NOTHING}"],
    ),
    "schedules without a value": (
        "schedules:\n",
        [f":1: the file defines nothing ('schedules:' has no value); {NOTHING}"],
    ),
    "every problem of one recurrence": (
        HEAD + "    recurrence: {frequency: Day, interval: 1, hours: [25], minutes: [61]}\n",
        [
            ":6: schedules[0].recurrence.hours[0]: Hours must be between 0 and 23.",
            ":6: schedules[0].recurrence.minutes[0]: Minutes must be between 0 and 59.",
        ],
    ),
    "an unknown pipeline beside another problem": (
        HEAD.replace("pipeline: p", "pipeline: x")
        + "    recurrence: {frequency: Day, interval: 0}\n",
        [
            ":5: schedules[0].pipeline: unknown pipeline 'x' (defined: p)",
            ":6: schedules[0].recurrence.interval: Interval must be an integer greater than 0.",
        ],
    ),
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]\n"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        [
            ":7: aliases (*name) expand this file to more than 1,000,000 values, the limit for "
            "one file (is it an alias bomb?): repeat less through aliases"
        ],
    ),
}


@pytest.mark.parametrize(("text", "expected"), list(MANY_CASES.values()), ids=list(MANY_CASES))
def test_validate_prints_every_problem_and_exits_1(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", "--config", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{path}{line}" for line in expected]
    assert result.stdout == ""


def test_schedules_an_explicit_empty_list_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "triggerd.yaml"
    path.write_text("# every schedule removed on purpose\nschedules: []\n")
    result = CliRunner().invoke(main, ["validate", "--config", str(path)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{path}: ok (0 schedules, 0 pipelines, 0 datastores)\n"
