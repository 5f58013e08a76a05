"""Early wake for local folders: inotify (watchdog) tells that something changed, so the poll
can come sooner than its interval. The poll stays the source of truth — same listing, same diff,
same settle — and a folder that cannot be watched is simply polled.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from triggerd.observability.logging import get_logger

CONFIG_KEY = "config:"  # the config folder's watch (schedule names cannot hold ':')


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: Callable[[], None], accept: Callable[[str], bool] | None) -> None:
        self._wake = wake
        self._accept = accept

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):  # reading changes nothing
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if self._accept is None or any(self._accept(os.fsdecode(p)) for p in paths if p):
            self._wake()


class FolderWatcher:
    """One inotify observer thread for every watched local folder."""

    def __init__(self) -> None:
        self._observer = Observer()
        self._observer.daemon = True
        self._started = False
        self._watches: dict[str, ObservedWatch] = {}
        self._log = get_logger()

    def watch(
        self,
        schedule: str,
        folder: Path,
        wake: Callable[[], None],
        accept: Callable[[str], bool] | None = None,
    ) -> bool:
        """Watch a datastore schedule's ``folder`` (not recursively); False, with a warning, if
        that is not possible. ``accept``: only events on paths it accepts wake (default: all)."""
        return self._watch(schedule, folder, wake, accept, {"schedule": schedule})

    def watch_config(
        self, folder: Path, wake: Callable[[], None], accept: Callable[[str], bool]
    ) -> bool:
        """Watch the config folder: events on the files ``accept`` takes call ``wake``."""
        return self._watch(CONFIG_KEY, folder, wake, accept, {"watching": "config"})

    def _watch(
        self,
        key: str,
        folder: Path,
        wake: Callable[[], None],
        accept: Callable[[str], bool] | None,
        about: dict[str, str],
    ) -> bool:
        try:
            if not self._started:
                self._observer.start()
                self._started = True
            self.unwatch(key)
            self._watches[key] = self._observer.schedule(
                _Wake(wake, accept), str(folder), recursive=False
            )
        except (OSError, RuntimeError) as exc:
            self._log.warning(
                "watch.unavailable",
                **about,
                folder=str(folder),
                reason=str(exc) or type(exc).__name__,
                fallback="polling only",
            )
            return False
        self._log.info("watch.started", **about, folder=str(folder))
        return True

    def unwatch(self, schedule: str) -> None:
        watch = self._watches.pop(schedule, None)
        if watch is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(watch)

    def stop(self) -> None:
        if self._started:
            self._observer.stop()
            self._observer.join(timeout=5)
