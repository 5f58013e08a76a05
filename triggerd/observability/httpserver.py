"""The health and metrics endpoint: ``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP.

It serves from a daemon thread, so a wedged scheduler never stops it from answering (and
``/healthz`` can say so). Requests are logged at debug level only: probes come every few seconds.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from triggerd import __version__
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics

Probe = Callable[[], tuple[bool, str]]
"""Answers (ok, reason); called on the request thread, so it must be thread safe and quick."""

DISABLED = frozenset({"", "off", "none"})
_STOP_TIMEOUT_S = 5.0
_REQUEST_TIMEOUT_S = 10.0  # a client that sends nothing holds its thread no longer than this
MAX_CONNECTIONS = 32  # connections served at once; more are closed at once (a flood, a scan)
_POLL_INTERVAL_S = 0.1  # how often serve_forever looks for shutdown; bounds stop()


def parse_address(value: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:9464`` for IPv6) to ``(host, port)``; None when disabled.

    ``""``, ``off`` and ``none`` disable the endpoint; port 0 picks a free port.
    """
    text = value.strip()
    if text.lower() in DISABLED:
        return None
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isascii() or not port_text.isdigit():
        raise ValueError(
            f"HTTP address {value!r} is not host:port (e.g. 127.0.0.1:9464); "
            "use 'off' to disable the endpoint"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"HTTP address {value!r}: put an IPv6 host in brackets, e.g. [::1]:9464")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"HTTP address {value!r}: port {port} is above 65535")
    return host, port


class HealthServer:
    """``start()`` binds and serves from a daemon thread; ``stop()`` shuts it down (bounded)."""

    def __init__(self, address: str, *, health: Probe, ready: Probe, metrics: Metrics) -> None:
        parsed = parse_address(address)
        if parsed is None:
            raise ValueError(f"HTTP address {address!r} disables the endpoint; do not start it")
        self.address = parsed
        self.health = health
        self.ready = ready
        self.metrics = metrics
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._log = get_logger(component="http")

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (the real port when 0 was asked for)."""
        if self._httpd is None:
            raise RuntimeError("the HTTP endpoint is not started")
        host, port = self._httpd.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def start(self) -> None:
        """Bind and serve; raises ``OSError`` when the address cannot be bound."""
        if self._httpd is not None:
            return
        httpd = _Server(self.address, _Handler, owner=self)
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_S},
            name="triggerd-http",
            daemon=True,
        )
        self._httpd, self._thread = httpd, thread
        thread.start()
        self._log.info("http.listening", url=self.url)

    def stop(self) -> None:
        """Stop serving and free the port; waits at most a few seconds."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None or thread is None:
            return
        # shutdown() waits for serve_forever to notice; run it on a helper so a stuck loop
        # cannot hold the caller past the timeout.
        stopper = threading.Thread(target=httpd.shutdown, name="triggerd-http-stop", daemon=True)
        stopper.start()
        stopper.join(_STOP_TIMEOUT_S)
        thread.join(_STOP_TIMEOUT_S)
        httpd.server_close()
        if thread.is_alive():
            self._log.warning("http.stop_timeout", timeout_s=_STOP_TIMEOUT_S)


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most ``MAX_CONNECTIONS`` of them: a flood of connections
    (idle ones included, each held up to ``_REQUEST_TIMEOUT_S``) costs the daemon a bounded
    number of threads, and probes get through again as soon as it ebbs."""

    daemon_threads = True  # an in-flight request never holds up shutdown
    request_queue_size = 128  # the listen backlog: a burst of probes waits, it is not dropped

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], *, owner: HealthServer
    ) -> None:
        self.owner = owner
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves socket.getfqdn(host): a reverse DNS lookup that can
        # hang for seconds where DNS is missing (a container). Nothing here needs the name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: the client sees the connection closed
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: give the slot back
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The stdlib prints a traceback to stderr (a client hanging up mid-answer, say).
        get_logger(component="http").debug(
            "http.request_failed", client=str(client_address), exc_info=True
        )


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _REQUEST_TIMEOUT_S
    server_version = f"triggerd/{__version__}"
    sys_version = ""

    def version_string(self) -> str:
        """The ``Server`` header: ``triggerd/<version>``, nothing about Python."""
        return self.server_version

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        if path == "/healthz":
            status, body, ctype = _probe(owner.health, "unhealthy")
        elif path == "/readyz":
            status, body, ctype = _probe(owner.ready, "not ready")
        elif path == "/metrics":
            status, body, ctype = _render(owner.metrics, self.headers.get("Accept", ""))
        else:
            status, body, ctype = HTTPStatus.NOT_FOUND, b"not found\n", _TEXT
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        get_logger(component="http").debug(
            "http.request", client=self.address_string(), message=format % args
        )


_TEXT = "text/plain; charset=utf-8"


def _probe(probe: Probe, failed: str) -> tuple[HTTPStatus, bytes, str]:
    try:
        ok, reason = probe()
    except Exception as exc:  # a broken probe is an unhealthy answer, not a dead endpoint
        ok, reason = False, f"probe raised {exc!r}"
    status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
    text = f"ok: {reason}" if ok else f"{failed}: {reason}"
    return status, (text + "\n").encode(), _TEXT


def _render(metrics: Metrics, accept: str) -> tuple[HTTPStatus, bytes, str]:
    try:
        body, ctype = metrics.render(accept)
    except Exception as exc:
        get_logger(component="http").error("http.metrics_failed", error=repr(exc), exc_info=True)
        return HTTPStatus.INTERNAL_SERVER_ERROR, b"metrics unavailable\n", _TEXT
    return HTTPStatus.OK, body, ctype
