"""Reloading the config: reading only files that have settled, what changed, and what the
daemon reports of it (log lines, the reload metric, its row on the database).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Connection

from triggerd.config import Config, LoadedConfig, Schedule, read_config
from triggerd.config.digest import ConfigFiles
from triggerd.config.triggers import DatastoreTrigger
from triggerd.engine.collector import collector_paused
from triggerd.errors import ConfigError, ConfigProblem
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.store import Store, configrecord, instances
from triggerd.store.instances import ReloadResult

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
) -> LoadedConfig:
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


def _load(path: Path) -> LoadedConfig:
    """``read_config``, with anything it raises besides ConfigError turned into one."""
    try:
        with collector_paused():
            return read_config(path)
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


class ConfigReport:
    """What the daemon tells of the config it runs on and of each reload: the log lines, the
    reload metric, and its row on the database (the files it runs on, the last reload); and
    the last valid config, recorded for the commands that run while a file is broken. A
    database that refuses these writes is logged (``config.record_failed``), never fatal.
    Each write comes before the log line it goes with: a line seen means the row is there."""

    def __init__(
        self,
        store: Store,
        instance_id: str,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._instance_id = instance_id
        self._clock = clock
        self._metrics = metrics
        self._log = get_logger()
        self.digest: str | None = None  # of the files in force (None: not known)

    def started(self, files: ConfigFiles) -> None:
        """The daemon starts on the config of ``files``."""
        self.digest = files.digest
        self._write(self._loaded, files, self._clock(), None)

    def unchanged(self, files: ConfigFiles) -> bool:
        """True (and so reported) if ``files`` are the ones in force: nothing to reload."""
        if files.digest != self.digest:
            return False
        self._write(
            instances.reload_attempted, self._instance_id, self._clock(), ReloadResult.UNCHANGED
        )
        self._metrics.config_reload(ok=True)
        self._log.info("config.unchanged", digest=files.digest)
        return True

    def refused(self, problems: Sequence[ConfigProblem]) -> None:
        """A reload was refused: the last good config stays in force."""
        reasons = [str(problem) for problem in problems]
        self._write(
            instances.reload_attempted,
            self._instance_id,
            self._clock(),
            ReloadResult.REFUSED,
            reasons,
        )
        for problem in problems:
            self._log.error(
                "config.reload_failed",
                file=problem.file,
                line=problem.line,
                key=problem.key,
                problem=problem.message,
            )
        self._metrics.config_reload(ok=False)

    def applied(self, files: ConfigFiles, change: ConfigChange, schedules: int) -> None:
        """A reload replaced the config with the one of ``files``."""
        self.digest = files.digest
        self._write(self._loaded, files, self._clock(), ReloadResult.OK)
        self._metrics.config_reload(ok=True)
        self._log.info(
            "config.reloaded",
            added=change.added,
            removed=change.removed,
            changed=change.changed,
            schedules=schedules,
        )

    def _loaded(
        self, conn: Connection, files: ConfigFiles, now: datetime, result: ReloadResult | None
    ) -> None:
        instances.config_loaded(conn, self._instance_id, files, now)
        if result is not None:
            instances.reload_attempted(conn, self._instance_id, now, result)
        configrecord.record(conn, files, now, self._instance_id)

    def _write(self, change: Callable[..., object], *args: object) -> None:
        try:
            self._store.write(change, *args)
        except Exception as exc:  # the database is away: the daemon runs on regardless
            text = str(exc).strip()
            error = text.splitlines()[0] if text else type(exc).__name__
            self._log.warning("config.record_failed", error=error)
