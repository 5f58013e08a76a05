"""An unknown time zone names the value and suggests the zone it most likely meant.

The message starts with Azure ML's own text (``reference/azureml.md`` §1, step 9), word for word,
then names the value and offers a Windows ID with its IANA name: the same name in another letter
case first, then a common abbreviation, then an IANA city, then the closest spelling.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from triggerd.config import load_config
from triggerd.config.recurrence_spec import SDK_TIME_ZONE, time_zone_problem
from triggerd.errors import ConfigError
from triggerd.timezones import ABBREVIATIONS, resolve_zone, suggest

# (what was written, the suggestion printed after "did you mean ")
CASES = {
    "letter case of a Windows ID": (
        "w. europe standard time",
        '"W. Europe Standard Time" (Europe/Berlin)?',
    ),
    "letter case of an IANA name": ("europe/london", '"Europe/London" (GMT Standard Time)?'),
    "letter case of a legacy IANA name": ("cet", '"CET" (Romance Standard Time)?'),
    "abbreviation": ("PST", '"Pacific Standard Time" (America/Los_Angeles)?'),
    "summer abbreviation, lower case": ("cest", '"W. Europe Standard Time" (Europe/Berlin)?'),
    "abbreviation India": ("IST", '"India Standard Time" (Asia/Calcutta)?'),
    "abbreviation Sydney": ("AEST", '"AUS Eastern Standard Time" (Australia/Sydney)?'),
    "abbreviation then Standard Time": (
        "CET Standard Time",
        '"W. Europe Standard Time" (Europe/Berlin)?',
    ),
    "Windows ID without Standard": (
        "Pacific Time",
        '"Pacific Standard Time" (America/Los_Angeles)?',
    ),
    "Windows ID without the dot": (
        "W Europe Standard Time",
        '"W. Europe Standard Time" (Europe/Berlin)?',
    ),
    "misspelled Windows ID": (
        "Pacific Standard Tme",
        '"Pacific Standard Time" (America/Los_Angeles)?',
    ),
    "a Windows ID cut short (a half-saved file)": (
        "W. Europe Standa",
        '"W. Europe Standard Time" (Europe/Berlin)?',
    ),
    "a city": ("Tokyo", '"Tokyo Standard Time" (Asia/Tokyo)?'),
    "a city with a space": ("new york", '"Eastern Standard Time" (America/New_York)?'),
    "misspelled IANA name": ("Europe/Belin", '"Europe/Berlin" (W. Europe Standard Time)?'),
    "IANA name with a space": (
        "America/New York",
        '"America/New_York" (Eastern Standard Time)?',
    ),
}


@pytest.mark.parametrize(("written", "expected"), list(CASES.values()), ids=list(CASES))
def test_the_suggestion_for_a_real_mistake(written: str, expected: str) -> None:
    assert str(suggest(written)) == f"did you mean {expected}"


@pytest.mark.parametrize("written", ["Mars Standard Time", "Nowhere", "Mars", "", "x" * 300])
def test_no_suggestion_when_nothing_is_close(written: str) -> None:
    assert suggest(written) is None


@pytest.mark.parametrize(("abbreviation", "windows_id"), sorted(ABBREVIATIONS.items()))
def test_every_abbreviation_means_a_zone_triggerd_accepts(
    abbreviation: str, windows_id: str
) -> None:
    # Some (EST, CET, GMT, UTC, ...) are IANA names themselves and accepted as they are; with
    # "Standard Time" after them, none is.
    suggestion = suggest(f"{abbreviation} Standard Time")
    assert suggestion is not None
    assert suggestion.windows_id == windows_id
    assert resolve_zone(windows_id).key == resolve_zone(suggestion.iana).key


def test_every_suggested_name_is_itself_a_valid_time_zone() -> None:
    for written, _ in CASES.values():
        suggestion = suggest(written)
        assert suggestion is not None
        resolve_zone(suggestion.iana)
        if suggestion.windows_id is not None:
            resolve_zone(suggestion.windows_id)


def write(tmp_path: Path, time_zone: str) -> Path:
    path = tmp_path / "triggerd.yaml"
    path.write_text(
        "pipelines:\n  p: {kind: command, argv: [echo]}\nschedules:\n  - name: s\n"
        "    pipeline: p\n    recurrence:\n      frequency: Day\n      interval: 1\n"
        f"      time_zone: {time_zone}\n"
    )
    return path


def test_the_config_problem_keeps_the_sdk_text_and_adds_the_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "w. europe standard time")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert (problem.key, problem.line) == ("schedules[0].recurrence.time_zone", 9)
    assert problem.message == (
        "Time zone is not a valid TimeZone enum. 'w. europe standard time' is neither a Windows "
        'zone ID nor an IANA name: did you mean "W. Europe Standard Time" (Europe/Berlin)?'
    )
    assert problem.message.startswith(SDK_TIME_ZONE + " ")


def test_without_a_suggestion_the_value_is_still_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "Mars Standard Time"))
    assert [p.message for p in caught.value.problems] == [
        f"{SDK_TIME_ZONE} 'Mars Standard Time' is neither a Windows zone ID nor an IANA name"
    ]


@pytest.mark.parametrize(
    "written", ["Europe/" + "x" * 300, "sv=2024&sig=SECRET-VALUE", "hunter2-4f9a8b7c", "x" * 41]
)
def test_a_value_not_shaped_like_a_zone_name_is_not_shown(written: str) -> None:
    # It may be a secret put under the wrong key: no config problem echoes such text.
    assert time_zone_problem(written) == (
        f"{SDK_TIME_ZONE} Use a Windows zone ID or an IANA name (the value is not shown)"
    )


def test_a_value_close_to_a_zone_is_shown_whatever_its_shape() -> None:
    assert time_zone_problem("GMT+1").startswith(f"{SDK_TIME_ZONE} 'GMT+1' is neither")
