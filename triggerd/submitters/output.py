"""A child's output: read line by line from its pipes, logged per line, a bounded tail kept."""

from __future__ import annotations

import codecs
import os
import selectors
import threading
import time
from collections import deque
from typing import IO

from triggerd.observability.logging import Logger
from triggerd.redact import scrub

_LOG_LINE_BYTES = 4 * 1024  # one `run.output` event carries at most this much of a line
_MAX_LINE_BYTES = 64 * 1024  # a longer line is handled in pieces of this size
_POLL_SECONDS = 0.1  # how often a reader looks at its stop time


class OutputTail:
    """The last ``limit`` bytes of the combined output, shared by both reader threads."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pieces: deque[bytes] = deque()
        self._size = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def add(self, text: str, end_of_line: bool) -> None:
        data = text.encode() + (b"\n" if end_of_line else b"")
        with self._lock:
            self._pieces.append(data)
            self._size += len(data)
            while self._size > self._limit and self._pieces:
                excess = self._size - self._limit
                first = self._pieces[0]
                if len(first) <= excess:
                    self._pieces.popleft()
                    cut = len(first)
                else:
                    self._pieces[0] = first[excess:]
                    cut = excess
                self._size -= cut
                self._dropped += cut

    def render(self) -> str:
        """The kept output (at most ``limit`` bytes), after a marker when some was dropped."""
        with self._lock:
            # A cut may split a multi-byte character at the start: drop its remains.
            text = b"".join(self._pieces).decode("utf-8", errors="ignore")
            if self._dropped:
                return f"[... {self._dropped} bytes dropped]\n{text}"
            return text


class OutputReader(threading.Thread):
    """Reads one pipe of the child line by line, logs each line and feeds the tail."""

    def __init__(self, stream: IO[bytes], channel: str, log: Logger, tail: OutputTail) -> None:
        super().__init__(name=f"triggerd-command-{channel}", daemon=True)
        self._fd = stream.fileno()
        self._channel = channel
        self._log = log
        self._tail = tail
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = bytearray()
        self._mid_line = False  # the pending bytes continue a line already logged in part
        self._stop_at: float | None = None

    def finish(self, drain: float) -> None:
        """Stop after at most ``drain`` seconds, even if a process outside the group holds
        the pipe open; output that is already in the pipe is still read."""
        self._stop_at = time.monotonic() + drain

    def run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            while True:
                stop_at = self._stop_at
                if stop_at is not None and time.monotonic() >= stop_at:
                    break
                if not selector.select(timeout=_POLL_SECONDS):
                    if stop_at is not None:
                        break
                    continue
                chunk = os.read(self._fd, _MAX_LINE_BYTES)
                if not chunk:
                    break
                self._feed(chunk)
        if self._pending:
            self._emit(bytes(self._pending), end_of_line=True)

    def _feed(self, chunk: bytes) -> None:
        self._pending += chunk
        while (newline := self._pending.find(b"\n")) >= 0:
            line = bytes(self._pending[:newline])
            del self._pending[: newline + 1]
            self._emit(line.removesuffix(b"\r"), end_of_line=True)
        if len(self._pending) >= _MAX_LINE_BYTES:
            self._emit(bytes(self._pending), end_of_line=False)
            self._pending.clear()

    def _emit(self, data: bytes, *, end_of_line: bool) -> None:
        # Masked as the logs mask (AccountKey=, sig=, user:password@): a command that prints a
        # connection string keeps it out of the log, the database, the CLI and the pages.
        text = scrub(self._decoder.decode(data, final=end_of_line))
        if not self._mid_line:
            encoded = text.encode()
            if len(encoded) > _LOG_LINE_BYTES:
                short = encoded[:_LOG_LINE_BYTES].decode("utf-8", errors="ignore")
                self._log.info("run.output", channel=self._channel, line=short, truncated=True)
            else:
                self._log.info("run.output", channel=self._channel, line=text)
        self._tail.add(text, end_of_line)
        self._mid_line = not end_of_line
