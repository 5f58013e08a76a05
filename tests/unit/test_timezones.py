"""Time zones: Azure ML's 131 Windows zone IDs and IANA names resolve; anything else is refused.

``data/azureml-timezones.tsv`` is a copy of ``shared/reference/azureml-timezones.tsv``: every
value of Azure ML's ``TimeZone`` enum with the IANA zone it means.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from triggerd.timezones import UnknownTimeZone, iana_name, resolve_zone

TSV = Path(__file__).parent / "data" / "azureml-timezones.tsv"


def azureml_zones() -> list[tuple[str, str]]:
    with TSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(row["windows_id"], row["iana"]) for row in rows]


def test_the_table_has_all_131_azureml_zones() -> None:
    zones = azureml_zones()
    assert len(zones) == 131
    assert len({windows_id for windows_id, _ in zones}) == 131


@pytest.mark.parametrize(("windows_id", "iana"), azureml_zones())
def test_windows_id_resolves_to_its_iana_zone(windows_id: str, iana: str) -> None:
    assert resolve_zone(windows_id).key == iana
    assert iana_name(windows_id) == iana


@pytest.mark.parametrize(
    "name",
    ["Etc/UTC", "Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata"],
)
def test_iana_name_resolves_to_itself(name: str) -> None:
    assert resolve_zone(name).key == name
    assert iana_name(name) == name


def test_utc_is_the_windows_id_for_etc_utc() -> None:
    assert resolve_zone("UTC").key == "Etc/UTC"


@pytest.mark.parametrize(
    "name",
    [
        "Mars Standard Time",
        "Europe/Atlantis",
        "",
        "../../etc/passwd",
        "/etc/localtime",
        "utc+25",
        "x" * 300,  # longer than a file name: zoneinfo raises OSError for it
    ],
)
def test_unknown_name_raises(name: str) -> None:
    with pytest.raises(UnknownTimeZone) as info:
        resolve_zone(name)
    assert info.value.name == name
    with pytest.raises(UnknownTimeZone):
        iana_name(name)
