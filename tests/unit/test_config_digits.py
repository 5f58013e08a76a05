"""Numbers in config files and daemon settings are written with the ASCII digits 0-9 only.

``\\d``, ``int()`` and ``str.isdigit()`` also accept other scripts' digits: ``"\u0663\u0660s"``
(Arabic-Indic 30) would be 30 seconds, ``"\u00b2"`` passes isdigit() and then fails int(). The
Azure ML SDK refuses them; so does triggerd, with the message it gives any other non-number.
(The recurrence's own cases, ``time_of_day`` and ``start_time``, are in
``test_config_recurrence.py``.)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from triggerd.config import load_config
from triggerd.config.durations import parse_duration
from triggerd.errors import ConfigError
from triggerd.settings import Settings

ARABIC_30 = "\u0663\u0660"
DEVANAGARI_30 = "\u0969\u0966"
FULL_WIDTH_30 = "\uff13\uff10"
NOT_A_DURATION = (
    "is not a duration: write a whole number of {unit} or a number with a unit (s, m, h or d), "
    "like '30s', '10m', '2h', '1d'"
)


@pytest.mark.parametrize(
    "text", [f"{ARABIC_30}s", f"{DEVANAGARI_30}m", f"{FULL_WIDTH_30}s", "3\u0660s", "30\u00a0s"]
)
@pytest.mark.parametrize(
    ("key", "unit"),
    [("polling_interval", "minutes"), ("misfire_grace_time", "seconds"), ("settle", "seconds")],
)
def test_a_duration_in_other_digits_is_not_a_duration(
    tmp_path: Path, text: str, key: str, unit: str
) -> None:
    (tmp_path / "c.yaml").write_text(
        "datastores:\n  d: {kind: local, path: d}\n"
        "pipelines:\n  p: {kind: command, argv: [echo]}\n"
        f"schedules:\n  - {{name: s, pipeline: p, datastore: d, {key}: '{text}'}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert [(p.key, p.line, p.message) for p in caught.value.problems] == [
        (f"schedules[0].{key}", 6, NOT_A_DURATION.format(unit=unit))
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), (" 2 m ", timedelta(minutes=2)), ("1d", timedelta(days=1))],
)
def test_a_duration_in_ascii_digits_is_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text, unit="s") == expected


@pytest.mark.parametrize("variable", ["TRIGGERD_SHUTDOWN_GRACE", "TRIGGERD_HEARTBEAT_INTERVAL"])
@pytest.mark.parametrize("text", [ARABIC_30, FULL_WIDTH_30, "\u00b2", f"{ARABIC_30}s"])
def test_a_setting_in_other_digits_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, text: str
) -> None:
    monkeypatch.setenv(variable, text)
    with pytest.raises(ValidationError) as caught:
        Settings()
    (error,) = caught.value.errors()
    assert error["msg"] == "Value error, " + NOT_A_DURATION.format(unit="seconds")


@pytest.mark.parametrize(("text", "seconds"), [("30", 30), (" 45 ", 45), ("2m", 120)])
def test_a_setting_in_ascii_digits_is_read(
    monkeypatch: pytest.MonkeyPatch, text: str, seconds: int
) -> None:
    monkeypatch.setenv("TRIGGERD_SHUTDOWN_GRACE", text)
    assert Settings().shutdown_grace == timedelta(seconds=seconds)


def test_an_http_port_in_other_digits_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGERD_HTTP_ADDRESS", "127.0.0.1:\u0669\u0664\u0666\u0664")
    with pytest.raises(ValidationError) as caught:
        Settings()
    (error,) = caught.value.errors()
    assert error["msg"] == (
        "Value error, the HTTP address must be host:port in ASCII, e.g. 127.0.0.1:9464"
    )
