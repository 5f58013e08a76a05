"""Early wake for local folders: inotify (watchdog) tells that something changed, so the poll
can come sooner than its interval. The poll stays the source of truth — same listing, same diff,
same settle — and a folder that cannot be watched is simply polled.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from triggerd.observability.logging import get_logger


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type != "opened":  # reading a file changes nothing
            self._wake()


class FolderWatcher:
    """One inotify observer thread for every watched local folder."""

    def __init__(self) -> None:
        self._observer = Observer()
        self._observer.daemon = True
        self._started = False
        self._log = get_logger()

    def watch(self, schedule: str, folder: Path, wake: Callable[[], None]) -> bool:
        """Watch ``folder`` (not recursively); False, with a warning, if that is not possible."""
        try:
            if not self._started:
                self._observer.start()
                self._started = True
            self._observer.schedule(_Wake(wake), str(folder), recursive=False)
        except (OSError, RuntimeError) as exc:
            self._log.warning(
                "watch.unavailable",
                schedule=schedule,
                folder=str(folder),
                reason=str(exc) or type(exc).__name__,
                fallback="polling only",
            )
            return False
        self._log.info("watch.started", schedule=schedule, folder=str(folder))
        return True

    def stop(self) -> None:
        if self._started:
            self._observer.stop()
            self._observer.join(timeout=5)
