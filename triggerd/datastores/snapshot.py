"""Snapshots: what a poll saw, as relative path -> (size, version). Pure.

What changed between two listings is decided in ``settle`` (which also knows what fired).

``version`` is ``st_mtime_ns`` (as text) for a local file and the ETag for a blob; a file whose
version changed is a new version even when its size did not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class Entry(NamedTuple):
    """A tuple, so that creating and comparing 100,000 of them per poll stays in C."""

    size: int
    version: str


Listing = Mapping[str, Entry]
"""Relative path (relative to the datastore root, so it includes path_on_datastore) -> Entry.

A dict for blobs; for a local folder a view over the scan's own tuples (``local.FolderListing``)."""
