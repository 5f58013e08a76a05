"""Reloading the config: reading only files that have settled, and what changed.

An editor saving a file, ``git pull`` or a ConfigMap update rewrites files while the daemon
may be reading them; a half-written file can be valid YAML that defines half the schedules.
So a reload reads the config only once its files (names, sizes, mtimes, inodes) have stayed
the same for ``SETTLE``, and reads it again if they changed while it was read. Whatever the
files hold — nonsense, an alias bomb, a file being written for minutes — the answer is a
Config or a ConfigError: a reload never ends the daemon.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from triggerd.config import Config, Schedule, load_config
from triggerd.config.triggers import DatastoreTrigger
from triggerd.engine.collector import collector_paused
from triggerd.errors import ConfigError, ConfigProblem

SETTLE = 0.3  # seconds the files must stay unchanged before they are read
PATIENCE = 10.0  # seconds to wait for files that keep changing

Signature = tuple[tuple[str, int, int, int], ...]


def signature(path: Path) -> Signature:
    """Every config file under ``path`` as (name, size, mtime_ns, inode); symlinks followed."""
    try:
        if path.is_dir():
            names = sorted(
                entry.name
                for entry in os.scandir(path)
                if entry.name.endswith((".yaml", ".yml")) and not entry.name.startswith(".")
            )
            files = [path / name for name in names]
        else:
            files = [path]
    except OSError:
        return ()
    seen = []
    for file in files:
        try:
            st = file.stat()
        except OSError:
            continue
        seen.append((file.name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(seen)


def config_files_filter(config: Path) -> tuple[Path, Callable[[str], bool]]:
    """The folder to watch for a change of the config ``config`` (a file or a directory), and
    which changed paths in it count."""
    path = config.resolve()
    is_dir = path.is_dir()

    def is_config(changed: str) -> bool:
        if is_dir:  # Kubernetes swaps a ConfigMap volume's "..data" symlink
            return changed.endswith((".yaml", ".yml")) or "/..data" in changed
        return Path(changed).resolve() == path

    return (path if is_dir else path.parent), is_config


def load_settled(
    path: Path,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Config:
    """The config in ``path`` once its files have settled; raises ConfigError only."""
    deadline = monotonic() + PATIENCE
    before = signature(path)
    while True:
        sleep(SETTLE)
        now = signature(path)
        if now == before:
            config = _load(path)
            if signature(path) == now:  # not rewritten while it was read
                return config
            now = signature(path)
        if monotonic() > deadline:
            raise ConfigError([ConfigProblem(str(path), "", _STILL_CHANGING)])
        before = now


_STILL_CHANGING = (
    f"the config files kept changing for {PATIENCE:.0f} s; the last good config stays in force "
    "(the next change, or SIGHUP, reloads again)"
)


def _load(path: Path) -> Config:
    """``load_config``, with anything it raises besides ConfigError turned into one."""
    try:
        with collector_paused():
            return load_config(path)
    except ConfigError:
        raise
    except Exception as exc:  # MemoryError, RecursionError, a bug: never the daemon's end
        reason = f"cannot load the config: {type(exc).__name__}"
        raise ConfigError([ConfigProblem(str(path), "", reason)]) from exc


@dataclass(frozen=True)
class ConfigChange:
    """The schedules a reload adds, removes and changes (their definition, or the datastore
    they watch, differs; moving one to another file changes nothing)."""

    added: list[str]
    removed: list[str]
    changed: list[str]

    @classmethod
    def between(cls, old: Config, new: Config) -> ConfigChange:
        before, after = old.schedules, new.schedules
        changed = [
            name
            for name in sorted(before.keys() & after.keys())
            if _definition(before[name]) != _definition(after[name])
            or watched(old, name) != watched(new, name)
        ]
        return cls(
            sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys()), changed
        )

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _definition(schedule: Schedule) -> Schedule:
    """What a schedule does; moving it to another file changes nothing."""
    return schedule.model_copy(update={"source": ""})


def watched(config: Config, name: str) -> object:
    """What a schedule watches: its datastore's definition and folder (None for time ones)."""
    trigger = config.schedules[name].trigger
    if not isinstance(trigger, DatastoreTrigger):
        return None
    return (config.datastores.get(trigger.datastore), trigger.path_on_datastore)
