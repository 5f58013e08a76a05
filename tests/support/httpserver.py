"""A real HTTP server on 127.0.0.1 for submitter tests: it records every request and answers from
a per-test script of replies (status, headers, body, an optional delay, or a hang).

    with ScriptedServer() as server:
        server.script(Reply(503, headers={"Retry-After": "2"}), Reply(200, json={"Id": "r1"}))
        ...
        assert server.requests[0].headers["idempotency-key"] == "..."

Requests beyond the script get a 500 whose body says so. A hanging reply holds its request until
the server stops (or ``release_hangs``), so a test never waits on it longer than its own timeout.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``json`` wins over ``body``; ``hang`` never answers."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False

    def content(self) -> bytes:
        return self.body if self.json is None else json.dumps(self.json).encode()


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it (header names in lower case)."""

    method: str
    path: str
    target: str  # the request target as sent: a path, or a whole URL to a proxy
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, serving from a thread."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Recorded] = []
        self.connections = 0  # TCP connections accepted
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._busy = 0
        self._idle = threading.Condition(self._lock)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        if tls is not None:  # HTTPS: the handshake happens in the handler's thread
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def release_hangs(self) -> None:
        self._release.set()

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=5)
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- called from handler threads ------------------------------------------------------

    def _answer(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if self._script:
                return self._script.popleft()
        return Reply(500, body=b"no scripted reply left for this request")

    def _enter(self) -> None:
        with self._lock:
            self._busy += 1

    def _leave(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()


def refused_url() -> str:
    """A 127.0.0.1 URL where nothing listens (a port just bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            with server._lock:
                server.connections += 1
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(5)
                try:
                    self.request.do_handshake()
                except (OSError, ssl.SSLError):  # a client that refused the certificate
                    self.request.close()
            super().setup()

        def _serve(self) -> None:
            server._enter()
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    target=self.path,
                    query=parse_qs(parts.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                )
                reply = server._answer(recorded)
                if reply.hang:
                    server._release.wait()
                    self.close_connection = True
                    return
                if reply.delay:
                    server._release.wait(reply.delay)
                content = reply.content()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except OSError:  # the client gave up (timeout): nothing to answer
                self.close_connection = True
            finally:
                server._leave()

        do_POST = do_PUT = do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
