"""The local lister's one-pass change detection (``LocalLister.list_if_changed``).

The check compares the folder with the previous listing entry by entry and, at the first
difference, goes on scanning from there, reusing what the entries before it were. Whatever the
change and wherever it is in ``scandir`` order (the first, a middle or the last entry), the
listing must be exactly what a fresh full listing of the folder gives, with the same entries
left out, and the listing it keeps must tell the next check the truth. ``scandir`` is made to
yield the entries sorted by name (or reversed), so that the positions are known.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from triggerd.datastores import local as local_module
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.local import LocalLister

REAL_SCANDIR = os.scandir
FILTER = FileFilter(exclude=("*.tmp",))
# In name order: a file, an excluded file, a file, a sub-folder, files, an excluded file, a file.
FILES = ("a.csv", "b.tmp", "c.csv", "e.csv", "f.csv", "g.tmp", "h.csv")
POSITIONS = {"first": "a.csv", "middle": "e.csv", "last": "h.csv"}


class SortedScandir:
    """``os.scandir`` yielding the real entries by name (``reverse``: backwards); ``delete``
    unlinks that entry after reading it, before its stat; ``opened`` counts the scans."""

    reverse = False
    delete: str | None = None
    opened = 0

    def __init__(self, path: int | str | Path) -> None:
        self.dir_fd = path if isinstance(path, int) else None  # the lister reads through one
        with REAL_SCANDIR(path) as entries:
            self.entries = sorted(entries, key=lambda e: e.name, reverse=SortedScandir.reverse)
        SortedScandir.opened += 1

    def __enter__(self) -> Iterator[os.DirEntry[str]]:
        return self._entries()

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        for entry in self.entries:
            if entry.name == SortedScandir.delete:
                os.unlink(entry.path, dir_fd=self.dir_fd)
            yield entry

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(SortedScandir, "reverse", False)
    monkeypatch.setattr(SortedScandir, "delete", None)
    monkeypatch.setattr(local_module.os, "scandir", SortedScandir)
    made = tmp_path / "incoming"
    (made / "d").mkdir(parents=True)
    for number, name in enumerate(FILES):
        write(made / name, name.encode(), 1_700_000_000 + number)
    return made


def write(path: Path, data: bytes, seconds: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


def before(name: str) -> str:
    """A new name that sorts right before ``name`` (after the entry before it)."""
    return chr(ord(name[0]) - 1) + "z.csv"


def rewritten(folder: Path, name: str) -> None:
    write(folder / name, b"a longer content", 1_800_000_000)


def touched(folder: Path, name: str) -> None:  # same size, another mtime
    os.utime(folder / name, ns=(1, 1_800_000_000 * 10**9))


def removed(folder: Path, name: str) -> None:
    (folder / name).unlink()


def renamed(folder: Path, name: str) -> None:  # same size and mtime, another name
    (folder / name).rename(folder / name.replace(".csv", "1.csv"))


def added(folder: Path, name: str) -> None:
    write(folder / before(name), b"new", 1_800_000_000)


def added_excluded(folder: Path, name: str) -> None:
    write(folder / before(name).replace(".csv", ".tmp"), b"new", 1_800_000_000)


def added_folder(folder: Path, name: str) -> None:
    (folder / before(name)).mkdir()


def added_symlink(folder: Path, name: str) -> None:
    (folder / before(name)).symlink_to("c.csv")


def added_dangling_symlink(folder: Path, name: str) -> None:
    (folder / before(name)).symlink_to("nowhere.csv")


def deleted_while_scanning(folder: Path, name: str) -> None:  # the check's stat fails
    SortedScandir.delete = name


def reordered(folder: Path, name: str) -> None:
    SortedScandir.reverse = True
    touched(folder, name)


CHANGES: dict[str, Callable[[Path, str], None]] = {
    f.__name__: f
    for f in (
        rewritten,
        touched,
        removed,
        renamed,
        added,
        added_excluded,
        added_folder,
        added_symlink,
        added_dangling_symlink,
        deleted_while_scanning,
        reordered,
    )
}


def fresh(folder: Path) -> LocalLister:
    return LocalLister(folder.parent, folder.name, FILTER)


def assert_as_a_fresh_listing(lister: LocalLister, folder: Path) -> None:
    """The lister's next check gives what a fresh full listing gives, then nothing changed."""
    listing = lister.list_if_changed()
    new = fresh(folder)
    expected = dict(new.list().items())
    assert listing is not None
    assert dict(listing.items()) == expected
    assert list(listing) == list(expected)
    assert lister.ignored == new.ignored
    assert lister.unreadable == new.unreadable
    again = lister.list_if_changed()
    assert again is None or dict(again.items()) == expected  # a symlink: always listed


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("change", CHANGES)
def test_a_change_lists_the_folder_as_a_full_listing_does(
    folder: Path, change: str, position: str
) -> None:
    lister = fresh(folder)
    lister.list()
    assert lister.list_if_changed() is None

    CHANGES[change](folder, POSITIONS[position])
    assert_as_a_fresh_listing(lister, folder)
    SortedScandir.delete = None

    for name in POSITIONS.values():  # what it kept is right for the next change, anywhere
        if (folder / name).exists():
            write(folder / name, b"once more " + name.encode(), 1_900_000_000)
            assert_as_a_fresh_listing(lister, folder)


@pytest.mark.parametrize("position", POSITIONS)
def test_a_change_is_listed_in_one_scan_of_the_folder(folder: Path, position: str) -> None:
    lister = fresh(folder)
    lister.list()
    opened = SortedScandir.opened

    rewritten(folder, POSITIONS[position])
    listing = lister.list_if_changed()

    assert SortedScandir.opened == opened + 1
    assert listing is not None and listing[f"incoming/{POSITIONS[position]}"].size == 16


def test_a_stat_that_fails_mid_check_lists_the_folder_again(folder: Path) -> None:
    lister = fresh(folder)
    lister.list()
    opened = SortedScandir.opened

    deleted_while_scanning(folder, "e.csv")
    listing = lister.list_if_changed()

    assert SortedScandir.opened == opened + 2  # the check cannot tell why its stat failed
    assert listing is not None and "incoming/e.csv" not in listing


def test_entries_removed_at_the_end_are_a_change(folder: Path) -> None:
    lister = fresh(folder)
    lister.list()
    removed(folder, "g.tmp")
    removed(folder, "h.csv")

    listing = lister.list_if_changed()

    assert listing is not None and list(listing)[-1] == "incoming/f.csv"
    assert "incoming/g.tmp" not in lister.ignored
    assert lister.list_if_changed() is None


def test_an_entry_deleted_between_readdir_and_stat_keeps_the_check(folder: Path) -> None:
    """The listing without it is exactly the folder's: the next check trusts it (the entry
    is gone; were it back, the check would see a new entry)."""
    lister = fresh(folder)
    SortedScandir.delete = "e.csv"

    assert "incoming/e.csv" not in lister.list()
    SortedScandir.delete = None
    assert lister.list_if_changed() is None
    write(folder / "e.csv", b"back", 1_800_000_000)
    listing = lister.list_if_changed()
    assert listing is not None and listing["incoming/e.csv"].size == 4
