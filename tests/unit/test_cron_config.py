"""The native ``cron:`` key: loading, the problems it reports, and the CLI on a cron schedule
(``next``, ``schedules list``/``describe``/``backfill``), through real files, real SQLite and
click's CliRunner; plus the scheduler giving equal cron timetables one job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from triggerd.cli import main
from triggerd.config import load_config
from triggerd.config.cron_spec import CRON_KEYS
from triggerd.config.triggers import TIME_KEYS, TimeTrigger
from triggerd.cron import CronTimetable
from triggerd.engine.scheduler import TimeScheduler
from triggerd.errors import ConfigError
from triggerd.store import open_store, queries

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
PIPELINE = "pipelines:\n  p: {kind: command, argv: [echo]}\n"


def schedule(body: str) -> str:
    """A config with one schedule ``s`` whose trigger lines are ``body`` (indented 4)."""
    lines = "".join(f"    {line}\n" for line in body.strip("\n").split("\n"))
    return (
        PIPELINE
        + "datastores:\n  inbox: {kind: local, path: .}\n"
        + ("schedules:\n  - name: s\n    pipeline: p\n" + lines)
    )


def load(tmp_path: Path, text: str) -> Any:
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    return load_config(tmp_path / "c.yaml")


def problems(tmp_path: Path, text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [(p.key, p.line, p.message) for p in caught.value.problems]


def test_cron_is_a_time_key() -> None:
    assert "cron" in TIME_KEYS


def test_a_native_cron_schedule_loads(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        schedule("""
cron:
  expression: "*/15 8-18 * * mon-fri"
  time_zone: W. Europe Standard Time
  start_time: "2026-01-05T00:00:00"
  end_time: "2026-06-30T23:59"
catchup: all
"""),
    )
    trigger = config.schedule("s").trigger
    assert isinstance(trigger, TimeTrigger)
    assert trigger.kind == "cron"
    assert trigger.every == CronTimetable(
        "*/15 8-18 * * mon-fri",
        "W. Europe Standard Time",
        datetime(2026, 1, 5),
        datetime(2026, 6, 30, 23, 59),
    )
    assert trigger.policy.mode == "all"
    assert trigger.policy.grace == timedelta(minutes=15)  # the shortest spacing


def test_time_zone_defaults_to_utc_and_an_offset_is_read_in_the_zone(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        schedule("""
cron: {expression: "0 2 * * *", time_zone: Europe/Berlin, start_time: "2026-06-01T10:15:00-04:00"}
"""),
    )
    cron = config.schedule("s").trigger.every
    assert cron.start_time == datetime(2026, 6, 1, 16, 15)
    utc = load(tmp_path, schedule('cron: {expression: "0 2 * * *"}')).schedule("s").trigger.every
    assert utc.time_zone == "UTC"


CRON_PROBLEMS = {
    "bad field": (
        'cron: {expression: "61 * * * *"}',
        [("schedules[0].cron.expression", 8, "MINUTES: 61 is out of range 0-59")],
    ),
    "six fields": (
        'cron: {expression: "0 0 2 * * *"}',
        [
            (
                "schedules[0].cron.expression",
                8,
                "needs five fields MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK (e.g. '0 2 * * 1-5'), "
                "got 6",
            )
        ],
    ),
    "no expression": (
        "cron: {time_zone: UTC}",
        [
            (
                "schedules[0].cron.expression",
                8,
                "a cron needs an expression: five fields MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK, "
                "e.g. '0 2 * * 1-5'",
            )
        ],
    ),
    "expression not a string": (
        "cron: {expression: 5}",
        [
            (
                "schedules[0].cron.expression",
                8,
                "must be a string of five fields, e.g. '0 2 * * 1-5' (quote it in YAML)",
            )
        ],
    ),
    "unknown key": (
        'cron: {expresion: "0 2 * * *"}',
        [
            (
                "schedules[0].cron.expresion",
                8,
                "unknown key 'expresion' (did you mean 'expression'?)",
            ),
            (
                "schedules[0].cron.expression",
                8,
                "a cron needs an expression: five fields MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK, "
                "e.g. '0 2 * * 1-5'",
            ),
        ],
    ),
    "unknown zone": (
        'cron: {expression: "0 2 * * *", time_zone: Europe/Belin}',
        [
            (
                "schedules[0].cron.time_zone",
                8,
                "Time zone is not a valid TimeZone enum. 'Europe/Belin' is neither a Windows zone "
                'ID nor an IANA name: did you mean "Europe/Berlin" (W. Europe Standard Time)?',
            )
        ],
    ),
    "end before start": (
        'cron: {expression: "0 2 * * *", start_time: "2026-02-01T00:00", '
        'end_time: "2026-01-01T00:00"}',
        [
            (
                "schedules[0].cron.end_time",
                8,
                "end_time is before start_time: the schedule would never fire",
            )
        ],
    ),
    "bad end_time": (
        'cron: {expression: "0 2 * * *", end_time: "tomorrow"}',
        [
            (
                "schedules[0].cron.end_time",
                8,
                "end_time must be a date and time in the form YYYY-MM-DDThh:mm:ss, "
                "e.g. '2024-01-01T09:00:00'",
            )
        ],
    ),
    "not a mapping": (
        'cron: "0 2 * * *"',
        [
            (
                "schedules[0].cron",
                8,
                "must be a mapping with keys expression, time_zone, start_time, end_time",
            )
        ],
    ),
    "with a recurrence": (
        'cron: {expression: "0 2 * * *"}\nrecurrence: {frequency: Day, interval: 1}',
        [
            (
                "schedules[0].cron",
                8,
                "a schedule has one of recurrence, cron and datastore: remove recurrence or cron",
            )
        ],
    ),
    "with a datastore": (
        'cron: {expression: "0 2 * * *"}\ndatastore: inbox',
        [
            (
                "schedules[0].cron",
                8,
                "a schedule has one of recurrence, cron and datastore: remove cron or datastore",
            )
        ],
    ),
    "a datastore key": (
        'cron: {expression: "0 2 * * *"}\nsettle: 30s',
        [
            (
                "schedules[0].settle",
                9,
                "settle can only be specified for Datastore schedules.",
            )
        ],
    ),
}


@pytest.mark.parametrize(
    ("body", "expected"), list(CRON_PROBLEMS.values()), ids=list(CRON_PROBLEMS)
)
def test_cron_problems_name_the_key(
    tmp_path: Path, body: str, expected: list[tuple[str, int, str]]
) -> None:
    assert problems(tmp_path, schedule(body)) == expected


@pytest.mark.parametrize("key", CRON_KEYS)
def test_every_cron_key_is_in_the_cron_keys_table(key: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    table = text[text.index("### Cron keys") :]
    table = table[: table.index("\n### ")]
    assert f"| `{key}` |" in table


# --- the CLI ------------------------------------------------------------------------------------

CONFIG = """
pipelines:
  job: {kind: command, argv: [echo, hi]}
schedules:
  - name: berlin-night
    pipeline: job
    cron: {expression: "30 2 * * *", time_zone: W. Europe Standard Time}
  - name: quarter
    pipeline: job
    cron: {expression: "*/15 * * * *", time_zone: America/New_York}
"""


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    config = tmp_path / "config"
    config.mkdir()
    (config / "triggerd.yaml").write_text(CONFIG, encoding="utf-8")

    def run(*args: str) -> Result:
        full = [*args, "--config", str(config), "--state-dir", str(tmp_path / "state")]
        return CliRunner().invoke(main, full, catch_exceptions=False)

    return run


def test_next_previews_a_cron_schedule_without_a_database(cli: Any, tmp_path: Path) -> None:
    result = cli("next", "berlin-night", "--after", "2026-03-27T12:00:00Z", "--count", "4")
    assert result.exit_code == 0, result.output
    assert result.output.split() == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",  # 02:30 does not exist that night in Berlin
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert not (tmp_path / "state").exists()  # a cron needs no first-seen time


def test_next_json_of_a_cron_across_the_repeated_hour(cli: Any) -> None:
    result = cli("next", "quarter", "--after", "2026-11-01T05:40:00Z", "--count", "4", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "schedule": "quarter",
        "times": [
            "2026-11-01T01:45:00-04:00",
            "2026-11-01T02:00:00-05:00",  # the repeated 01:xx fired once, the first time
            "2026-11-01T02:15:00-05:00",
            "2026-11-01T02:30:00-05:00",
        ],
    }


def test_list_and_describe_show_the_cron(cli: Any, tmp_path: Path) -> None:
    open_store(f"sqlite:///{(tmp_path / 'state' / 'triggerd.db').resolve()}", daemon=True).close()
    listed = {i["name"]: i for i in json.loads(cli("schedules", "list", "--json").output)}
    assert listed["berlin-night"]["trigger"] == "cron"
    assert listed["berlin-night"]["next_fire"].endswith("T02:30:00+01:00")  # December: CET

    view = json.loads(cli("schedules", "describe", "berlin-night", "--json").output)
    assert view["definition"]["trigger"] == {
        "kind": "cron",
        "expression": "30 2 * * *",
        "time_zone": "W. Europe Standard Time",
        "start_time": None,
        "end_time": None,
        "description": "cron '30 2 * * *': at 02:30 every day (W. Europe Standard Time)",
        "catchup": "latest",
        "misfire_grace_time_s": 86400.0,
        "max_catchup_runs": 10,
    }
    assert len(view["next_fires"]) == 5
    assert all(t.endswith("T02:30:00+01:00") for t in view["next_fires"])
    text = cli("schedules", "describe", "berlin-night").output
    assert "cron '30 2 * * *': at 02:30 every day (W. Europe Standard Time)" in text
    assert "latest, grace 1d, at most 10 runs" in text


def test_backfill_records_cron_slots_even_before_the_daemon_saw_it(
    cli: Any, tmp_path: Path
) -> None:
    result = cli(
        "schedules",
        "backfill",
        "berlin-night",
        "--from",
        "2026-03-28T00:00:00Z",
        "--to",
        "2026-03-30T00:00:00Z",
        "--json",
    )
    assert result.exit_code == 0, result.output
    slots = json.loads(result.output)["slots"]
    assert [s["scheduled_for"] for s in slots] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",
    ]
    with open_store(f"sqlite:///{(tmp_path / 'state' / 'triggerd.db').resolve()}") as store:
        runs = store.read(queries.list_runs, schedule="berlin-night", limit=10)
    assert sorted(str(r.scheduled_for) for r in runs) == [
        "2026-03-28 01:30:00+00:00",
        "2026-03-29 01:30:00+00:00",
    ]


# --- the scheduler ----------------------------------------------------------------------------


def test_equal_cron_timetables_share_one_job_whatever_their_anchor() -> None:
    woken: list[tuple[str, ...]] = []
    scheduler = TimeScheduler(lambda *names: woken.append(names))
    seen = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    scheduler.add("a", CronTimetable("*/15 * * * *", "Europe/Berlin"), seen)
    scheduler.add("b", CronTimetable("*/15  * * * *", "Europe/Berlin"), seen + timedelta(hours=1))
    scheduler.add("c", CronTimetable("*/15 * * * *", "America/New_York"), seen)
    jobs = scheduler._scheduler.get_jobs()
    assert len(jobs) == 2
    for job in jobs:
        job.func(*job.args)
    assert sorted(woken) == [("a", "b"), ("c",)]
    after = datetime(2026, 3, 29, 0, 50, tzinfo=UTC)  # 01:50 CET, before Berlin's gap
    nexts = sorted(j.trigger.get_next_fire_time(None, after) for j in jobs)
    assert nexts[-1] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST (and 02:00)


def test_a_cron_past_its_end_time_is_listed_as_ended(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "triggerd.yaml").write_text(
        PIPELINE + "schedules:\n  - name: over\n    pipeline: p\n"
        '    cron: {expression: "0 * * * *", end_time: "2020-01-01T00:00:00"}\n',
        encoding="utf-8",
    )
    state = tmp_path / "state"
    open_store(f"sqlite:///{(state / 'triggerd.db').resolve()}", daemon=True).close()
    args = ["--config", str(config), "--state-dir", str(state)]
    result = CliRunner().invoke(main, ["schedules", "list", "--json", *args])
    [item] = json.loads(result.output)
    assert (item["trigger"], item["ended"], item["next_fire"]) == ("cron", True, None)
    assert CliRunner().invoke(main, ["next", "over", *args]).output == ""
