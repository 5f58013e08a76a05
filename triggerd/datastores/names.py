"""Which file names the store can hold, and how to show a name. Pure.

A local folder can hold any bytes as a name; Python reads a name that is not valid UTF-8 with
lone surrogates in place of the bad bytes (``surrogateescape``). Neither SQLite's text nor
PostgreSQL can store those, and a path under a long ``path_on_datastore`` can be longer than
the snapshot's column. Such a file never fires: the poll records it as a skipped fire with the
reason, and every other file of the folder fires as usual.
"""

from __future__ import annotations

from collections.abc import Collection

MAX_PATH = 1024  # datastore_entries.path


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


def unstorable(paths: Collection[str]) -> dict[str, str]:
    """The paths of ``paths`` the store cannot hold, with why (quick when all are short ASCII:
    two passes in C, not a Python loop over the 100,000 paths of a first poll)."""
    if all(map(str.isascii, paths)) and max(map(len, paths), default=0) <= MAX_PATH:
        return {}
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
