"""The local lister: one ``os.scandir`` of the watched directory per poll.

Only regular files directly in the folder are listed; sub-directories (and what is in them),
sockets, FIFOs and devices are not. The version of a file is its ``st_mtime_ns``.

Symlinks are never followed out of the watched folder: a symlink whose resolved target is a
regular file inside the folder's tree is listed with the target's size and mtime; any other
symlink (outside target, directory, dangling, loop) is skipped.

The loop is the hot path of a poll (100,000 files): ``DirEntry.is_file(follow_symlinks=False)``
answers from the directory entry's type without a system call, so each regular file costs one
``lstat`` and a few dict operations. An entry unchanged since the previous listing is reused
(``Entry`` is immutable) and its name is not matched again, so a steady-state poll allocates
almost nothing per file. Symlinks, which are rare, take the slow path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from triggerd.datastores.filters import FileFilter
from triggerd.datastores.listers import ListingError, normalise_path_on_datastore
from triggerd.datastores.snapshot import Entry, Listing


class LocalLister:
    """Lists the files directly in ``root/path_on_datastore``.

    The lister keeps its last listing to reuse unchanged entries: treat what ``list()`` returns
    as read-only.
    """

    def __init__(self, root: Path, path_on_datastore: str | None, file_filter: FileFilter) -> None:
        self.root = Path(root).absolute()
        self.path_on_datastore = normalise_path_on_datastore(path_on_datastore)
        self.folder = (
            self.root / self.path_on_datastore if self.path_on_datastore is not None else self.root
        )
        self.file_filter = file_filter
        self.description = f"local {self.folder}"
        self._key_head = f"{self.path_on_datastore}/" if self.path_on_datastore else ""
        self._previous: Listing = {}

    def list(self) -> Listing:
        folder = str(self.folder)
        head = self._key_head
        accepts = self.file_filter.match  # the compiled regex: no Python frame per name
        previous = self._previous.get
        listing: Listing = {}
        symlinks: list[os.DirEntry[str]] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    key = head + name
                    old = previous(key)
                    # A key listed last time already passed the (fixed) filter.
                    if old is None and accepts(name) is None:
                        continue
                    if entry.is_file(follow_symlinks=False):
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:  # deleted since scandir read it
                            continue
                        version = str(st.st_mtime_ns)
                        if old is not None and old[1] == version and old[0] == st.st_size:
                            listing[key] = old  # unchanged: keep the one tuple in memory
                        else:
                            listing[key] = Entry(st.st_size, version)
                    elif entry.is_symlink():
                        symlinks.append(entry)
        except OSError as exc:
            raise ListingError(self._reason(exc)) from None
        for entry in symlinks:
            target = self._symlink_target(entry)
            if target is not None:
                listing[head + entry.name] = Entry(target.st_size, str(target.st_mtime_ns))
        self._previous = listing
        return listing

    def _symlink_target(self, entry: os.DirEntry[str]) -> os.stat_result | None:
        """The stat of a symlink's target if it is a regular file inside the folder's tree."""
        try:
            resolved = Path(entry.path).resolve(strict=True)
            inside = self.folder.resolve(strict=True)
            st = resolved.stat()
        except (OSError, RuntimeError):  # dangling, loop, vanished
            return None
        if resolved == inside or not resolved.is_relative_to(inside):
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def _reason(self, exc: OSError) -> str:
        folder = self.folder
        if isinstance(exc, FileNotFoundError):
            return f"folder {folder} does not exist"
        if isinstance(exc, NotADirectoryError):
            return f"{folder} is not a directory"
        if isinstance(exc, PermissionError):
            return f"permission denied listing {folder}"
        return f"cannot list {folder}: {exc.strerror or type(exc).__name__}"

    def locate(self, relative_path: str) -> str:
        """The absolute path of a listed file (``relative_path`` is a key of ``list()``)."""
        parts = relative_path.split("/")
        if ".." in parts or relative_path.startswith("/"):
            raise ValueError(f"{relative_path!r} is not a path inside the datastore")
        return str(self.root.joinpath(*parts))

    def close(self) -> None:
        """Forget the last listing; each poll opens and closes its own directory handle."""
        self._previous = {}

    def __repr__(self) -> str:
        return f"LocalLister({self.description!r}, {self.file_filter!r})"
