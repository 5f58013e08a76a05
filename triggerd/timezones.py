"""Time zones: the Windows zone IDs Azure ML uses, and IANA names, resolved to ZoneInfo.

The Windows -> IANA mapping is tzlocal's (kept in step with Unicode CLDR). Two IDs that Azure ML
still lists were retired from CLDR; they are mapped here by hand.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

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
