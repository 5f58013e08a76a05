"""The submitters' HTTP client (``triggerd.submitters.transport``) against real servers on
127.0.0.1: kept-alive connections, proxies from the environment, TLS verified against the roots
it is given, and every way an exchange can fail."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.httpserver import Reply, ScriptedServer, refused_url
from tests.support.tunnel import Certificate, TunnelProxy, make_certificate
from triggerd.errors import TransientSubmitError
from triggerd.observability.logging import get_logger
from triggerd.submitters.httpcommon import HttpSender
from triggerd.submitters.transport import (
    KEEPALIVE,
    Answer,
    ConnectFailed,
    Pool,
    TimedOut,
    TransportError,
)

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def pools() -> Iterator[list[Pool]]:
    """Pools a test makes, closed at its end (so no socket is left to the collector)."""
    made: list[Pool] = []
    yield made
    for pool in made:
        pool.close()


def new_pool(pools: list[Pool], timeout: float = 5) -> Pool:
    pool = Pool(timeout)
    pools.append(pool)
    return pool


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path)


def post(pool: Pool, url: str, body: bytes = b"{}", *, limit: int = 1 << 20) -> Answer:
    return pool.request(
        "POST",
        url,
        headers={"Content-Type": "application/json"},
        body=body,
        limit=limit,
        deadline=time.monotonic() + 5,
    )


# --- connections ----------------------------------------------------------------------------


def test_one_connection_serves_the_requests_in_turn(
    server: ScriptedServer, pools: list[Pool]
) -> None:
    server.script(*(Reply(200, json={"n": n}) for n in range(3)))
    pool = new_pool(pools)
    answers = [post(pool, server.url + "/hook", b'{"a": 1}') for _ in range(3)]
    pool.close()
    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.content for a in answers] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert server.connections == 1
    assert [r.body for r in server.requests] == [b'{"a": 1}'] * 3
    assert server.requests[0].headers["user-agent"].startswith("triggerd/")
    assert server.requests[0].headers["content-length"] == "8"


def test_connections_send_without_nagle_delay(server: ScriptedServer, pools: list[Pool]) -> None:
    # http.client (3.11) sets TCP_NODELAY when it connects, and the pool depends on it: it
    # writes the headers and the body in two sends, which Nagle's algorithm would hold for the
    # server's delayed ACK (~40 ms a request).
    server.script(Reply(200))
    pool = new_pool(pools)
    post(pool, server.url)
    (idle,) = [entry for entries in pool._idle.values() for entry in entries]
    sock = idle.connection.sock
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_a_connection_the_server_closed_is_not_reused(
    server: ScriptedServer, pools: list[Pool]
) -> None:
    server.script(Reply(200, headers={"Connection": "close"}), Reply(200), Reply(200))
    pool = new_pool(pools)
    post(pool, server.url)  # the server says it closes: not kept
    post(pool, server.url)
    post(pool, server.url)
    pool.close()
    assert server.connections == 2


def test_an_idle_connection_closed_by_the_server_is_noticed_before_reuse(pools: list[Pool]) -> None:
    # A server that answers once per connection and then closes it without saying so.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def serve() -> None:
        for _ in range(2):
            connection, _ = listener.accept()
            accepted.append(1)
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(4096)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(rest) < length:
                    rest += connection.recv(4096)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    pool = new_pool(pools)
    try:
        assert post(pool, f"http://127.0.0.1:{port}/").content == b"ok"
        deadline = time.monotonic() + 5
        while len(accepted) < 1 and time.monotonic() < deadline:  # bounded
            time.sleep(0.01)
        time.sleep(0.1)  # the server has closed its end
        assert post(pool, f"http://127.0.0.1:{port}/").content == b"ok"
    finally:
        pool.close()
        thread.join(timeout=5)
        listener.close()
    assert len(accepted) == 2


def test_a_connection_idle_longer_than_the_keepalive_is_replaced(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    server.script(Reply(200), Reply(200))
    pool = new_pool(pools)
    post(pool, server.url)
    later = time.monotonic() + KEEPALIVE + 1
    monkeypatch.setattr("triggerd.submitters.transport.time.monotonic", lambda: later)
    pool.request("POST", server.url, headers={}, body=b"", limit=100, deadline=later + 5)
    pool.close()
    assert server.connections == 2


def test_requests_in_parallel_each_get_a_connection(
    server: ScriptedServer, pools: list[Pool]
) -> None:
    server.script(*(Reply(200, delay=0.2) for _ in range(3)))
    pool = new_pool(pools)
    threads = [threading.Thread(target=post, args=(pool, server.url)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    pool.close()
    assert len(server.requests) == 3
    assert server.connections == 3


def test_the_body_read_stops_at_the_limit_and_the_connection_is_dropped(
    server: ScriptedServer, pools: list[Pool]
) -> None:
    server.script(Reply(200, body=b"x" * 300_000), Reply(200, body=b"y"))
    pool = new_pool(pools)
    answer = post(pool, server.url, limit=1000)
    assert answer.content == b"x" * 1000
    assert post(pool, server.url).content == b"y"
    pool.close()
    assert server.connections == 2


def test_repeated_headers_are_joined_and_names_lower_cased(
    server: ScriptedServer, pools: list[Pool]
) -> None:
    server.script(Reply(200, headers={"X-Thing": "a", "Location": "/runs/1"}))
    answer = post(new_pool(pools, 5), server.url)
    assert answer.headers["location"] == "/runs/1"
    assert answer.headers["x-thing"] == "a"


def test_query_parameters_are_added_to_the_url_s_own(
    server: ScriptedServer, pools: list[Pool]
) -> None:
    server.script(Reply(200))
    new_pool(pools, 5).request(
        "POST",
        server.url + "/p a/th?api-version=1",
        headers={},
        body=b"",
        params={"x": "a b&c"},
        limit=100,
        deadline=time.monotonic() + 5,
    )
    assert server.requests[0].target == "/p%20a/th?api-version=1&x=a+b%26c"


def test_user_and_password_in_the_url_become_basic_auth(
    server: ScriptedServer, pools: list[Pool]
) -> None:
    server.script(Reply(200), Reply(200))
    host = server.url.removeprefix("http://")
    pool = new_pool(pools)
    post(pool, f"http://us%40er:p%3Ass@{host}/")
    pool.request(
        "POST",
        f"http://user:pass@{host}/",
        headers={"Authorization": "Bearer t"},
        body=b"",
        limit=100,
        deadline=time.monotonic() + 5,
    )
    expected = "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert server.requests[0].headers["authorization"] == expected
    assert server.requests[1].headers["authorization"] == "Bearer t"


# --- failures -------------------------------------------------------------------------------


def test_a_refused_connection_is_connect_failed(pools: list[Pool]) -> None:
    with pytest.raises(ConnectFailed, match="Connection refused"):
        post(new_pool(pools, 2), refused_url())


def test_an_unknown_scheme_is_connect_failed(pools: list[Pool]) -> None:
    with pytest.raises(ConnectFailed, match="unsupported URL scheme 'ftp'"):
        post(new_pool(pools, 2), "ftp://127.0.0.1/x")


def test_no_answer_within_the_timeout(server: ScriptedServer, pools: list[Pool]) -> None:
    server.script(Reply(200, hang=True))
    started = time.monotonic()
    with pytest.raises(TimedOut):
        post(new_pool(pools, 0.3), server.url)
    assert time.monotonic() - started < 3  # bounded by the timeout, not the server
    server.release_hangs()


def test_a_body_trickling_past_the_deadline_times_out(pools: list[Pool]) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(100):  # a byte every 50 ms, bounded
                if stop.wait(0.05):
                    return
                try:
                    connection.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(TimedOut):
            new_pool(pools, 2).request(
                "POST",
                f"http://127.0.0.1:{port}/",
                headers={},
                body=b"",
                limit=10_000,
                deadline=time.monotonic() + 0.5,
            )
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_malformed_answer_is_a_transport_error(pools: list[Pool]) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"SMTP ready\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(TransportError, match="malformed answer") as caught:
            post(new_pool(pools, 2), f"http://127.0.0.1:{port}/")
    finally:
        thread.join(timeout=5)
        listener.close()
    assert not isinstance(caught.value, ConnectFailed | TimedOut)


# --- proxies --------------------------------------------------------------------------------


def test_plain_http_goes_to_the_proxy_in_absolute_form(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url.replace("http://", "http://pu:pw@"))
    server.script(Reply(200, json={"via": "proxy"}))
    answer = post(new_pool(pools, 5), "http://service.invalid:8080/hook?x=1")
    assert answer.content == b'{"via": "proxy"}'
    recorded = server.requests[0]
    assert recorded.target == "http://service.invalid:8080/hook?x=1"
    assert recorded.headers["host"] == "service.invalid:8080"
    assert recorded.headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:pw").decode()


def test_no_proxy_sends_directly(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    monkeypatch.setenv("http_proxy", refused_url())
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    server.script(Reply(200))
    assert post(new_pool(pools, 5), server.url + "/hook").status == 200
    assert server.requests[0].target == "/hook"


def test_an_unreachable_proxy_is_connect_failed(
    monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    monkeypatch.setenv("ALL_PROXY", refused_url())
    with pytest.raises(ConnectFailed, match="Connection refused"):
        post(new_pool(pools, 2), "http://service.invalid/hook")


def test_an_https_proxy_url_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.invalid:3128")
    with pytest.raises(ConnectFailed, match="only http:// proxies work"):
        post(new_pool(pools, 2), "http://service.invalid/hook")


# --- TLS ------------------------------------------------------------------------------------


def test_https_with_the_roots_from_ssl_cert_file(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    with ScriptedServer(tls=certificate.server_context()) as tls_server:
        tls_server.script(Reply(200, json={"ok": True}), Reply(200))
        pool = new_pool(pools)
        assert post(pool, tls_server.url + "/hook").content == b'{"ok": true}'
        post(pool, tls_server.url + "/hook")
        pool.close()
        assert tls_server.connections == 1


def test_unreadable_ca_certificates_are_a_connection_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    pool = new_pool(pools)
    with pytest.raises(ConnectFailed, match=r"cannot load the CA certificates \(SSL_CERT_FILE="):
        post(pool, "https://127.0.0.1:9/hook")
    (tmp_path / "missing.pem").write_text("not a certificate\n")
    with pytest.raises(ConnectFailed, match="cannot load the CA certificates"):
        post(pool, "https://127.0.0.1:9/hook")  # asked again at the next request


def test_an_untrusted_certificate_is_refused(certificate: Certificate, pools: list[Pool]) -> None:
    with ScriptedServer(tls=certificate.server_context()) as tls_server:  # certifi's roots
        with pytest.raises(ConnectFailed, match="TLS handshake failed: CERTIFICATE_VERIFY_FAILED"):
            post(new_pool(pools, 5), tls_server.url + "/hook")
        assert tls_server.requests == []


def test_https_through_a_connect_tunnel(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    with (
        ScriptedServer(tls=certificate.server_context()) as tls_server,
        TunnelProxy() as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://pu:pw@"))
        tls_server.script(Reply(201, json={"id": "r1"}))
        answer = post(new_pool(pools, 5), tls_server.url + "/hook")
        assert answer.status == 201
        host = tls_server.url.removeprefix("https://")
        line, headers = proxy.heads[0]
        assert line == f"CONNECT {host} HTTP/1.0"
        assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:pw").decode()
        assert tls_server.requests[0].target == "/hook"


def test_a_tunnel_the_proxy_refuses_is_connect_failed(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch, pools: list[Pool]
) -> None:
    with TunnelProxy(refuse=True) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(ConnectFailed, match="407"):
            post(new_pool(pools, 5), "https://127.0.0.1:9/hook")


def test_the_sender_keeps_its_messages_on_the_new_client() -> None:
    sender = HttpSender(timedelta(seconds=1))
    try:
        with pytest.raises(TransientSubmitError, match=r"^cannot connect to http://127\.0\.0\.1"):
            sender.send(
                "POST",
                refused_url() + "/x",
                body={},
                headers={},
                cancel=threading.Event(),
                log=get_logger(),
                attempt=1,
            )
    finally:
        sender.close()
