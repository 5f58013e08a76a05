"""Early wake for local folders: inotify tells that something changed, so the poll can come
sooner than its interval. The poll stays the source of truth — same listing, same diff, same
settle — and a folder that cannot be watched is simply polled.

One thread reads one inotify descriptor for every watched folder. After the first event it waits
a moment (``GATHER``), reads all that is queued, and calls each watch's wake once: a burst of
10,000 new files is a few large reads, not 40,000 event objects handed between threads (as
watchdog's observer did, ~130 us of CPU a file). Only changes that can alter a listing are asked
for: creations, writes, attribute changes, closes after writing, moves and deletions; opening or
reading a file is not an event.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from triggerd.observability.logging import get_logger

CONFIG_KEY = "config:"  # the config folder's watch (schedule names cannot hold ':')
GATHER = 0.02  # seconds: after a first event, let the rest of a burst queue up before reading
BUFFER = 256 * 1024  # bytes read at once (an event is 16 bytes and its padded name)

# inotify(7): the changes that can alter a listing, and what the kernel reports besides.
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_DELETE_SELF = 0x40, 0x80, 0x100, 0x200, 0x400
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR = 0x4000, 0x8000, 0x1000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
) | (IN_DELETE_SELF | IN_ONLYDIR)
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, length of the name (with its padding)


class _Watch(NamedTuple):
    folder: str
    wake: Callable[[], None]
    accept: Callable[[str], bool] | None  # None: every event wakes


class _Inotify:
    """The three calls of libc's inotify API (Linux); OSError where there is none."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
        try:
            self._init1 = libc.inotify_init1
            self._add = libc.inotify_add_watch
            self._rm = libc.inotify_rm_watch
        except AttributeError:
            raise OSError("inotify is not available on this system") from None
        self._init1.argtypes, self._init1.restype = [ctypes.c_int], ctypes.c_int
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._add.restype = ctypes.c_int
        self._rm.argtypes, self._rm.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        self.fd = self._check(self._init1(IN_NONBLOCK | IN_CLOEXEC), None)

    def add(self, folder: str) -> int:
        return self._check(self._add(self.fd, os.fsencode(folder), MASK), folder)

    def remove(self, wd: int) -> None:
        self._rm(self.fd, wd)  # fails only for a watch the kernel already dropped

    @staticmethod
    def _check(result: int, folder: str | None) -> int:
        if result < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), folder)
        return int(result)


class FolderWatcher:
    """One thread and one inotify descriptor for every watched local folder."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inotify: _Inotify | None = None
        self._stop_r, self._stop_w = -1, -1
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._by_wd: dict[int, dict[str, _Watch]] = {}  # several keys may share one folder
        self._wd_of: dict[str, int] = {}
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
            inotify = self._started()
            self.unwatch(key)
            wd = inotify.add(str(folder))
        except OSError as exc:
            self._log.warning(
                "watch.unavailable",
                **about,
                folder=str(folder),
                reason=str(exc) or type(exc).__name__,
                fallback="polling only",
            )
            return False
        with self._lock:
            self._by_wd.setdefault(wd, {})[key] = _Watch(str(folder), wake, accept)
            self._wd_of[key] = wd
        self._log.info("watch.started", **about, folder=str(folder))
        return True

    def _started(self) -> _Inotify:
        with self._lock:
            if self._stopped:
                raise OSError("the folder watch is stopped")
            if self._inotify is None:
                self._inotify = _Inotify()
                self._stop_r, self._stop_w = os.pipe()
                self._thread = threading.Thread(
                    target=self._read, args=(self._inotify.fd,), name="watch", daemon=True
                )
                self._thread.start()
            return self._inotify

    def unwatch(self, schedule: str) -> None:
        with self._lock:
            wd = self._wd_of.pop(schedule, None)
            watches = self._by_wd.get(wd, {}) if wd is not None else {}
            watches.pop(schedule, None)
            if wd is not None and not watches:
                self._by_wd.pop(wd, None)
                if self._inotify is not None:
                    self._inotify.remove(wd)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped, inotify, self._inotify = True, self._inotify, None
            thread = self._thread
        if thread is None or inotify is None:
            return
        os.write(self._stop_w, b"x")
        thread.join(timeout=5)
        if not thread.is_alive():  # the descriptors are closed here, never under the thread
            for fd in (inotify.fd, self._stop_r, self._stop_w):
                os.close(fd)

    def _read(self, fd: int) -> None:
        """The thread: wait for events, gather a burst, wake the watches it concerns."""
        ready = select.poll()
        ready.register(fd, select.POLLIN)
        ready.register(self._stop_r, select.POLLIN)
        while True:
            if any(at == self._stop_r for at, _ in ready.poll()):
                return
            time.sleep(GATHER)
            data = _drain(fd)
            try:
                self._dispatch(data)
            except Exception:  # an accept that raised: the watch goes on, as do the polls
                self._log.exception("watch.failed", fallback="the polls go on at their interval")

    def _dispatch(self, data: bytes) -> None:
        """Wake each watch that ``data`` (the events read) concerns, once."""
        changed: dict[int, set[bytes]] = {}  # wd -> the names changed (b"": the folder)
        gone: list[int] = []  # watches the kernel dropped: the folder was deleted, say
        overflow = False
        for offset, wd, mask, length in _events(data):
            if mask & IN_Q_OVERFLOW:  # events were lost: any folder may have changed
                overflow = True
            elif mask & IN_IGNORED:  # nothing more comes from this watch
                gone.append(wd)
            else:
                changed.setdefault(wd, set()).add(data[offset : offset + length])
        with self._lock:
            woken = [
                watch.wake
                for wd, watches in self._by_wd.items()
                for watch in watches.values()
                if overflow or (wd in changed and _concerns(watch, changed[wd]))
            ]
            for wd in gone:
                for key in self._by_wd.pop(wd, {}):
                    self._wd_of.pop(key, None)
        for wake in woken:  # one that raises does not keep the others from waking
            try:
                wake()
            except Exception:
                self._log.exception("watch.failed", fallback="the polls go on at their interval")


def _drain(fd: int) -> bytes:
    """Every event queued on the (non-blocking) descriptor."""
    chunks = []
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, BUFFER):
            chunks.append(chunk)
    return b"".join(chunks)


def _events(data: bytes) -> list[tuple[int, int, int, int]]:
    """(offset of the name, wd, mask, length of the name) per event in ``data``."""
    events = []
    offset, end, size = 0, len(data), _HEADER.size
    while offset < end:
        wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
        offset += size
        events.append((offset, wd, mask, length))
        offset += length
    return events


def _concerns(watch: _Watch, names: set[bytes]) -> bool:
    """Whether a change of these entries of the watch's folder (their names as read, with the
    padding; empty: the folder itself) wakes it."""
    accept = watch.accept
    if accept is None:
        return True
    paths = (os.fsdecode(name.rstrip(b"\0")) for name in names)
    return any(accept(str(Path(watch.folder, name))) for name in paths)
