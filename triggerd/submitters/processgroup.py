"""Process groups: signal a whole tree, and tell whether any live member is left."""

from __future__ import annotations

import contextlib
import os
import signal


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
        try:
            with open(f"{entry.path}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        state, _ppid, pgrp = stat.rsplit(b")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in (b"Z", b"X"):
            return True
    return False
