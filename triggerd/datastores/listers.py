"""Listers: one non-recursive listing of a watched datastore folder per poll.

A lister knows one folder (datastore root + ``path_on_datastore``) and one file filter. ``list()``
returns the files directly in that folder, keyed by their path relative to the datastore root
(so the key includes ``path_on_datastore``); sub-folders and their contents never appear.
``list_if_changed()`` is the steady-state poll: None when the folder is as it was last time.
Every failure to list raises :class:`ListingError` with a reason that is safe to log.
"""

from __future__ import annotations

from typing import Protocol

from triggerd.config.models import AzureBlobDatastore, LocalDatastore
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.snapshot import Listing
from triggerd.errors import TriggerdError


class ListingError(TriggerdError):
    """A poll could not list its folder. The message never contains a key, token or secret."""


class Lister(Protocol):
    description: str
    """Where this lister looks, for logs (``local /data/inbox/incoming``); never a secret."""
    unreadable: dict[str, str]
    """Entries the last ``list()`` saw but could not read (name -> why), left out of it: one
    bad entry never stops the rest of the folder."""

    def list(self) -> Listing:
        """The accepted files directly in the watched folder: relative path -> (size, version)."""
        ...

    def list_if_changed(self) -> Listing | None:
        """None when nothing changed since the previous ``list()`` or ``list_if_changed()``;
        otherwise the listing (which may still equal the previous one)."""
        ...

    def locate(self, relative_path: str) -> str:
        """Where a listed file is for a pipeline: an absolute local path, or the blob URL."""
        ...

    def close(self) -> None:
        """Release connections and credentials. The lister is not used afterwards."""
        ...


def normalise_path_on_datastore(path_on_datastore: str | None) -> str | None:
    """``"/incoming//2024/"`` -> ``"incoming/2024"``; ``""``, ``"/"`` -> None (the root).

    Raises ValueError for a ``..`` component: a schedule never watches outside its datastore.
    """
    if path_on_datastore is None:
        return None
    parts = [p for p in path_on_datastore.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"path_on_datastore {path_on_datastore!r} leaves the datastore ('..')")
    return "/".join(parts) or None


def build_lister(
    datastore: LocalDatastore | AzureBlobDatastore,
    path_on_datastore: str | None,
    file_filter: FileFilter,
) -> Lister:
    """The lister for ``datastore``'s folder ``path_on_datastore``.

    Raises ListingError when an Azure credential cannot be read (missing variable or file).
    """
    # Imported here: the Azure SDK is only loaded when a blob datastore is configured.
    if isinstance(datastore, LocalDatastore):
        from triggerd.datastores.local import LocalLister

        return LocalLister(datastore.path, path_on_datastore, file_filter)

    from triggerd.datastores import azure_blob

    container = azure_blob.container_client(datastore)
    try:
        return azure_blob.AzureBlobLister(container, path_on_datastore, file_filter)
    except BaseException:
        azure_blob.close_container(container)
        raise
