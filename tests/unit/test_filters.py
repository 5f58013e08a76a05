"""FileFilter: glob include/exclude on a file's name, fnmatchcase semantics, one regex per poll."""

from __future__ import annotations

import fnmatch

import pytest

from triggerd.datastores.filters import DEFAULT_EXCLUDE, FileFilter


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("data.csv", True),
        ("report 2024-06-01.parquet", True),
        ("a; rm -rf ~.csv", True),  # "~" only excludes at the start
        ("no_extension", True),
        ("tmp.csv", True),  # *.tmp is a suffix
        ("file.tmp.csv", True),
        (".hidden", False),
        (".hidden.csv", False),
        ("..double", False),
        ("upload.tmp", False),
        ("download.csv.partial", False),
        ("part.csv._COPYING_", False),
        ("part.csv_COPYING_", False),
        ("~$report.xlsx", False),
        ("~lock.csv#", False),
        ("UPLOAD.TMP", True),  # case-sensitive, like fnmatchcase
        ("line\nbreak.csv", True),
        ("line\nbreak.tmp", False),  # "*" matches newlines too
    ],
)
def test_default_filter(name: str, accepted: bool) -> None:
    assert FileFilter().accepts(name) is accepted


@pytest.mark.parametrize(
    ("include", "exclude", "name", "accepted"),
    [
        (["*.csv"], [], "a.csv", True),
        (["*.csv"], [], "a.json", False),
        (["*.csv"], [], "a.csv.bak", False),  # whole-name match, not search
        (["*.csv", "*.json"], [], "a.json", True),
        (["data_??.csv"], [], "data_01.csv", True),
        (["data_??.csv"], [], "data_001.csv", False),
        (["[ab]*.csv"], [], "b1.csv", True),
        (["[!ab]*.csv"], [], "b1.csv", False),
        (["[!ab]*.csv"], [], "c1.csv", True),
        (["*"], ["*.csv"], "a.csv", False),
        (["*.csv"], ["skip*"], "skip.csv", False),
        (["*.csv"], ["skip*"], "keep.csv", True),
        (["*"], [], ".hidden", True),  # an empty exclude list excludes nothing
        (["a.b"], [], "aXb", False),  # "." is literal
        (["a+b(c)"], [], "a+b(c)", True),  # regex metacharacters are literal
        (["*.csv"], [".*"], ".x.csv", False),
        (["*a*b*c*"], [], "xaybzc", True),
        (["*a*b*c*"], [], "xacbz", False),
    ],
)
def test_include_and_exclude(
    include: list[str], exclude: list[str], name: str, accepted: bool
) -> None:
    assert FileFilter(include, exclude).accepts(name) is accepted


def test_the_name_only_is_matched_never_a_folder() -> None:
    # Listers pass the name; a "/" in a name is matched by "*" like any other character.
    assert FileFilter(["*.csv"]).accepts("dir/a.csv")
    assert not FileFilter(["a*"]).accepts("x/a.csv")


NAMES = ["a.csv", ".a", "a.tmp", "b.partial", "x_COPYING_", "~x", "[x].csv", "ab", "a\nb", ""]
PATTERN_SETS = [["*"], ["*.csv", "?b"], ["[!.]*"], ["*a*", "[[]x]*"], list(DEFAULT_EXCLUDE)]


@pytest.mark.parametrize("include", PATTERN_SETS)
@pytest.mark.parametrize("exclude", [[], *PATTERN_SETS])
def test_agrees_with_fnmatchcase(include: list[str], exclude: list[str]) -> None:
    file_filter = FileFilter(include, exclude)
    for name in NAMES:
        expected = any(fnmatch.fnmatchcase(name, p) for p in include) and not any(
            fnmatch.fnmatchcase(name, p) for p in exclude
        )
        assert file_filter.accepts(name) is expected, (name, include, exclude)


def test_an_empty_include_list_accepts_nothing() -> None:
    assert not FileFilter(include=[]).accepts("a.csv")


@pytest.mark.parametrize("bad", ["", None])
def test_an_empty_pattern_is_refused(bad: str | None) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        FileFilter(include=[bad])  # type: ignore[list-item]


def test_filters_compare_by_their_patterns() -> None:
    assert FileFilter(["*.csv"]) == FileFilter(("*.csv",))
    assert FileFilter(["*.csv"]) != FileFilter(["*.json"])
    assert "*.csv" in repr(FileFilter(["*.csv"]))
