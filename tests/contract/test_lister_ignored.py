"""What a listing leaves out, and why (``Lister.ignored``): on a real folder and a real blob
container (Azurite), with the lister contract's ``place`` fixture."""

from __future__ import annotations

import os
from pathlib import Path

from tests.contract import test_listers
from tests.contract.test_listers import LocalPlace, Place
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.snapshot import Ignored

place = test_listers.place  # the contract's fixture: a local folder and a blob container


def test_a_listing_says_which_names_a_pattern_excluded_and_which_sub_folders_it_skipped(
    place: Place,
) -> None:
    place.write("incoming/a.csv", b"a")
    place.write("incoming/upload.tmp", b"half")
    place.write("incoming/.hidden.csv", b"h")
    place.write("incoming/sub/b.csv", b"b")
    lister = place.lister("incoming")
    assert set(lister.list()) == {"incoming/a.csv"}
    assert lister.ignored == {
        "incoming/upload.tmp": Ignored("excluded", "*.tmp"),
        "incoming/.hidden.csv": Ignored("excluded", ".*"),
        "incoming/sub": Ignored("not_regular", "directory"),
    }


def test_a_name_no_include_pattern_matches_is_excluded_with_the_patterns(place: Place) -> None:
    place.write("incoming/a.csv", b"a")
    place.write("incoming/b.json", b"b")
    lister = place.lister("incoming", FileFilter(include=("*.csv", "*.parquet"), exclude=()))
    lister.list()
    assert lister.ignored == {
        "incoming/b.json": Ignored("excluded", "not included (*.csv, *.parquet)")
    }


def test_a_new_excluded_file_alone_is_a_change(place: Place) -> None:
    place.write("incoming/a.csv", b"a")
    lister = place.lister("incoming")
    lister.list()
    assert lister.list_if_changed() is None
    place.write("incoming/upload.tmp", b"half")
    listing = lister.list_if_changed()
    assert listing is not None and set(listing) == {"incoming/a.csv"}
    assert set(lister.ignored) == {"incoming/upload.tmp"}
    place.delete("incoming/upload.tmp")
    assert lister.list_if_changed() is not None
    assert lister.ignored == {}


def test_a_fifo_and_a_symlink_out_of_the_folder_are_not_regular_files(tmp_path: Path) -> None:
    local = LocalPlace(tmp_path / "datastore")
    local.write("incoming/a.csv", b"a")
    os.mkfifo(local.root / "incoming" / "pipe.csv")
    outside = tmp_path / "secret.csv"
    outside.write_text("not yours")
    (local.root / "incoming" / "out.csv").symlink_to(outside)
    (local.root / "incoming" / "in.csv").symlink_to(local.root / "incoming" / "a.csv")
    lister = local.lister("incoming")
    assert set(lister.list()) == {"incoming/a.csv", "incoming/in.csv"}
    assert lister.ignored == {
        "incoming/pipe.csv": Ignored("not_regular", "fifo"),
        "incoming/out.csv": Ignored(
            "not_regular", "symlink (not to a regular file inside the folder)"
        ),
    }
