"""The local lister: one ``os.scandir`` of the watched directory per poll.

Only regular files directly in the folder are listed; sub-directories (and what is in them),
sockets, FIFOs and devices are not (``ignored`` names each entry left out, and why). The version
of a file is its ``st_mtime_ns``.

Symlinks are never followed out of the watched folder: a symlink whose resolved target is a
regular file inside the folder's tree is listed with the target's size and mtime; any other
symlink (outside target, directory, dangling, loop) is skipped.

A poll of 100,000 files usually finds nothing new, so ``list_if_changed()`` first checks, in C,
whether the folder is exactly as the last listing saw it: every directory entry, in ``scandir``
order, with its name, size and ``st_mtime_ns`` (``stat``, one system call each, as any listing
needs). That check keeps no per-file object (one ``(name, size, mtime)`` tuple per entry of the
last listing, and the positions of the entries it left out, is all the lister remembers) and
costs little more than the bare ``scandir`` + ``stat`` loop. At the first difference (a
changed, new, missing, renamed or reordered entry) the same scan goes on as a full listing from
that entry: the entries before it are the last listing's own, so a poll that finds a change
still reads the folder once. The entries before it are taken as they were (listed or left out)
because their name, size and mtime are unchanged: a regular file replaced by a directory or a
symlink with the very same name, size and mtime would not be seen until its mtime changes.
A stat that fails during the check (a file deleted meanwhile, a new dangling symlink) and any
folder that holds a symlink (its target can change without its own entry changing) take a
fresh full listing, which is always correct.

The folder is read through a descriptor (``os.scandir(fd)``), so that each entry's stat is an
``fstatat`` relative to it and does not walk the folder's path again for every file (~15% of a
check of 10,000 files).
"""

from __future__ import annotations

import contextlib
import os
import stat
from bisect import bisect_left
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence
from itertools import chain, compress, repeat, tee
from operator import attrgetter, itemgetter, length_hint, ne
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
_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)

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
        """(path, Entry) per file, made in C: ``tuple.__new__(Entry, ...)`` is what
        ``Entry(size, version)`` does, without its Python frame (a first poll reads 100,000)."""
        files = self._files
        paths = map(self._head.__add__, map(_first, files))
        versions = map(str, map(_third, files))
        entries = map(tuple.__new__, repeat(Entry), zip(map(_second, files), versions, strict=True))
        return zip(paths, entries, strict=True)

    def __repr__(self) -> str:
        return f"FolderListing({dict(self._pairs())!r})"


class _FolderItems(ItemsView[str, Entry]):
    _mapping: FolderListing

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        return self._mapping._pairs()


class _Scan:
    """What a scan of the folder found so far, in ``scandir`` order: the signature, the accepted
    regular files (the same tuples), the entries left out with their positions in the signature
    and ``st_mode``, the symlinks (resolved at the end), the entries it could not read."""

    __slots__ = ("complete", "files", "left", "positions", "signature", "symlinks", "unreadable")

    def __init__(
        self,
        signature: Signature,
        files: list[tuple[str, int, int]],
        positions: list[int],
        left: list[tuple[str, int]],
    ) -> None:
        self.signature = signature
        self.files = files
        self.positions = positions
        self.left = left
        self.symlinks: list[os.DirEntry[str]] = []
        self.unreadable: dict[str, str] = {}
        self.complete = True  # every entry is in the signature

    def read(self, entries: Iterable[os.DirEntry[str]], accepts: Callable[[str], object]) -> None:
        """Scan ``entries`` (``accepts``: the filter's compiled regex, no Python frame a name)."""
        signature, files, positions, left = self.signature, self.files, self.positions, self.left
        symlinks, unreadable = self.symlinks, self.unreadable
        for entry in entries:
            name = entry.name
            try:
                # The entry's type answers is_file and is_symlink without a system call;
                # stat() is the lstat, cached on the entry.
                regular = entry.is_file(follow_symlinks=False)
                if not regular and entry.is_symlink():
                    symlinks.append(entry)
                    continue
                st = entry.stat()
            except FileNotFoundError:  # deleted since readdir: as if it was never there
                continue
            except OSError as exc:  # one bad entry never stops the folder
                self.complete = False
                unreadable[name] = exc.strerror or type(exc).__name__
                continue
            seen = (name, st.st_size, st.st_mtime_ns)
            if regular and accepts(name) is not None:
                files.append(seen)
            else:
                positions.append(len(signature))
                left.append((name, st.st_mode))
            signature.append(seen)


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
        # The entries the last listing left out: their positions in the signature, name and mode.
        self._left: tuple[list[int], list[tuple[str, int]]] = ([], [])
        self.unreadable: dict[str, str] = {}  # entries the last listing could not read: why
        self.ignored: dict[str, Ignored] = {}  # entries the last listing left out: why

    def list(self) -> Listing:
        try:
            with _scandir(self.folder) as entries:
                scan = _Scan([], [], [], [])
                scan.read(entries, self.file_filter.match)
        except OSError as exc:
            self._signature = None
            raise ListingError(self._reason(exc)) from None
        return self._finish(scan)

    def list_if_changed(self) -> Listing | None:
        """None when the folder is exactly as the previous listing saw it, else the listing
        ``list()`` would give, built in the same pass over the folder.

        The check compares, in C, every directory entry in ``scandir`` order with the previous
        listing's (name, size, mtime) tuples. At the first difference the entries before it are
        known (they equal the previous listing's, and so are listed or left out as before) and
        the scan goes on from the differing entry with ``list()``'s loop: a poll that finds a
        change reads the folder once. A listing may come back equal to the previous one (an
        excluded file or a sub-folder changed); None always means nothing changed.
        """
        signature = self._signature
        if signature is None:
            return self.list()
        try:
            with _scandir(self.folder) as entries:
                scan = self._resume(entries, signature)
        except OSError:  # a stat that failed (the entry deleted, a new dangling symlink: the
            return self.list()  # check follows links and cannot tell which), the folder gone
        return None if scan is None else self._finish(scan)

    def _resume(self, entries: Iterator[os.DirEntry[str]], signature: Signature) -> _Scan | None:
        """The check, then the rest of the scan from the first difference (None: no change).

        ``compress`` hands back the entry at the first position where the folder and the
        signature differ (``_END`` closing the folder's side: entries are missing at the end);
        how far the signature's iterator got says how many entries matched before it. The
        three ``tee`` branches advance together, so the scandir iterator itself stands right
        after that entry and the scan carries on from it."""
        data, names, stated = tee(entries, 3)
        sizes, mtimes = tee(map(_stat, stated))
        now = chain(
            zip(map(_name, names), map(_size, sizes), map(_mtime, mtimes), strict=True), (_END,)
        )
        previous = iter(signature)
        first = next(compress(chain(data, (_END,)), map(ne, now, previous)), None)
        if first is None:
            return None
        same = len(signature) - length_hint(previous) - 1
        del data, names, stated, sizes, mtimes, now  # the tee buffers: the scan reads entries
        scan = self._known(signature, same)
        if first is not _END:
            accepts = self.file_filter.match
            assert isinstance(first, os.DirEntry)
            scan.read(chain((first,), entries), accepts)  # first's stat is cached on it
        return scan

    def _known(self, signature: Signature, same: int) -> _Scan:
        """The scan of the first ``same`` entries, which are as the previous listing saw them:
        the previous signature cut there (reused: it is replaced by this listing's), the
        accepted files among them, and the entries left out, with their positions."""
        positions, left = self._left
        cut = bisect_left(positions, same)
        files: list[tuple[str, int, int]] = []
        start = 0
        for at in positions[:cut]:
            files.extend(signature[start:at])  # type: ignore[arg-type]
            start = at + 1
        files.extend(signature[start:same])  # type: ignore[arg-type]
        self._signature = None  # until this scan is finished
        del signature[same:]
        return _Scan(signature, files, positions[:cut], left[:cut])

    def _finish(self, scan: _Scan) -> FolderListing:
        """The listing of a scan; its signature is kept when the next check can trust it."""
        accepts = self.file_filter.match
        left = list(scan.left)
        for entry in scan.symlinks:
            target = self._symlink_target(entry) if accepts(entry.name) is not None else None
            if target is not None:
                scan.files.append((entry.name, target.st_size, target.st_mtime_ns))
            else:
                left.append((entry.name, stat.S_IFLNK))
        if scan.complete and not scan.symlinks:
            scan.signature.append(_END)
            self._signature = scan.signature
            self._left = (scan.positions, scan.left)
        else:
            self._signature = None
            self._left = ([], [])
        self.unreadable = scan.unreadable
        self.ignored = self._left_out(left)
        return FolderListing(self._key_head, scan.files)

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

    def _symlink_target(self, entry: os.DirEntry[str]) -> os.stat_result | None:
        """The stat of a symlink's target if it is a regular file inside the folder's tree."""
        try:
            resolved = (self.folder / entry.name).resolve(strict=True)
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
        self._left = ([], [])

    def __repr__(self) -> str:
        return f"LocalLister({self.description!r}, {self.file_filter!r})"


@contextlib.contextmanager
def _scandir(folder: Path) -> Iterator[Iterator[os.DirEntry[str]]]:
    """The folder's entries, read through a descriptor: their ``stat()`` is relative to it."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with os.scandir(fd) as entries:
            yield entries
    finally:
        os.close(fd)


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
