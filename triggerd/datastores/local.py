"""The local lister: one ``os.scandir`` of the watched directory per poll.

Only regular files directly in the folder are listed; sub-directories (and what is in them),
sockets, FIFOs and devices are not (``ignored`` names each entry left out, and why). The version
of a file is its ``st_mtime_ns``.

Symlinks are never followed out of the watched folder: a symlink whose resolved target is a
regular file inside the folder's tree is listed with the target's size and mtime; any other
symlink (outside target, directory, dangling, loop) is skipped.

A poll of 100,000 files usually finds nothing new, so ``list_if_changed()`` first checks, in C,
whether the folder is exactly as the last full listing saw it: every directory entry, in
``scandir`` order, with its name, size and ``st_mtime_ns`` (``stat``, one system call each, as
any listing needs). That check keeps no per-file object (one ``(name, size, mtime)`` tuple per
entry of the last listing is all the lister remembers) and costs little more than the bare
``scandir`` + ``stat`` loop. Anything else takes the full listing, which is always correct: a
changed, new, missing or reordered entry, a file deleted during the check, and any folder that
holds a symlink (a symlink's target can change without its own entry changing).
"""

from __future__ import annotations

import os
import stat
from collections.abc import ItemsView, Iterator, Mapping, Sequence
from itertools import chain, tee
from operator import attrgetter, eq
from pathlib import Path

from triggerd.datastores.filters import FileFilter
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.datastores.snapshot import EXCLUDED, NOT_REGULAR, Entry, Ignored, Listing
from triggerd.errors import ListingError

_END = object()  # closes a signature, so that a longer or shorter folder never compares equal
_name = attrgetter("name")
_size = attrgetter("st_size")
_mtime = attrgetter("st_mtime_ns")
_stat = os.DirEntry.stat

Signature = list[tuple[str, int, int] | object]
"""Every entry of the folder as the last full listing saw it, in scandir order, then ``_END``."""


class FolderListing(Mapping[str, Entry]):
    """A local listing as the scan's own ``(name, size, mtime)`` tuples (the ones the lister's
    signature keeps anyway): keys and entries are made as they are read, so a poll of 100,000
    files holds no second copy of them. Read once by ``settle``; a lookup builds an index."""

    __slots__ = ("_files", "_head", "_index")

    def __init__(self, head: str, files: list[tuple[str, int, int]]) -> None:
        self._head = head
        self._files = files
        self._index: dict[str, Entry] | None = None

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self) -> Iterator[str]:
        head = self._head
        return (head + name for name, _, _ in self._files)

    def items(self) -> ItemsView[str, Entry]:
        return _FolderItems(self)

    def __getitem__(self, key: str) -> Entry:
        if self._index is None:
            self._index = dict(self._pairs())
        return self._index[key]

    def _pairs(self) -> Iterator[tuple[str, Entry]]:
        head = self._head
        for name, size, mtime in self._files:
            yield head + name, Entry(size, str(mtime))

    def __repr__(self) -> str:
        return f"FolderListing({dict(self._pairs())!r})"


class _FolderItems(ItemsView[str, Entry]):
    _mapping: FolderListing

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        return self._mapping._pairs()


class LocalLister:
    """Lists the files directly in ``root/path_on_datastore``."""

    def __init__(self, root: Path, path_on_datastore: str | None, file_filter: FileFilter) -> None:
        self.root = Path(root).absolute()
        self.path_on_datastore = normalise_path_on_datastore(path_on_datastore)
        self.folder = (
            self.root / self.path_on_datastore if self.path_on_datastore is not None else self.root
        )
        self.file_filter = file_filter
        self.description = f"local {self.folder}"
        self._key_head = f"{self.path_on_datastore}/" if self.path_on_datastore else ""
        self._signature: Signature | None = None
        self.unreadable: dict[str, str] = {}  # entries the last listing could not read: why
        self.ignored: dict[str, Ignored] = {}  # entries the last listing left out: why

    def list(self) -> Listing:
        folder = str(self.folder)
        head = self._key_head
        accepts = self.file_filter.match  # the compiled regex: no Python frame per name
        signature: Signature = []
        files: list[tuple[str, int, int]] = []  # the accepted regular files, as in signature
        symlinks: list[os.DirEntry[str]] = []
        left: list[tuple[str, int]] = []  # the entries left out: name, st_mode
        complete = True  # every entry is in the signature
        unreadable: dict[str, str] = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    try:
                        # The entry's type answers is_file and is_symlink without a system
                        # call; stat() is the lstat, cached on the entry.
                        regular = entry.is_file(follow_symlinks=False)
                        if not regular and entry.is_symlink():
                            symlinks.append(entry)
                            continue
                        st = entry.stat()
                    except OSError as exc:  # one bad entry never stops the folder
                        complete = False
                        if not isinstance(exc, FileNotFoundError):  # else: deleted meanwhile
                            unreadable[name] = exc.strerror or type(exc).__name__
                        continue
                    seen = (name, st.st_size, st.st_mtime_ns)
                    signature.append(seen)
                    if regular and accepts(name) is not None:
                        files.append(seen)
                    else:
                        left.append((name, st.st_mode))
        except OSError as exc:
            self._signature = None
            raise ListingError(self._reason(exc)) from None
        for entry in symlinks:
            target = self._symlink_target(entry) if accepts(entry.name) is not None else None
            if target is not None:
                files.append((entry.name, target.st_size, target.st_mtime_ns))
            else:
                left.append((entry.name, stat.S_IFLNK))
        if complete and not symlinks:
            signature.append(_END)
            self._signature = signature
        else:
            self._signature = None
        self.unreadable = unreadable
        self.ignored = self._left_out(left)
        return FolderListing(head, files)

    def _left_out(self, left: Sequence[tuple[str, int]]) -> dict[str, Ignored]:
        """Why each entry left out is (the pattern of an excluded name, as the last listing
        found it: the filter never changes), by its path relative to the datastore root."""
        head, accepts, before = self._key_head, self.file_filter.match, self.ignored
        found: dict[str, Ignored] = {}
        for name, mode in left:
            key = head + name
            if accepts(name) is None:
                known = before.get(key)
                if known is None or known.reason != EXCLUDED:
                    known = Ignored(EXCLUDED, self.file_filter.refusal(name))
                found[key] = known
            else:
                found[key] = Ignored(NOT_REGULAR, file_type(mode))
        return found

    def list_if_changed(self) -> Listing | None:
        """None when the folder is exactly as the previous listing saw it, else ``list()``.

        A listing may come back equal to the previous one (an excluded file or a sub-folder
        changed); None always means nothing changed.
        """
        signature = self._signature
        if signature is not None and self._unchanged(signature):
            return None
        return self.list()

    def _unchanged(self, signature: Signature) -> bool:
        try:
            with os.scandir(self.folder) as entries:
                names, entries_ = tee(entries)
                sizes, mtimes = tee(map(_stat, entries_))
                now = zip(map(_name, names), map(_size, sizes), map(_mtime, mtimes), strict=True)
                return all(map(eq, chain(now, (_END,)), signature))
        except OSError:  # a file deleted meanwhile, a new dangling symlink, the folder gone
            return False

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

    def close(self) -> None:
        """Forget the last listing; each poll opens and closes its own directory handle."""
        self._signature = None

    def __repr__(self) -> str:
        return f"LocalLister({self.description!r}, {self.file_filter!r})"


_TYPES = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symlink (not to a regular file inside the folder)"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def file_type(mode: int) -> str:
    """What an entry that is not a regular file is, from its ``st_mode``."""
    return next((name for test, name in _TYPES if test(mode)), "not a regular file")
