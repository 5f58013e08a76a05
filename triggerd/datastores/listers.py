"""Listers: one non-recursive listing of a watched datastore folder per poll.

A lister knows one folder (datastore root + ``path_on_datastore``) and one file filter. ``list()``
returns the files directly in that folder, keyed by their path relative to the datastore root
(so the key includes ``path_on_datastore``); sub-folders and their contents never appear.
``list_if_changed()`` is the steady-state poll: None when the folder is as it was last time.
Every failure to list raises :class:`triggerd.errors.ListingError` with a reason that is safe
to log. ``factory.build_lister`` makes the lister a datastore needs.
"""

from __future__ import annotations

from typing import Protocol

from triggerd.datastores.snapshot import Ignored, Listing


class Lister(Protocol):
    description: str
    """Where this lister looks, for logs (``local /data/inbox/incoming``); never a secret."""
    unreadable: dict[str, str]
    """Entries the last ``list()`` saw but could not read (name -> why), left out of it: one
    bad entry never stops the rest of the folder."""
    ignored: dict[str, Ignored]
    """Entries the last ``list()`` left out (path relative to the datastore root -> why):
    names the filter refuses (with the pattern) and entries that are not regular files."""

    def list(self) -> Listing:
        """The accepted files directly in the watched folder: relative path -> (size, version)."""
        ...

    def list_if_changed(self) -> Listing | None:
        """None when nothing changed since the previous ``list()`` or ``list_if_changed()``;
        otherwise the listing (which may still equal the previous one)."""
        ...

    def close(self) -> None:
        """Release connections and credentials. The lister is not used afterwards."""
        ...
