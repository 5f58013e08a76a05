"""Snapshots: what a poll saw, as relative path -> (size, version). Pure.

``version`` is ``st_mtime_ns`` (as text) for a local file and the ETag for a blob; a file whose
version changed is a new version even when its size did not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple


class Entry(NamedTuple):
    """A tuple, so that creating and comparing 100,000 of them per poll stays in C."""

    size: int
    version: str


Listing = Mapping[str, Entry]
"""Relative path (relative to the datastore root, so it includes path_on_datastore) -> Entry.

A dict for blobs; for a local folder a view over the scan's own tuples (``local.FolderListing``)."""


@dataclass(frozen=True)
class Diff:
    created: list[str]
    modified: list[str]
    deleted: list[str]

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.modified) + len(self.deleted)


def diff(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> Diff:
    """What changed from ``old`` to ``new``, each list sorted."""
    created = sorted(p for p in new if p not in old)
    modified = sorted(p for p, e in new.items() if p in old and old[p] != e)
    deleted = sorted(p for p in old if p not in new)
    return Diff(created, modified, deleted)
