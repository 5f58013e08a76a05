"""The last resort of a stop: end the process at a deadline, whatever still hangs.

A stop drains runs within the grace and hands back the rest; nothing in it waits long on a
poll, a planning pass or the database. Should anything hang anyway (a thread in a driver call,
a black-holed database server), the deadline ends the process: it logs which threads were
still busy (``daemon.stop_timeout``) and exits 1. It runs on a daemon thread, so it fires even
while the interpreter's shutdown waits to join other threads.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from triggerd.observability.logging import get_logger

EXIT_STOP_TIMEOUT = 1


class StopDeadline:
    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._wait, name="stop-deadline", daemon=True)

    def start(self) -> StopDeadline:
        """From now, ``limit_s`` seconds until the process exits (unless ``cancel()``)."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """The stop finished in time."""
        self._done.set()

    def _wait(self) -> None:
        if self._done.wait(self.limit_s):
            return
        me = threading.current_thread()
        stuck = sorted(t.name for t in threading.enumerate() if t is not me)
        get_logger().error("daemon.stop_timeout", after_s=self.limit_s, threads=stuck[:50])
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(EXIT_STOP_TIMEOUT)
