"""Which files a config was read from, and how they compare with the files on disk now.

A config is identified by its files: each file's SHA-256, and a digest over them all (the
SHA-256 of the lines ``<sha256>  <path>``, one per file, sorted by path: ``sha256sum`` over the
files, in path order). Paths are absolute, so a daemon and a command started in other
directories name the same file the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from triggerd.config.files import config_files, read_config_file
from triggerd.errors import ConfigProblem


def file_sha256(text: str) -> str:
    """The SHA-256 of a config file's text (its UTF-8 bytes, as they are on disk)."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def config_digest(sha256s: Mapping[str, str]) -> str:
    """The digest of a set of files, given each one's SHA-256 by path."""
    lines = "".join(f"{sha256s[path]}  {path}\n" for path in sorted(sha256s))
    return hashlib.sha256(lines.encode("utf-8", "surrogateescape")).hexdigest()


def absolute(file: str | Path) -> str:
    """A config file's path as it is recorded: absolute, symlinks kept (as the loader reads)."""
    return str(Path(file).absolute())


@dataclass(frozen=True)
class ConfigFiles:
    """The texts a config was loaded from, by absolute path."""

    texts: Mapping[str, str]

    @cached_property
    def sha256s(self) -> dict[str, str]:
        return {path: file_sha256(text) for path, text in self.texts.items()}

    @cached_property
    def digest(self) -> str:
        return config_digest(self.sha256s)


@dataclass(frozen=True)
class FilesOnDisk:
    """The files of a config path now, hashed without being validated: a file that cannot be
    read (or is not UTF-8 text, or too large) has no SHA-256 (None)."""

    sha256s: dict[str, str | None]
    problems: list[ConfigProblem] = field(default_factory=list)

    @property
    def digest(self) -> str | None:
        """None when a file cannot be read (no config can be loaded from these files)."""
        known = {path: sha for path, sha in self.sha256s.items() if sha is not None}
        if len(known) < len(self.sha256s) or not known:
            return None
        return config_digest(known)


def files_on_disk(path: Path) -> FilesOnDisk:
    """Read and hash the files of the config ``path`` (a file or a directory)."""
    problems: list[ConfigProblem] = []
    sha256s: dict[str, str | None] = {}
    for file in config_files(path, problems):
        text = read_config_file(file)
        sha256s[absolute(file)] = file_sha256(text) if isinstance(text, str) else None
    return FilesOnDisk(sha256s, problems)


@dataclass(frozen=True)
class FilesChange:
    """Recorded files against the files on disk: which changed, were added or removed."""

    changed: list[str]
    added: list[str]
    removed: list[str]

    @property
    def same(self) -> bool:
        return not (self.changed or self.added or self.removed)

    @classmethod
    def between(cls, recorded: Mapping[str, str], disk: Mapping[str, str | None]) -> FilesChange:
        both = sorted(recorded.keys() & disk.keys())
        return cls(
            changed=[path for path in both if recorded[path] != disk[path]],
            added=sorted(disk.keys() - recorded.keys()),
            removed=sorted(recorded.keys() - disk.keys()),
        )
