"""Which files a config path names, and reading one of them (at most ``MAX_BYTES``, UTF-8)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from triggerd.config.yamllimits import MAX_BYTES
from triggerd.errors import ConfigProblem

SUFFIXES = (".yaml", ".yml")
_CHUNK = 1024 * 1024


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def config_files(path: Path, problems: list[ConfigProblem]) -> list[Path]:
    """The files of ``path``: itself, or the ``*.yaml``/``*.yml`` files of a directory, in name
    order (not hidden ones, not in sub-directories). Problems when there are none."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        problems.append(ConfigProblem(str(path), "", "no such file or directory"))
        return []
    except OSError as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot read it: {_reason(exc)}"))
        return []
    if not stat.S_ISDIR(mode):
        return [path]
    try:
        with os.scandir(path) as entries:
            files = sorted(
                Path(entry.path)
                for entry in entries
                if entry.name.endswith(SUFFIXES)
                and not entry.name.startswith(".")
                and entry.is_file()
            )
    except OSError as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot read the directory: {_reason(exc)}"))
        return []
    if not files:
        problems.append(ConfigProblem(str(path), "", "no *.yaml or *.yml files here"))
    return files


def _read_at_most(handle: BinaryIO, limit: int) -> bytes | None:
    """All of ``handle``, or None once it holds more than ``limit`` bytes (it may grow)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := handle.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def read_config_file(path: Path) -> str | ConfigProblem:
    """The text of ``path``, or the problem that keeps it from being read. A file larger than
    ``MAX_BYTES`` is refused without reading more than that of it, and one that is not a regular
    file (a FIFO, a device) is not read at all, so reading never blocks."""
    file = str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                return ConfigProblem(file, "", "cannot read the file: not a regular file")
            data = _read_at_most(handle, MAX_BYTES) if status.st_size <= MAX_BYTES else None
    except OSError as exc:
        return ConfigProblem(file, "", f"cannot read the file: {_reason(exc)}")
    if data is None:
        limit = f"{MAX_BYTES // (1024 * 1024)} MiB"
        return ConfigProblem(
            file, "", f"the file is larger than {limit}, the limit: split it into several files"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ConfigProblem(file, "", "cannot read the file: not UTF-8 text")


def read_config_texts(
    path: Path, problems: list[ConfigProblem]
) -> tuple[list[str], dict[str, str]]:
    """The files of the config ``path`` in order, and the text of each one that can be read
    (the problems of the others, and of ``path``, go to ``problems``)."""
    files = [str(file) for file in config_files(path, problems)]
    texts: dict[str, str] = {}
    for file in files:
        try:
            text = read_config_file(Path(file))
        except MemoryError:
            text = ConfigProblem(file, "", "cannot load the file: too little memory")
        if isinstance(text, ConfigProblem):
            problems.append(text)
        else:
            texts[file] = text
    return files, texts
