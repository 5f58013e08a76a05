"""A unix datagram socket as systemd binds it for NOTIFY_SOCKET: collects what the daemon says."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    """Every message received, and when (time.monotonic) the first READY=1 arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self.ready_at: float | None = None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._sock.recv(4096).decode()
            except TimeoutError:
                continue
            if self.ready_at is None and "READY=1" in message.split("\n"):
                self.ready_at = time.monotonic()
            self.messages.append(message)

    def count(self, line: str) -> int:
        """How many messages carried this exact line (e.g. ``WATCHDOG=1``)."""
        return sum(line in m.split("\n") for m in list(self.messages))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        self.path.unlink(missing_ok=True)
