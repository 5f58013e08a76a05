"""Is the SQLite file the daemon writes still the one on disk?

A process that opened a file keeps writing into it after ``rm``: the daemon would go on
recording runs nobody can read, while every CLI command sees (or makes) another file. The
daemon remembers the device and inode of its database file and of the directory holding it,
and checks them with every heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from triggerd.store.db import sqlite_file


@dataclass(frozen=True)
class DatabaseFile:
    path: Path
    file_id: tuple[int, int]
    folder_id: tuple[int, int]

    @classmethod
    def of(cls, engine: Engine) -> DatabaseFile | None:
        """The SQLite file ``engine`` opened, as it is now; None for other databases."""
        file = sqlite_file(engine.url)
        if file is None:
            return None
        path = Path(file)
        return cls(path, _identity(path), _identity(path.parent))

    def lost(self) -> str | None:
        """Why the file on disk is no longer the one opened (None while it is)."""
        for what, path, known in (
            ("its directory", self.path.parent, self.folder_id),
            ("the database file", self.path, self.file_id),
        ):
            try:
                now = _identity(path)
            except FileNotFoundError:
                return f"{what} {path} was deleted"
            except OSError as exc:
                return f"{what} {path} cannot be checked: {exc.strerror or exc}"
            if now != known:
                return f"{what} {path} was replaced by another one"
        return None


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino
