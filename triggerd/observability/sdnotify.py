"""systemd's notify protocol (``sd_notify(3)``), without a dependency on python-systemd.

systemd passes a unix datagram socket in ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace); the service sends ``KEY=value`` lines to it, one datagram per message:
``READY=1`` when it is up, ``STATUS=`` for ``systemctl status``, ``WATCHDOG=1`` at least every
``WATCHDOG_USEC``, ``RELOADING=1`` / ``READY=1`` around a reload and ``STOPPING=1`` on shutdown.

Without ``NOTIFY_SOCKET`` every call is a no-op. Sending never raises: a failure is logged once
(``sdnotify.failed``), then again only after a send has succeeded in between.

This module leaves the environment as it is. Child processes must not inherit the variables in
:data:`NOTIFY_ENV` (a child that talks to the socket would speak for triggerd): the daemon
removes them from its own environment once it has read them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from triggerd.observability.logging import get_logger

NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""The variables systemd sets for the notify protocol; strip them from children's environment."""

_SEND_TIMEOUT_S = 2.0  # a full receive queue must not wedge the caller for longer than this


class Notifier:
    """Sends notify messages to systemd; every method returns whether a datagram was sent."""

    def __init__(
        self,
        socket_address: str | None,
        *,
        watchdog_usec: str | None = None,
        watchdog_pid: str | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._address = _socket_address(socket_address) if socket_address else None
        self._watchdog_usec = watchdog_usec
        self._watchdog_pid = watchdog_pid
        self._monotonic_ns = monotonic_ns
        self._log = get_logger(component="sdnotify")
        self._lock = threading.Lock()
        self._failing = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(
            environ.get("NOTIFY_SOCKET") or None,
            watchdog_usec=environ.get("WATCHDOG_USEC"),
            watchdog_pid=environ.get("WATCHDOG_PID"),
        )

    @property
    def enabled(self) -> bool:
        """True when systemd gave us a socket to talk to."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: startup (or a reload) is complete."""
        return self.notify("READY=1", *_status_line(status))

    def status(self, text: str) -> bool:
        """``STATUS=``: one line shown by ``systemctl status``."""
        return self.notify(*_status_line(text))

    def reloading(self) -> bool:
        """``RELOADING=1`` with the ``MONOTONIC_USEC`` systemd >= 253 expects alongside it."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={self._monotonic_ns() // 1000}")

    def stopping(self) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the service is alive; send it every :meth:`watchdog_interval`."""
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), or None when not asked.

        systemd sets ``WATCHDOG_PID`` to the process it watches; pings are for that process only.
        """
        try:
            usec = int(self._watchdog_usec or "0")
        except ValueError:
            return None
        if usec <= 0:
            return None
        if self._watchdog_pid:
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        return usec / 2 / 1_000_000

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` joined by newlines as one datagram; never raises."""
        if self._address is None or not lines:
            return False
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.settimeout(_SEND_TIMEOUT_S)
                sock.sendto(payload, self._address)
        except OSError as exc:
            self._failed(exc)
            return False
        with self._lock:
            self._failing = False
        return True

    def _failed(self, exc: OSError) -> None:
        with self._lock:
            first, self._failing = not self._failing, True
        if first:
            self._log.warning(
                "sdnotify.failed",
                socket=_printable(self._address),
                error=str(exc) or type(exc).__name__,
            )


def _socket_address(value: str) -> str:
    """``@name`` is the abstract namespace (a leading NUL byte); anything else is a path."""
    return "\0" + value[1:] if value.startswith("@") else value


def _printable(address: str | None) -> str:
    if address is None:
        return ""
    return "@" + address[1:] if address.startswith("\0") else address


def _status_line(text: str | None) -> tuple[str, ...]:
    # A newline would start a new assignment in the message; keep STATUS= one line.
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.splitlines()),)
