"""The remote submitters' HTTP/1.1 client: the standard library's ``http.client`` with a pool of
kept-alive connections, proxies from the environment and TLS verified against certifi's roots.

Why not httpx: a submission against a fast endpoint spent ~0.45-0.55 ms of client CPU in httpx
(its models, h11 and httpcore layers), ~0.12 ms in ``http.client`` (bench/README.md, section 5);
at a burst of 10,000 runs that was the largest part of the daemon's work. What httpx did for us
is kept, and tested in tests/contract/test_transport.py:

- ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case) choose an
  ``http://`` proxy: plain HTTP is sent to it in absolute form, HTTPS goes through a ``CONNECT``
  tunnel; ``user:password@`` in a proxy URL becomes ``Proxy-Authorization``;
- certificates are verified against ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's
  bundle; hostnames are checked;
- ``user:password@`` in a URL becomes Basic ``Authorization`` (unless the request has one);
- a connection is reused only while it is idle for less than ``KEEPALIVE`` and the server has
  not closed it (checked before reuse), and only after an answer read to its end;
- redirects are never followed.

Every failure is a :class:`TransportError`: :class:`ConnectFailed` before a byte was sent,
:class:`TimedOut` when the timeout passed (connecting, waiting, or reading the answer), the base
class for the rest (a connection dropped mid-answer, a malformed answer).
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import quote, unquote, urlencode, urlsplit

import triggerd

__all__ = ["KEEPALIVE", "Answer", "ConnectFailed", "Pool", "TimedOut", "TransportError"]

KEEPALIVE = 5.0  # seconds an idle connection is kept (httpx's default too)
_CHUNK = 64 * 1024
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # RFC 3986 pchar and "/"; "%" keeps escapes as written
_QUERY_SAFE = _PATH_SAFE + "?"
_USER_AGENT = f"triggerd/{triggerd.__version__}"


class TransportError(Exception):
    """The exchange failed; ``str()`` is the reason, without the URL."""


class ConnectFailed(TransportError):
    """No connection to the server (or through the proxy): nothing was sent."""


class TimedOut(TransportError):
    """The timeout passed before the answer was complete."""


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # names in lower case; repeated headers joined by ", "
    content: bytes


class _Target(NamedTuple):
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent to the server
    authorization: str | None  # from user:password@ in the URL


def _parse(url: str, params: Mapping[str, str] | None) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConnectFailed(f"unsupported URL scheme {parts.scheme!r}: use http or https")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ConnectFailed("the URL's port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ConnectFailed("the URL has no host")
    target = quote(parts.path, safe=_PATH_SAFE) or "/"
    query = quote(parts.query, safe=_QUERY_SAFE)
    if params:
        query = f"{query}&{urlencode(params)}" if query else urlencode(params)
    if query:
        target = f"{target}?{query}"
    return _Target(scheme, parts.hostname, port, target, _basic(parts.username, parts.password))


def _basic(user: str | None, password: str | None) -> str | None:
    if user is None:
        return None
    pair = f"{unquote(user)}:{unquote(password or '')}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class _Proxy(NamedTuple):
    host: str
    port: int
    authorization: str | None


def _proxy_for(target: _Target, proxies: Mapping[str, str]) -> _Proxy | None:
    url = proxies.get(target.scheme) or proxies.get("all")
    if not url:
        return None
    if _bypass(f"{target.host}:{target.port}", proxies):
        return None
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ConnectFailed(f"proxy {parts.scheme}://{parts.hostname}: only http:// proxies work")
    try:
        port = parts.port or 80
    except ValueError:
        raise ConnectFailed("the proxy URL's port is not a number") from None
    return _Proxy(parts.hostname, port, _basic(parts.username, parts.password))


def _bypass(host: str, proxies: Mapping[str, str]) -> bool:
    """``NO_PROXY`` as urllib reads it (typeshed does not list the function)."""
    check = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bool(check(host, proxies))


def _tls_context() -> ssl.SSLContext:
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        import certifi

        cafile = certifi.where()
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:  # a missing file, one that holds no certificate
        where = f"SSL_CERT_FILE={cafile}" if cafile else f"SSL_CERT_DIR={capath}"
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise ConnectFailed(f"cannot load the CA certificates ({where}): {reason}") from None


class _Idle(NamedTuple):
    connection: http.client.HTTPConnection
    since: float


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether the server closed an idle connection (or sent something unasked)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Pool:
    """Kept-alive connections per (scheme, host, port), shared by threads: each connection
    serves one request at a time. ``close`` closes the idle ones and retires the busy ones."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[_Idle]] = {}
        self._generation = 0
        self._proxies: dict[str, str] | None = None
        self._tls: ssl.SSLContext | None = None

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        limit: int,
        deadline: float,
    ) -> Answer:
        """One exchange; at most ``limit`` bytes of the body are read (the connection is then
        not reused). Raises TimedOut past ``deadline`` (``time.monotonic``)."""
        target = _parse(url, params)
        proxy, tls = self._setup(target)
        key = (target.scheme, target.host, target.port)
        connection, generation = self._checkout(key)
        try:
            if connection is None:
                connection = self._connect(target, proxy, tls)
            answer, reusable = self._exchange(
                connection, method, target, proxy, headers, body, limit, deadline
            )
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        if reusable:
            self._checkin(key, connection, generation)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
            self._generation += 1
        for entries in idle.values():
            for entry in entries:
                entry.connection.close()

    # --- connections ------------------------------------------------------------------------

    def _setup(self, target: _Target) -> tuple[_Proxy | None, ssl.SSLContext | None]:
        with self._lock:
            if self._proxies is None:
                self._proxies = urllib.request.getproxies_environment()
            proxies = self._proxies
            if target.scheme == "https" and self._tls is None:
                self._tls = _tls_context()
            tls = self._tls
        return _proxy_for(target, proxies), tls

    def _checkout(self, key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection | None, int]:
        now = time.monotonic()
        stale: list[http.client.HTTPConnection] = []
        found = None
        with self._lock:
            generation = self._generation
            entries = self._idle.get(key, [])
            while entries:
                entry = entries.pop()
                if now - entry.since < KEEPALIVE and not _dropped(entry.connection):
                    found = entry.connection
                    break
                stale.append(entry.connection)
        for connection in stale:
            connection.close()
        return found, generation

    def _checkin(
        self, key: tuple[str, str, int], connection: http.client.HTTPConnection, generation: int
    ) -> None:
        with self._lock:
            if generation == self._generation:
                self._idle.setdefault(key, []).append(_Idle(connection, time.monotonic()))
                return
        connection.close()

    def _connect(
        self, target: _Target, proxy: _Proxy | None, tls: ssl.SSLContext | None
    ) -> http.client.HTTPConnection:
        host, port = (target.host, target.port) if proxy is None else (proxy.host, proxy.port)
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=self._timeout, context=tls)
            if proxy is not None:
                tunnel = (
                    {}
                    if proxy.authorization is None
                    else {"Proxy-Authorization": proxy.authorization}
                )
                connection.set_tunnel(target.host, target.port, headers=tunnel)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        try:
            connection.connect()
        except TimeoutError:
            connection.close()
            raise TimedOut("timed out connecting") from None
        except ssl.SSLError as exc:
            connection.close()
            raise ConnectFailed(f"TLS handshake failed: {exc.reason or exc}") from None
        except OSError as exc:
            connection.close()
            raise ConnectFailed(_os_reason(exc)) from None
        return connection

    # --- one exchange -----------------------------------------------------------------------

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        target: _Target,
        proxy: _Proxy | None,
        headers: Mapping[str, str],
        body: bytes | None,
        limit: int,
        deadline: float,
    ) -> tuple[Answer, bool]:
        sent = {"User-Agent": _USER_AGENT, "Accept": "*/*", **headers}
        if target.authorization is not None and not _has(sent, "authorization"):
            sent["Authorization"] = target.authorization
        where = target.target
        if proxy is not None and target.scheme == "http":  # absolute form to the proxy
            where = f"http://{_netloc(target)}{target.target}"
            if proxy.authorization is not None:
                sent["Proxy-Authorization"] = proxy.authorization
        try:
            connection.request(method, where, body=body, headers=sent)
            response = connection.getresponse()
            chunks: list[bytes] = []
            size = 0
            while size < limit:
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise TimedOut("the answer did not arrive in time")
            if size < limit:
                response.close()  # read to its end: the connection may serve the next request
        except TimeoutError:
            raise TimedOut("timed out waiting for the answer") from None
        except http.client.HTTPException as exc:
            raise TransportError(_http_reason(exc)) from None
        except OSError as exc:
            raise TransportError(_os_reason(exc)) from None
        complete = size < limit
        merged: dict[str, str] = {}
        for name, value in response.getheaders():
            name = name.lower()
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        content = b"".join(chunks)[:limit]
        return Answer(response.status, merged, content), complete and not response.will_close


def _has(headers: Mapping[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


def _netloc(target: _Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _os_reason(exc: OSError) -> str:
    return str(exc) or type(exc).__name__


def _http_reason(exc: http.client.HTTPException) -> str:
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without an answer"
    if isinstance(exc, http.client.IncompleteRead):
        return "the server closed the connection before the end of the answer"
    return f"malformed answer ({type(exc).__name__}: {exc})"
