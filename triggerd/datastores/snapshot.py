"""Snapshots: what a poll saw, as relative path -> (size, version), and what it left out. Pure.

What changed between two listings is decided in ``settle`` (which also knows what fired).

``version`` is ``st_mtime_ns`` (as text) for a local file and the ETag for a blob; a file whose
version changed is a new version even when its size did not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


class Entry(NamedTuple):
    """A tuple, so that creating and comparing 100,000 of them per poll stays in C."""

    size: int
    version: str


Listing = Mapping[str, Entry]
"""Relative path (relative to the datastore root, so it includes path_on_datastore) -> Entry.

A dict for blobs; for a local folder a view over the scan's own tuples (``local.FolderListing``)."""


class Ignored(NamedTuple):
    """Why a listing left an entry out: ``excluded`` (``detail``: the pattern), ``not_regular``
    (the file type) or ``unrepresentable`` (why the store cannot hold its name)."""

    reason: str
    detail: str | None = None


EXCLUDED = "excluded"
NOT_REGULAR = "not_regular"
UNREPRESENTABLE = "unrepresentable"


@dataclass(frozen=True)
class IgnoredChange:
    """How the set of left-out entries changed: ``added`` (new, or with another reason) and
    ``removed`` (gone from the folder, or no longer left out)."""

    added: dict[str, Ignored] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    @classmethod
    def between(cls, before: Mapping[str, Ignored], now: Mapping[str, Ignored]) -> IgnoredChange:
        added = {path: why for path, why in now.items() if before.get(path) != why}
        return cls(added, [path for path in before if path not in now])

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)
