"""Time zones: the Windows zone IDs Azure ML uses, and IANA names, resolved to ZoneInfo; and,
for a name that is neither, the zone it most likely meant (``suggest``).

The Windows -> IANA mapping is tzlocal's (kept in step with Unicode CLDR). Two IDs that Azure ML
still lists were retired from CLDR; they are mapped here by hand.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tzlocal.windows_tz import tz_win, win_tz

# Windows IDs in Azure ML's TimeZone enum that CLDR no longer maps.
_RETIRED_WINDOWS_IDS = {
    "Mid-Atlantic Standard Time": "Etc/GMT+2",
    "Kamchatka Standard Time": "Asia/Kamchatka",
}


class UnknownTimeZone(ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown time zone {name!r}")


def iana_name(name: str) -> str:
    """The IANA name for a Windows zone ID or an IANA name; raises UnknownTimeZone."""
    mapped = win_tz.get(name) or _RETIRED_WINDOWS_IDS.get(name)
    if mapped is not None:
        return str(mapped)
    resolve_zone(name)
    return name


@lru_cache(maxsize=512)
def resolve_zone(name: str) -> ZoneInfo:
    """ZoneInfo for a Windows zone ID (e.g. ``W. Europe Standard Time``) or an IANA name."""
    mapped = win_tz.get(name) or _RETIRED_WINDOWS_IDS.get(name)
    key = str(mapped) if mapped is not None else name
    if not key or key.startswith(("/", ".")) or ".." in key:
        raise UnknownTimeZone(name)
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise UnknownTimeZone(name) from exc


# --- suggestions for a name that is neither -----------------------------------------------

# Abbreviations people write for a zone, and the Windows ID they most likely mean. Ambiguous
# ones are read as the most common: IST is India (not Ireland or Israel), CST is US Central
# (not China), BST is British Summer Time. Summer names mean the zone that has them.
ABBREVIATIONS = {
    "UTC": "UTC",
    "Z": "UTC",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Standard Time",
    "PT": "Pacific Standard Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Standard Time",
    "MT": "Mountain Standard Time",
    "CST": "Central Standard Time",
    "CDT": "Central Standard Time",
    "CT": "Central Standard Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Standard Time",
    "ET": "Eastern Standard Time",
    "AKST": "Alaskan Standard Time",
    "AKDT": "Alaskan Standard Time",
    "HST": "Hawaiian Standard Time",
    "GMT": "GMT Standard Time",
    "BST": "GMT Standard Time",
    "WET": "GMT Standard Time",
    "WEST": "GMT Standard Time",
    "CET": "W. Europe Standard Time",
    "CEST": "W. Europe Standard Time",
    "EET": "FLE Standard Time",
    "EEST": "FLE Standard Time",
    "MSK": "Russian Standard Time",
    "IST": "India Standard Time",
    "SGT": "Singapore Standard Time",
    "HKT": "China Standard Time",
    "JST": "Tokyo Standard Time",
    "KST": "Korea Standard Time",
    "AWST": "W. Australia Standard Time",
    "ACST": "Cen. Australia Standard Time",
    "ACDT": "Cen. Australia Standard Time",
    "AEST": "AUS Eastern Standard Time",
    "AEDT": "AUS Eastern Standard Time",
    "NZST": "New Zealand Standard Time",
    "NZDT": "New Zealand Standard Time",
    "SAST": "South Africa Standard Time",
    "BRT": "E. South America Standard Time",
}
_SUFFIXES = (" standard time", " time", " standard")


@dataclass(frozen=True)
class Suggestion:
    """The zone an unknown name most likely meant: its Windows ID (if it has one) and IANA
    name. ``iana_first``: the name looked like an IANA name, so that is offered first."""

    windows_id: str | None
    iana: str
    iana_first: bool = False

    def __str__(self) -> str:
        if self.windows_id is None:
            return f'did you mean "{self.iana}"?'
        if self.iana_first:
            return f'did you mean "{self.iana}" ({self.windows_id})?'
        return f'did you mean "{self.windows_id}" ({self.iana})?'


def suggest(name: str) -> Suggestion | None:
    """The zone ``name`` (not a zone itself) most likely meant, or None.

    In order: the same name in other letter case; an abbreviation (``ABBREVIATIONS``, also
    with ``Standard Time`` after it); the city of an IANA name (``tokyo``); the one Windows ID
    it is the beginning of (a value cut short: ``W. Europe Standa``); the closest
    spelling (difflib) among the Windows IDs (whole, then without ``Standard Time``), then
    among the IANA names, or the other way round when ``name`` has a ``/``.
    """
    text = " ".join(name.split())
    lower = text.lower()
    windows, ianas = _names()
    iana_like = "/" in text
    if lower in windows:
        return _from_windows(windows[lower])
    if lower in ianas:
        return _from_iana(ianas[lower], iana_first=True)
    stem = _stem(lower)
    abbreviation = ABBREVIATIONS.get(stem.upper())
    if abbreviation is not None:
        return _from_windows(abbreviation)
    city = _cities().get(lower.replace(" ", "_"))
    if city is not None:
        return _from_iana(city, iana_like)
    cut = _cut_short(lower, windows) if len(lower) >= 4 else None  # a half-saved value
    if cut is not None:
        return _from_windows(cut)
    stems = _windows_stems()
    tries: list[Callable[[], Suggestion | None]] = [
        lambda: _closest(lower, windows, 0.9, lambda found: _from_windows(windows[found])),
        lambda: _closest(stem, stems, 0.8, lambda found: _from_windows(stems[found])),
        lambda: _closest(lower, ianas, 0.75, lambda found: _from_iana(ianas[found], iana_like)),
    ]
    for attempt in reversed(tries) if iana_like else tries:
        found = attempt()
        if found is not None:
            return found
    return None


def _cut_short(lower: str, windows: dict[str, str]) -> str | None:
    """The one Windows ID that ``lower`` is the beginning of (``W. Europe Standa``), if one."""
    found = [windows[key] for key in windows if key.startswith(lower)]
    return found[0] if len(found) == 1 else None


def _stem(lower: str) -> str:
    for suffix in _SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return lower[: -len(suffix)]
    return lower


def _closest(
    key: str, choices: Mapping[str, str], cutoff: float, make: Callable[[str], Suggestion]
) -> Suggestion | None:
    found = difflib.get_close_matches(key, list(choices), n=1, cutoff=cutoff)
    return make(found[0]) if found else None


def _from_windows(windows_id: str) -> Suggestion:
    return Suggestion(windows_id, iana_name(windows_id))


def _from_iana(iana: str, iana_first: bool) -> Suggestion:
    windows_id = tz_win.get(iana)
    return Suggestion(str(windows_id) if windows_id else None, iana, iana_first)


@lru_cache(maxsize=1)
def _names() -> tuple[dict[str, str], dict[str, str]]:
    """Every Windows ID and IANA name triggerd accepts, by their lower-case spelling."""
    windows = {str(w).lower(): str(w) for w in (*win_tz, *_RETIRED_WINDOWS_IDS)}
    ianas = {z.lower(): z for z in available_timezones()}
    return windows, ianas


@lru_cache(maxsize=1)
def _windows_stems() -> dict[str, str]:
    """Windows IDs by their lower-case name without ``Standard Time``."""
    return {_stem(lower): windows_id for lower, windows_id in _names()[0].items()}


@lru_cache(maxsize=1)
def _cities() -> dict[str, str]:
    """IANA names of a region by their last part (``tokyo`` -> ``Asia/Tokyo``)."""
    cities: dict[str, str] = {}
    for iana in sorted(_names()[1].values()):
        region, _, city = iana.rpartition("/")
        if region and not region.startswith("Etc"):
            cities.setdefault(city.lower(), iana)
    return cities
