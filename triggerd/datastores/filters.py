"""Which file names a datastore schedule watches: include and exclude glob patterns.

Patterns have the glob syntax of :func:`fnmatch.fnmatchcase` (``*``, ``?``, ``[abc]``, ``[!abc]``,
case-sensitive) and are matched against the file's name only, never its folder. A name is
accepted when it matches an include pattern and no exclude pattern.

A poll may test 100,000 names, so each list is compiled once into one regular expression, and
both lists into a single expression (``accepts`` is one regex call per name).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from triggerd.config.triggers import DatastoreTrigger

DEFAULT_INCLUDE: tuple[str, ...] = ("*",)
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".*",  # hidden files
    "*.tmp",
    "*.partial",  # browsers, curl --continue, rsync --partial-dir style writers
    "*._COPYING_",  # hdfs dfs -put / azcopy-like staging names
    "*_COPYING_",
    "~*",  # editor and office lock files
)


def _alternation(patterns: Sequence[str]) -> str:
    """One regex source matching a whole name against any of ``patterns`` (never empty)."""
    if not patterns:
        return r"(?!)"  # matches nothing
    return "|".join(fnmatch.translate(p) for p in patterns)


class FileFilter:
    """Include/exclude glob patterns on a file name (the part after the last ``/``)."""

    __slots__ = ("exclude", "include", "match")

    def __init__(
        self,
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
    ) -> None:
        for pattern in (*include, *exclude):
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"a file pattern must be a non-empty string, not {pattern!r}")
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        # fnmatch.translate gives "(?s:...)\Z" per pattern: anchored at the end, and re.match
        # anchors the start. The exclude list becomes a negative lookahead in front of the
        # include alternation, so one call decides.
        source = rf"(?!{_alternation(self.exclude)})(?:{_alternation(self.include)})"
        self.match = re.compile(source).match
        """The compiled matcher: not None for an accepted name. For hot loops; else ``accepts``."""

    def accepts(self, name: str) -> bool:
        """True if ``name`` (a file name, not a path) should be watched."""
        return self.match(name) is not None

    def refusal(self, name: str) -> str:
        """Why ``name`` is not watched (for a name ``accepts`` refuses): the exclude pattern it
        matches, or ``not included (PATTERN, ...)``. Slower than ``accepts``: for the few."""
        for pattern in self.exclude:
            if fnmatch.fnmatchcase(name, pattern):
                return pattern
        return f"not included ({', '.join(self.include)})"

    def __repr__(self) -> str:
        return f"FileFilter(include={self.include!r}, exclude={self.exclude!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileFilter):
            return NotImplemented
        return (self.include, self.exclude) == (other.include, other.exclude)

    def __hash__(self) -> int:
        return hash((self.include, self.exclude))


def watch_filter(watch: DatastoreTrigger) -> FileFilter:
    """A datastore schedule's file filter: its ``include`` (default every name) and ``exclude``
    (default ``DEFAULT_EXCLUDE``) patterns."""
    return FileFilter(
        include=watch.include or ("*",),
        exclude=watch.exclude if watch.exclude is not None else DEFAULT_EXCLUDE,
    )
