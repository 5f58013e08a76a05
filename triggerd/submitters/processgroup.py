"""Process groups: signal a whole tree, tell whether any live member is left, and recognise (and
end) the processes of a run whose daemon died.

A command runs in a process group of its own, led by the process triggerd started. Its
identity, recorded in the run's row right after the start, is the leader's pid and start time
(field 22 of ``/proc/PID/stat``: clock ticks since boot), with the host name and the kernel's
boot id: a pid means nothing on another host (or in another pid namespace, which has another
host name) or after a reboot. Each process of the run also carries ``TRIGGERD_RUN_MARKER`` (the
database's id and the run id) in its environment, which finds the run's processes when no
identity was recorded (the daemon died between starting the command and committing it) and
those that left the group. A pidfd would be exact, but it does not outlive the daemon.

Linux only (``/proc``); elsewhere nothing is recorded and nothing is found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

MARKER_VARIABLE = "TRIGGERD_RUN_MARKER"
DEFAULT_KILL_GRACE = timedelta(seconds=10)  # between SIGTERM and SIGKILL
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
KILL_PATIENCE = 5.0  # seconds a process may take to vanish after SIGKILL (it may be in D state)
_PROBE_SECONDS = 0.1  # between two scans of /proc while ending


def signal_group(pgid: int, sig: signal.Signals) -> None:
    # The group is gone (ESRCH) or holds only processes we may not signal (EPERM).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return has_running_member(pgid)


def has_running_member(pgid: int) -> bool:
    # killpg(pgid, 0) also finds zombies, which only their parent can remove; an orphan's new
    # parent may never do it (a container without an init). Where /proc exists, ignore them.
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return True
    for entry in entries:
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat.pgrp == pgid and stat.live:
            return True
    return False


# --- identity -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessIdentity:
    """A process group's leader as recorded in the run's row: recognisable after a restart."""

    pid: int
    start_ticks: int  # field 22 of /proc/PID/stat: when it started, in clock ticks since boot
    host: str
    boot_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "host": self.host,
            "boot_id": self.boot_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessIdentity | None:
        """The identity in a run's ``process`` column; None if it holds none (or not in full)."""
        try:
            pid, ticks, host = data["pid"], data["start_ticks"], data["host"]
        except (KeyError, TypeError):
            return None
        if not (isinstance(pid, int) and isinstance(ticks, int) and isinstance(host, str)):
            return None
        boot_id = data.get("boot_id")
        return cls(pid, ticks, host, boot_id if isinstance(boot_id, str) else None)

    def elsewhere(self, host: str, boot_id: str | None) -> str | None:
        """Why this record cannot be checked here (None when it can): another host, or a boot
        before this one (its processes died with it), or a boot id nobody could read."""
        if self.host != host:
            return "another host"
        if self.boot_id is None or boot_id is None:
            return "unknown boot"
        if self.boot_id != boot_id:
            return "an earlier boot"
        return None


def this_host() -> tuple[str, str | None]:
    """The host name and the kernel's boot id (None where it cannot be read)."""
    try:
        boot_id: str | None = BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        boot_id = None
    return socket.gethostname(), boot_id


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of process ``pid`` (one the caller started and has not reaped, so its
    /proc entry cannot belong to another process); None without /proc."""
    stat = _stat(pid)
    if stat is None:
        return None
    host, boot_id = this_host()
    return ProcessIdentity(pid, stat.start_ticks, host, boot_id)


def marker_entry(marker: str) -> bytes:
    """The environment entry that marks a run's processes, as /proc/PID/environ holds it."""
    return f"{MARKER_VARIABLE}={marker}".encode()


# --- what is left of a run, and whether it is ours -------------------------------------------


@dataclass(frozen=True)
class ProcessEntry:
    """One process as /proc shows it."""

    pid: int
    pgrp: int
    start_ticks: int
    live: bool  # False for a zombie (it only waits to be reaped)
    marked: bool | None  # its environment carries the run's marker; None: unreadable


@dataclass(frozen=True)
class Leftovers:
    """The live processes of an earlier attempt: its group, and marked ones outside it."""

    group: int | None  # the recorded group, when it is the run's and has live members
    members: tuple[int, ...]  # the group's live members
    strays: tuple[ProcessEntry, ...]  # live, marked, outside that group (setsid, setpgid)

    @property
    def pids(self) -> set[int]:
        return {*self.members, *(s.pid for s in self.strays)}


def leftovers(
    record: ProcessIdentity | None,
    processes: Sequence[ProcessEntry],
    *,
    exclude: Collection[int] = (),
    known: bool = False,
) -> Leftovers:
    """Which of ``processes`` belong to the earlier attempt that ``record`` describes (a record
    from this host and this boot, or None when none was committed).

    The rule, and why it never takes a stranger's process:

    - Linux never hands out a pid while it is still in use as a process id, a process group id
      or a session id. The leader called ``setsid``: its pid is also its group's and session's
      id, and a process can only join a group of its own session.
    - If a process with the recorded pid exists (alive or a zombie) and started at the recorded
      time, it is the leader: the group is the run's, and so is every member of it (they can
      only descend from the leader's session). The same pid with another start time is a
      reused pid: the group is not the run's, whatever it holds.
    - If no process has the recorded pid, the leader died but the group may live on. A member
      whose environment carries the run's marker proves the group is the run's (the group id
      could not have been reused while that member held it), and then all its members are.
      Members whose environment is unmarked or unreadable prove nothing: the pid may have been
      reused by a process that made a group of its own and exited. Such a group is left alone.
    - ``known``: the caller found the group to be the run's, with live members, at its
      previous look a moment ago. It stays the run's while it has members (its id cannot have
      been reused in between), even once the leader and every marked member are gone.
    - Outside the group, a process is the run's only if its environment carries the marker
      (which names the database and the run, so another daemon's runs never match).

    Zombies are never counted (they have ended). ``exclude`` (the daemon itself and its
    ancestors) is never taken.
    """
    live = [p for p in processes if p.live and p.pid not in exclude]
    group: int | None = None
    if record is not None:
        leader = next((p for p in processes if p.pid == record.pid), None)
        in_group = [p for p in live if p.pgrp == record.pid]
        if known:
            ours = True
        elif leader is not None:
            ours = leader.start_ticks == record.start_ticks
        else:
            ours = any(p.marked for p in in_group)
        if ours and in_group:
            group = record.pid
    members = tuple(sorted(p.pid for p in live if group is not None and p.pgrp == group))
    strays = tuple(p for p in live if p.marked and p.pid not in members)
    return Leftovers(group, members, strays)


def scan_processes(marker: str) -> list[ProcessEntry]:
    """Every process in /proc, with whether its environment carries ``marker``."""
    needle = b"\0" + marker_entry(marker) + b"\0"
    try:
        names = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    found = []
    for name in names:
        pid = int(name)
        stat = _stat(pid)
        if stat is None:
            continue  # exited meanwhile
        marked: bool | None
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                marked = needle in b"\0" + f.read() + b"\0"
        except FileNotFoundError:
            continue
        except OSError:  # another user's process, or one that is not dumpable
            marked = None
        found.append(ProcessEntry(pid, stat.pgrp, stat.start_ticks, stat.live, marked))
    return found


# --- ending them ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ended:
    """What ending an earlier attempt's processes took."""

    group: int | None  # the recorded group, if it still had live members
    pids: tuple[int, ...]  # every live process of the run that was found
    signal: signal.Signals  # SIGTERM, or SIGKILL when one outlived the grace
    survivors: tuple[int, ...]  # still running KILL_PATIENCE after SIGKILL (or not ours to kill)


def end_leftovers(
    record: ProcessIdentity | None,
    marker: str,
    grace: float,
    *,
    scan: Callable[[str], list[ProcessEntry]] = scan_processes,
    exclude: Collection[int] | None = None,
) -> Ended | None:
    """End what is left of an earlier attempt (see :func:`leftovers`): SIGTERM, ``grace``
    seconds to go, then SIGKILL. None when nothing of it runs. Every decision is made again
    from a fresh scan just before each signal, and a single process is signalled through a
    pidfd after checking its start time, so a pid reused meanwhile is never hit."""
    keep_off = set(exclude) if exclude is not None else _self_and_ancestors()
    found: set[int] = set()
    group: int | None = None
    known = False  # the group was the run's, with members, at the previous scan
    signaller = _Signaller()
    deadline = killed_at = None
    while True:
        now = leftovers(record, scan(marker), exclude=keep_off, known=known)
        if not now.pids:
            break
        found |= now.pids
        group = group or now.group
        known = now.group is not None
        clock = time.monotonic()
        deadline = clock + grace if deadline is None else deadline
        if clock >= deadline:
            killed_at = clock if killed_at is None else killed_at
            if clock - killed_at > KILL_PATIENCE:
                return Ended(group, tuple(sorted(found)), signal.SIGKILL, tuple(sorted(now.pids)))
        signaller.send(now, signal.SIGKILL if killed_at is not None else signal.SIGTERM)
        time.sleep(_PROBE_SECONDS)
    if not found:
        return None
    strongest = signal.SIGKILL if killed_at is not None else signal.SIGTERM
    return Ended(group, tuple(sorted(found)), strongest, ())


class _Signaller:
    """SIGTERM once to the group and once to each stray (a handler doing its cleanup is not
    interrupted by more of them); SIGKILL to all of them every time it is asked."""

    def __init__(self) -> None:
        self._termed_group = False
        self._termed: set[tuple[int, int]] = set()

    def send(self, now: Leftovers, sig: signal.Signals) -> None:
        kill = sig == signal.SIGKILL
        if now.group is not None and (kill or not self._termed_group):
            signal_group(now.group, sig)
            self._termed_group = True
        for stray in now.strays:
            if kill or (stray.pid, stray.start_ticks) not in self._termed:
                _signal_exactly(stray, sig)
                self._termed.add((stray.pid, stray.start_ticks))


def _signal_exactly(process: ProcessEntry, sig: signal.Signals) -> None:
    """Signal ``process`` and no other: through a pidfd taken before its start time is checked
    again (the pidfd stays on the process it was opened for, even if the pid is reused)."""
    try:
        fd: int | None = os.pidfd_open(process.pid)
    except ProcessLookupError:
        return
    except OSError:  # a kernel before 5.3: fall back on the start time alone
        fd = None
    try:
        stat = _stat(process.pid)
        if stat is None or stat.start_ticks != process.start_ticks:
            return  # exited, and its pid perhaps reused
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if fd is not None:
                signal.pidfd_send_signal(fd, sig)
            else:
                os.kill(process.pid, sig)
    finally:
        if fd is not None:
            os.close(fd)


def _self_and_ancestors() -> set[int]:
    """This process and its ancestors: never ended, even if they carry a marker."""
    found: set[int] = set()
    pid = os.getpid()
    while pid > 0 and pid not in found:
        found.add(pid)
        stat = _stat(pid)
        if stat is None:
            break
        pid = stat.ppid
    return found


@dataclass(frozen=True)
class _Stat:
    ppid: int
    pgrp: int
    start_ticks: int
    live: bool


def _stat(pid: int) -> _Stat | None:
    """Fields of /proc/PID/stat; None if the process is gone (or there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold anything: split after its last ")".
    fields = raw.rsplit(b")", 1)[1].split()
    state, ppid, pgrp, start_ticks = fields[0], fields[1], fields[2], fields[19]
    return _Stat(int(ppid), int(pgrp), int(start_ticks), state not in (b"Z", b"X"))
