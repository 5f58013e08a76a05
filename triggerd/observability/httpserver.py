"""The daemon's HTTP endpoint: ``/healthz``, ``/readyz`` and ``/metrics``, and any other path
through a :data:`Route` (the status pages and ``/api/``), over plain HTTP.

It serves from a daemon thread, so a wedged scheduler never stops it from answering (and
``/healthz`` can say so). Requests are logged at debug level only: probes come every few seconds.
Read-only: GET and HEAD, every other method is 405 (but the sign-in form's POST to ``/login``,
which changes nothing but the browser's cookie). Every answer carries :data:`SECURITY_HEADERS`.
With a token (:mod:`~triggerd.observability.httpauth`), route answers need
``Authorization: Bearer <token>`` or the cookie the sign-in form sets; the probes, ``/metrics``
and ``/static/`` never do, so kubelets and Prometheus keep working unchanged.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from triggerd import __version__
from triggerd.observability.httpauth import (
    LOGIN,
    LOGOUT,
    MAX_FORM_BYTES,
    TEXT,
    Gate,
    session_page,
    sign_in,
    unauthorized,
)
from triggerd.observability.logging import get_logger
from triggerd.observability.metrics import Metrics
from triggerd.redact import scrub

Probe = Callable[[], tuple[bool, str]]
"""Answers (ok, reason); called on the request thread, so it must be thread safe and quick."""


@dataclass(frozen=True)
class Response:
    """What a route answers: the status, the body (HEAD sends its length only) and its type."""

    status: int
    body: bytes
    content_type: str


Route = Callable[[str, Mapping[str, str]], Response | None]
"""Called on the request thread for a GET or HEAD of any path but ``/healthz``, ``/readyz`` and
``/metrics``, with the path as sent (still percent-encoded: split it at ``/``, then unquote each
part) and the query (the first value of each parameter, decoded). None answers 404. What it
raises is a 500 ``internal error`` (and an ``http.route_failed`` log line), never its text."""

SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "same-origin",  # a form of ours says where it was sent from
    "Cache-Control": "no-store",
}
"""Sent with every answer: probes, metrics, routes, 404s and the errors of the stdlib alike."""

METHODS = ("GET", "HEAD")
OPEN_PREFIXES = ("/static/",)  # served without the token: the stylesheet the sign-in page uses

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


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host``: ``localhost``, 127.0.0.0/8 or ``::1``.
    Any other name, and ``""`` (every interface), is not."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1
    return ip.is_loopback


class HealthServer:
    """``start()`` binds and serves from a daemon thread; ``stop()`` shuts it down (bounded).

    ``routes`` answers every other path (None: they are 404). ``token``: route answers need
    ``Authorization: Bearer <token>`` or the sign-in cookie; it is never logged nor in the repr."""

    def __init__(
        self,
        address: str,
        *,
        health: Probe,
        ready: Probe,
        metrics: Metrics,
        routes: Route | None = None,
        token: str | SecretStr | None = None,
    ) -> None:
        parsed = parse_address(address)
        if parsed is None:
            raise ValueError(f"HTTP address {address!r} disables the endpoint; do not start it")
        self.address = parsed
        self.health = health
        self.ready = ready
        self.metrics = metrics
        self.routes = routes
        self.gate = Gate(token)
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
        if self.routes is not None and not self.gate.enabled and not is_loopback(self.address[0]):
            self._log.warning("http.unprotected", address=self.url, fix="set TRIGGERD_HTTP_TOKEN")

    def secrets(self) -> list[str]:
        """What to mask in the request log lines."""
        return self.gate.secrets()

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
    # The stdlib's own errors (400, 414 a request line over 64 KiB, 431 a header line over
    # 64 KiB or more than 100 headers) in plain text, like every other answer.
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def version_string(self) -> str:
        """The ``Server`` header: ``triggerd/<version>``, nothing about Python."""
        return self.server_version

    def send_response(self, code: int, message: str | None = None) -> None:
        # The stdlib answers HTTP/0.9, and a request line too malformed to tell its version,
        # with a bare body: no status line, no headers. Answer it as HTTP/1.0, headers and all.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        super().send_response(code, message)

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False  # the stdlib has answered (400, 431, ...)
        if self.command in METHODS:
            return True
        if self.command == "POST" and urlsplit(self.path).path == LOGIN:
            return self.server.owner.gate.enabled or self._refuse()
        return self._refuse()

    def _refuse(self) -> bool:
        # Any other method, known or made up, is 405 (the stdlib would say 501); the request's
        # body is not read, so the connection closes after the answer.
        self.close_connection = True
        body = b"method not allowed: GET and HEAD only\n"
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, body, _TEXT, {"Allow": ", ".join(METHODS)})
        return False

    def do_GET(self) -> None:
        self._respond()

    def do_HEAD(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        """The sign-in form, the only POST there is; its body is read only when it is small."""
        self.close_connection = True  # whatever the body held, the connection ends here
        length = self.headers.get("Content-Length", "")
        if not length.isascii() or not length.isdigit() or int(length) > MAX_FORM_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"a small form only\n", _TEXT, {})
            return
        gate, form = self.server.owner.gate, self.rfile.read(int(length))
        self._send(*sign_in(gate, self.headers, form, client=self.address_string()))

    def _respond(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        path, extra = parts.path, dict[str, str]()
        status: int
        if path == "/healthz":
            status, body, ctype = _probe(owner.health, "unhealthy")
        elif path == "/readyz":
            status, body, ctype = _probe(owner.ready, "not ready")
        elif path == "/metrics":
            status, body, ctype = _render(owner.metrics, self.headers.get("Accept", ""))
        elif path in (LOGIN, LOGOUT) and owner.gate.enabled:
            status, body, ctype, extra = session_page(owner.gate, path, parts.query, self.headers)
        elif not path.startswith(OPEN_PREFIXES) and not owner.gate.allows(
            self.headers.get("Authorization"), self.headers.get("Cookie")
        ):
            status, body, ctype, extra = unauthorized(path, parts.query, self.headers)
        else:
            status, body, ctype = _route(owner.routes, path, parts.query, owner.secrets())
        self._send(status, body, ctype, extra)

    def _send(self, status: int, body: bytes, ctype: str, extra: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        get_logger(component="http").debug(
            "http.request",
            client=self.address_string(),
            message=scrub(format % args, self.server.owner.secrets()),
        )


_TEXT = TEXT
_NOT_FOUND = b"not found\n"


def _route(
    route: Route | None, path: str, query: str, secrets: list[str]
) -> tuple[int, bytes, str]:
    if route is None or not path.startswith("/"):
        return HTTPStatus.NOT_FOUND, _NOT_FOUND, _TEXT
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(name, value)  # the first value of each parameter
    try:
        answer = route(path, params)
    except Exception as exc:  # the client gets no traceback, the log gets all of it
        get_logger(component="http").error(
            "http.route_failed",
            path=scrub(path, secrets),
            error=scrub(repr(exc), secrets),
            exc_info=True,
        )
        return HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error\n", _TEXT
    if answer is None:
        return HTTPStatus.NOT_FOUND, _NOT_FOUND, _TEXT
    return answer.status, answer.body, answer.content_type


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
