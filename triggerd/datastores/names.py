"""Which file names the store can hold, the fire key of a file, and how to show a name. Pure.

A local folder can hold any bytes as a name; Python reads a name that is not valid UTF-8 with
lone surrogates in place of the bad bytes (``surrogateescape``). Neither SQLite's text nor
PostgreSQL can store those, and a path under a long ``path_on_datastore`` can be longer than
the snapshot's column. Such a file never fires: the poll records it as a skipped fire with the
reason, and every other file of the folder fires as usual.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MAX_PATH = 1024  # datastore_entries.path
MAX_FIRE_KEY = 1000  # runs.fire_key
_DIGEST = 32  # hex digits of sha256 that stand for a path in a shortened or refused key


def unrepresentable(relative_path: str) -> str | None:
    """Why ``relative_path`` cannot be stored (None when it can)."""
    if not relative_path.isascii():
        try:
            relative_path.encode("utf-8")
        except UnicodeEncodeError:
            return "its name is not valid UTF-8; rename the file to fire it"
    if len(relative_path) > MAX_PATH:
        return f"its path is longer than {MAX_PATH} characters; rename the file to fire it"
    return None


def unstorable(paths: Iterable[str]) -> dict[str, str]:
    """The paths of ``paths`` the store cannot hold, with why (quick when all are short ASCII)."""
    found = {}
    for path in paths:
        if path.isascii() and len(path) <= MAX_PATH:
            continue
        reason = unrepresentable(path)
        if reason is not None:
            found[path] = reason
    return found


def shown(relative_path: str) -> str:
    """A name as printable text: bytes that are not UTF-8 as ``\\xff`` (for logs and reasons)."""
    raw = relative_path.encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "backslashreplace")
    return text if len(text) <= MAX_PATH else text[: MAX_PATH - 1] + "…"


def _digest(relative_path: str) -> str:
    raw = relative_path.encode("utf-8", "surrogateescape")
    return hashlib.sha256(raw).hexdigest()[:_DIGEST]


def datastore_fire_key(schedule: str, relative_path: str, version: str) -> str:
    """``"{schedule}:{relative_path}:{version}"``; when that is longer than the store holds,
    the path is cut and ends in ``…`` and a digest of the whole path, so the key stays unique
    and the same at every poll."""
    key = f"{schedule}:{relative_path}:{version}"
    if len(key) <= MAX_FIRE_KEY:
        return key
    tail = f"…{_digest(relative_path)}:{version}"
    keep = max(0, MAX_FIRE_KEY - len(schedule) - 1 - len(tail))
    return f"{schedule}:{relative_path[:keep]}{tail}"


def refused_fire_key(schedule: str, relative_path: str, version: str) -> str:
    """The key of the skipped fire recorded for a file whose name cannot be stored:
    ``"{schedule}:refused:{digest of the name's bytes}:{version}"``."""
    return f"{schedule}:refused:{_digest(relative_path)}:{version}"
