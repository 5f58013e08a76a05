"""The HTTP endpoint (probes, metrics, the route hook, its headers and token), served for real on
127.0.0.1 and read with urllib (or a raw socket, for what urllib will not send)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs

from triggerd import __version__
from triggerd.observability.httpserver import (
    SECURITY_HEADERS,
    HealthServer,
    Response,
    is_loopback,
    parse_address,
)
from triggerd.observability.metrics import Metrics
from triggerd.settings import Settings

pytestmark = pytest.mark.timeout(30)

CLIENT_TIMEOUT_S = 5.0


@dataclass
class Probes:
    """What the daemon would answer; tests flip these."""

    healthy: tuple[bool, str] = (True, "scheduler loop alive")
    ready: tuple[bool, str] = (True, "config loaded, database reachable")
    raise_on_health: bool = False

    def health(self) -> tuple[bool, str]:
        if self.raise_on_health:
            raise RuntimeError("boom")
        return self.healthy

    def readiness(self) -> tuple[bool, str]:
        return self.ready


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


@pytest.fixture
def probes() -> Probes:
    return Probes()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(clock=lambda: 1_700_000_000.0)


@pytest.fixture
def server(probes: Probes, metrics: Metrics) -> Iterator[HealthServer]:
    http = HealthServer(
        "127.0.0.1:0", health=probes.health, ready=probes.readiness, metrics=metrics
    )
    http.start()
    yield http
    http.stop()


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=CLIENT_TIMEOUT_S) as resp:
            return Answer(resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()})
    except HTTPError as err:
        with err:
            return Answer(err.code, err.read(), {k.lower(): v for k, v in err.headers.items()})


def metric_text(server: HealthServer) -> str:
    answer = request(server.url + "/metrics")
    assert answer.status == 200
    return answer.body.decode()


def served(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in exposition text, parsed (label order is not part of it)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


# -- health and readiness --------------------------------------------------------------------


def test_healthz_answers_200_with_the_reason(server: HealthServer) -> None:
    answer = request(server.url + "/healthz")

    assert (answer.status, answer.body) == (200, b"ok: scheduler loop alive\n")
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"


def test_healthz_answers_503_when_unhealthy(server: HealthServer, probes: Probes) -> None:
    probes.healthy = (False, "scheduler loop silent for 42s")

    answer = request(server.url + "/healthz")

    assert (answer.status, answer.body) == (503, b"unhealthy: scheduler loop silent for 42s\n")


def test_a_probe_that_raises_is_unhealthy_not_a_dead_endpoint(
    server: HealthServer, probes: Probes
) -> None:
    probes.raise_on_health = True

    answer = request(server.url + "/healthz")

    assert answer.status == 503
    assert answer.body == b"unhealthy: probe raised RuntimeError('boom')\n"


def test_readyz_answers_200_then_503(server: HealthServer, probes: Probes) -> None:
    assert request(server.url + "/readyz").body == b"ok: config loaded, database reachable\n"

    probes.ready = (False, "database unreachable")
    answer = request(server.url + "/readyz")

    assert (answer.status, answer.body) == (503, b"not ready: database unreachable\n")


def test_query_strings_are_ignored(server: HealthServer) -> None:
    assert request(server.url + "/healthz?verbose=1").status == 200


def test_head_answers_headers_only(server: HealthServer, probes: Probes) -> None:
    probes.healthy = (False, "stalled")

    answer = request(server.url + "/healthz", method="HEAD")

    assert answer.status == 503
    assert answer.body == b""
    assert answer.headers["content-length"] == str(len(b"unhealthy: stalled\n"))


@pytest.mark.parametrize("path", ["/", "/health", "/metrics/x", "/healthz/"])
def test_unknown_paths_are_404(server: HealthServer, path: str) -> None:
    answer = request(server.url + path)

    assert (answer.status, answer.body) == (404, b"not found\n")


def test_requests_are_logged_at_debug_level_only(server: HealthServer) -> None:
    with capture_logs() as logs:
        request(server.url + "/healthz")
        request(server.url + "/metrics")
        request(server.url + "/nope")

    assert logs, "each request leaves a debug line"
    assert {e["log_level"] for e in logs} == {"debug"}
    assert {e["event"] for e in logs} == {"http.request"}


# -- /metrics --------------------------------------------------------------------------------


def test_metrics_serves_prometheus_text_with_build_info(server: HealthServer) -> None:
    answer = request(server.url + "/metrics")

    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert served(answer.body.decode(), "triggerd_build_info", version=__version__) == 1


def test_every_metric_name_starts_with_triggerd(server: HealthServer, metrics: Metrics) -> None:
    metrics.fire_recorded("nightly", "time", "planned")
    metrics.run_finished("nightly", "succeeded", attempts=1, duration_s=0.2)

    names = {family.name for family in text_string_to_metric_families(metric_text(server))}

    assert names, "something is exposed"
    assert [n for n in names if not n.startswith("triggerd_")] == []


def test_a_recorded_fire_shows_as_a_counter(server: HealthServer, metrics: Metrics) -> None:
    metrics.fire_recorded("nightly", "time", "planned")
    metrics.fire_recorded("nightly", "time", "planned")
    metrics.fire_recorded("inbox", "datastore", "skipped")

    text = metric_text(server)

    assert "# TYPE triggerd_fires_total counter" in text
    fires = "triggerd_fires_total"
    assert served(text, fires, schedule="nightly", trigger="time", outcome="planned") == 2
    assert served(text, fires, schedule="inbox", trigger="datastore", outcome="skipped") == 1


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.mark.parametrize(
    ("status", "last_success"),
    [("succeeded", 1_700_000_000.0), ("submitted", 1_700_000_000.0), ("failed", None)],
)
def test_a_finished_run_counts_its_status_latency_and_attempts(
    metrics: Metrics, status: str, last_success: float | None
) -> None:
    metrics.run_finished("nightly", status, attempts=3, duration_s=1.5)

    assert sample(metrics, "triggerd_runs_total", schedule="nightly", status=status) == 1
    assert sample(metrics, "triggerd_submit_duration_seconds_count", schedule="nightly") == 1
    assert sample(metrics, "triggerd_submit_duration_seconds_sum", schedule="nightly") == 1.5
    assert sample(metrics, "triggerd_run_attempts_bucket", le="2.0") == 0
    assert sample(metrics, "triggerd_run_attempts_bucket", le="3.0") == 1
    assert (
        sample(metrics, "triggerd_last_success_timestamp_seconds", schedule="nightly")
        == last_success
    )


def test_retries_polls_queue_reloads_and_schedule_count(metrics: Metrics) -> None:
    metrics.run_retry("nightly")
    metrics.poll_completed("inbox", duration_s=0.03, entries=17)
    metrics.poll_failed("inbox")
    metrics.set_queue_depth(pending=5, running=2)
    metrics.config_reload(ok=True)
    metrics.config_reload(ok=False)
    metrics.config_reload(ok=False)
    metrics.set_schedules(12)

    assert sample(metrics, "triggerd_run_retries_total", schedule="nightly") == 1
    assert sample(metrics, "triggerd_poll_duration_seconds_count", schedule="inbox") == 1
    assert sample(metrics, "triggerd_datastore_entries", schedule="inbox") == 17
    assert sample(metrics, "triggerd_poll_failures_total", schedule="inbox") == 1
    assert sample(metrics, "triggerd_runs_queued", state="pending") == 5
    assert sample(metrics, "triggerd_runs_queued", state="running") == 2
    assert sample(metrics, "triggerd_config_reloads_total", result="success") == 1
    assert sample(metrics, "triggerd_config_reloads_total", result="failure") == 2
    assert sample(metrics, "triggerd_schedules") == 12


def test_zero_valued_series_exist_before_anything_happens(metrics: Metrics) -> None:
    assert sample(metrics, "triggerd_config_reloads_total", result="failure") == 0
    assert sample(metrics, "triggerd_runs_queued", state="pending") == 0


def test_forget_schedule_removes_only_its_series(server: HealthServer, metrics: Metrics) -> None:
    for name in ("old", "kept"):
        metrics.fire_recorded(name, "datastore", "planned")
        metrics.run_finished(name, "succeeded", attempts=1, duration_s=0.1)
        metrics.run_retry(name)
        metrics.poll_completed(name, duration_s=0.01, entries=3)
        metrics.poll_failed(name)

    metrics.forget_schedule("old")
    metrics.forget_schedule("never-existed")

    text = metric_text(server)
    assert 'schedule="old"' not in text
    assert text.count('schedule="kept"') > 7
    metrics.fire_recorded("old", "datastore", "planned")  # a schedule that comes back starts at 0
    assert sample(metrics, "triggerd_fires_total", schedule="old", trigger="datastore",
                  outcome="planned") == 1  # fmt: skip


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.fire_recorded("a", "time", "planned")

    assert (
        sample(second, "triggerd_fires_total", schedule="a", trigger="time", outcome="planned")
        is None
    )


def test_metrics_speaks_openmetrics_when_the_scraper_asks(server: HealthServer) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"

    answer = request(server.url + "/metrics", headers={"Accept": accept})

    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.body.endswith(b"# EOF\n")


# -- lifecycle and addresses -----------------------------------------------------------------


def test_stop_frees_the_port(probes: Probes, metrics: Metrics) -> None:
    http = HealthServer(
        "127.0.0.1:0", health=probes.health, ready=probes.readiness, metrics=metrics
    )
    http.start()
    url = http.url
    port = int(url.rsplit(":", 1)[1])
    assert request(url + "/healthz").status == 200

    http.stop()
    http.stop()  # twice is fine

    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    again = HealthServer(
        f"127.0.0.1:{port}", health=probes.health, ready=probes.readiness, metrics=metrics
    )
    again.start()
    try:
        assert again.url == url
        assert request(url + "/healthz").status == 200
    finally:
        again.stop()


def test_serves_on_ipv6_loopback(probes: Probes, metrics: Metrics) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python build")
    http = HealthServer("[::1]:0", health=probes.health, ready=probes.readiness, metrics=metrics)
    try:
        http.start()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert http.url.startswith("http://[::1]:")
        assert request(http.url + "/healthz").status == 200
    finally:
        http.stop()


def test_url_needs_a_started_server(probes: Probes, metrics: Metrics) -> None:
    http = HealthServer(
        "127.0.0.1:0", health=probes.health, ready=probes.readiness, metrics=metrics
    )

    with pytest.raises(RuntimeError, match="not started"):
        _ = http.url
    http.stop()  # stopping a server never started is fine


def test_a_taken_port_raises_on_start(
    server: HealthServer, probes: Probes, metrics: Metrics
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    clash = HealthServer(
        f"127.0.0.1:{port}", health=probes.health, ready=probes.readiness, metrics=metrics
    )

    with pytest.raises(OSError):
        clash.start()
    clash.stop()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        (" localhost:0 ", ("localhost", 0)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9464", ("::1", 9464)),
        (":9464", ("", 9464)),
        ("", None),
        ("off", None),
        ("OFF", None),
        ("none", None),
        ("  ", None),
    ],
)
def test_parse_address(value: str, expected: tuple[str, int] | None) -> None:
    assert parse_address(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9464", "is not host:port"),
        ("localhost:", "is not host:port"),
        ("localhost:http", "is not host:port"),
        ("::1:9464", "put an IPv6 host in brackets"),
        ("127.0.0.1:70000", "above 65535"),
        ("127.0.0.1:\u0669\u0664\u0666\u0664", "is not host:port"),  # 9464 in other digits
    ],
)
def test_parse_address_rejects_with_the_fix(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_address(value)


def test_a_disabled_address_cannot_build_a_server(probes: Probes, metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="disables the endpoint"):
        HealthServer("off", health=probes.health, ready=probes.readiness, metrics=metrics)


def test_the_server_header_names_the_version_and_nothing_of_python(server: HealthServer) -> None:
    for path in ("/healthz", "/metrics", "/nope"):
        assert request(server.url + path).headers["server"] == f"triggerd/{__version__}"


# -- security headers and methods ------------------------------------------------------------

TOKEN = "t0ken-Right_42"
API_BODY = b'{"ok": true}'


@dataclass
class Api:
    """A route: answers under /api/, None elsewhere, raises on /api/boom; records each call."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __call__(self, path: str, query: Mapping[str, str]) -> Response | None:
        self.calls.append((path, dict(query)))
        if path == "/api/boom":
            raise RuntimeError("the secret detail password=hunter2")
        if path.startswith("/api/"):
            return Response(200, API_BODY, "application/json")
        return None


@pytest.fixture
def api() -> Api:
    return Api()


@contextmanager
def serving(
    probes: Probes, metrics: Metrics, address: str = "127.0.0.1:0", **options: Any
) -> Iterator[HealthServer]:
    http = HealthServer(
        address, health=probes.health, ready=probes.readiness, metrics=metrics, **options
    )
    http.start()
    try:
        yield http
    finally:
        http.stop()


@pytest.fixture
def routed(probes: Probes, metrics: Metrics, api: Api) -> Iterator[HealthServer]:
    with serving(probes, metrics, routes=api) as http:
        yield http


@pytest.fixture
def guarded(probes: Probes, metrics: Metrics, api: Api) -> Iterator[HealthServer]:
    with serving(probes, metrics, routes=api, token=TOKEN) as http:
        yield http


def local_url(server: HealthServer) -> str:
    """The server's URL on 127.0.0.1 (also for one bound to every interface)."""
    return f"http://127.0.0.1:{server.url.rsplit(':', 1)[1]}"


def raw(server: HealthServer, data: bytes) -> Answer:
    """Send bytes as they are and read the answer until the server closes the connection.
    Callers send nothing the server leaves unread, so its close is a FIN, never a reset."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return Answer(int(status_line.split()[1]), body, headers)


def assert_secure(answer: Answer) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name.lower()) == value, (answer.status, name)


def test_the_security_headers_are_the_ones_documented() -> None:
    assert SECURITY_HEADERS == {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
        "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/healthz", "GET", 200),
        ("/healthz", "HEAD", 200),
        ("/readyz", "GET", 200),
        ("/metrics", "GET", 200),
        ("/api/schedules", "GET", 200),
        ("/api/schedules", "HEAD", 200),
        ("/nope", "GET", 404),
        ("/api/boom", "GET", 500),
        ("/healthz", "POST", 405),
        ("/api/schedules", "DELETE", 405),
    ],
)
def test_every_answer_carries_the_security_headers(
    routed: HealthServer, path: str, method: str, status: int
) -> None:
    answer = request(routed.url + path, method=method)

    assert answer.status == status
    assert_secure(answer)


def test_unhealthy_and_unauthorized_answers_carry_them_too(
    routed: HealthServer, guarded: HealthServer, probes: Probes
) -> None:
    probes.healthy = (False, "stalled")

    assert_secure(request(routed.url + "/healthz"))  # 503
    assert_secure(request(guarded.url + "/api/schedules"))  # 401


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /" + b"a" * (65537 - len(b"GET /")), 414),  # a request line over 64 KiB
        (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * (65537 - 3), 431),  # a header line too
        (b"GET /healthz HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101, 431),  # over 100 headers
        (b"GET /healthz HTTP/9.9\r\n\r\n", 505),
        (b"GET\r\n\r\n", 400),
    ],
    ids=["long-request-line", "long-header", "many-headers", "bad-version", "bad-line"],
)
def test_the_stdlib_refuses_oversized_and_malformed_requests_with_the_headers(
    routed: HealthServer, api: Api, data: bytes, status: int
) -> None:
    answer = raw(routed, data)

    assert answer.status == status
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.body.startswith(f"{status} ".encode())
    assert_secure(answer)
    assert api.calls == []


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "BREW"]
)
def test_methods_other_than_get_and_head_are_405(
    routed: HealthServer, api: Api, method: str
) -> None:
    for path in ("/healthz", "/metrics", "/api/schedules", "/nope"):
        answer = raw(routed, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

        assert answer.status == 405, path
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.body == b"method not allowed: GET and HEAD only\n"
    assert api.calls == []


def test_a_post_with_a_body_is_405_and_reaches_nothing(routed: HealthServer, api: Api) -> None:
    data = b"POST /api/schedules HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"

    answer = raw(routed, data)

    assert (answer.status, answer.headers["allow"]) == (405, "GET, HEAD")
    assert api.calls == []


# -- the route hook --------------------------------------------------------------------------


def test_a_route_answers_other_paths_with_what_it_returns(routed: HealthServer, api: Api) -> None:
    answer = request(routed.url + "/api/schedules")

    assert (answer.status, answer.body) == (200, API_BODY)
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-length"] == str(len(API_BODY))
    assert api.calls == [("/api/schedules", {})]


def test_the_route_gets_the_raw_path_and_the_first_value_of_each_parameter(
    routed: HealthServer, api: Api
) -> None:
    request(routed.url + "/api/schedules/a%20b%2Fc?status=failed&status=ok&q=x%26y&empty=")

    assert api.calls == [
        ("/api/schedules/a%20b%2Fc", {"status": "failed", "q": "x&y", "empty": ""})
    ]


def test_head_of_a_route_sends_its_length_and_no_body(routed: HealthServer) -> None:
    answer = request(routed.url + "/api/schedules", method="HEAD")

    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["content-length"] == str(len(API_BODY))


def test_a_route_answering_none_is_404(routed: HealthServer, api: Api) -> None:
    answer = request(routed.url + "/elsewhere?x=1")

    assert (answer.status, answer.body) == (404, b"not found\n")
    assert api.calls == [("/elsewhere", {"x": "1"})]


def test_the_probes_and_metrics_never_reach_the_route(routed: HealthServer, api: Api) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/healthz?x=1"):
        assert request(routed.url + path).status == 200
    assert api.calls == []


def test_a_route_that_raises_is_500_without_its_text_and_logged(
    routed: HealthServer,
) -> None:
    with capture_logs() as logs:
        answer = request(routed.url + "/api/boom?password=hunter2")

    assert (answer.status, answer.body) == (500, b"internal error\n")
    assert b"hunter2" not in answer.body and b"Traceback" not in answer.body
    [failed] = [e for e in logs if e["event"] == "http.route_failed"]
    assert failed["log_level"] == "error"
    assert failed["path"] == "/api/boom"
    assert "RuntimeError" in failed["error"] and "hunter2" not in failed["error"]
    assert request(routed.url + "/api/schedules").status == 200  # the server serves on


# -- the token -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer \u00e9t\u00e9",  # not ASCII (http.client sends it as Latin-1)
    ],
)
def test_without_the_right_token_a_route_is_401_and_never_called(
    guarded: HealthServer, api: Api, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    answer = request(guarded.url + "/api/schedules", headers=headers)

    assert answer.status == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert TOKEN.encode() not in answer.body
    assert api.calls == []


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} "]
)
def test_the_right_token_reaches_the_route(
    guarded: HealthServer, api: Api, authorization: str
) -> None:
    answer = request(guarded.url + "/api/schedules", headers={"Authorization": authorization})

    assert (answer.status, answer.body) == (200, API_BODY)
    assert len(api.calls) == 1


def test_with_a_token_an_unknown_path_is_401_not_404(guarded: HealthServer) -> None:
    """Which paths exist is not told to a client without the token."""
    assert request(guarded.url + "/elsewhere").status == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert request(guarded.url + "/elsewhere", headers=right).status == 404


def test_the_probes_and_metrics_need_no_token(guarded: HealthServer, probes: Probes) -> None:
    assert request(guarded.url + "/healthz").status == 200
    assert request(guarded.url + "/readyz").status == 200
    assert request(guarded.url + "/metrics").status == 200
    assert (
        request(guarded.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status == 200
    )
    probes.healthy = (False, "stalled")
    assert request(guarded.url + "/healthz").status == 503


def test_a_secret_str_token_works_as_a_plain_one(
    probes: Probes, metrics: Metrics, api: Api
) -> None:
    with serving(probes, metrics, routes=api, token=SecretStr(TOKEN)) as http:
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert request(http.url + "/api/x", headers=right).status == 200
        assert request(http.url + "/api/x").status == 401


@pytest.mark.parametrize("token", [None, "", SecretStr("")])
def test_an_empty_token_is_no_token(
    probes: Probes, metrics: Metrics, api: Api, token: str | SecretStr | None
) -> None:
    with serving(probes, metrics, routes=api, token=token) as http:
        assert request(http.url + "/api/x").status == 200


def test_the_token_is_in_no_log_line(guarded: HealthServer) -> None:
    with capture_logs() as logs:
        request(guarded.url + "/api/x", headers={"Authorization": f"Bearer {TOKEN}"})
        request(guarded.url + f"/api/x?token={TOKEN}")
        request(guarded.url + f"/api/boom?{TOKEN}")
        request(guarded.url + f"/{TOKEN}", method="POST")

    assert len(logs) >= 4
    assert TOKEN not in repr(logs)
    assert TOKEN not in repr(guarded)


# -- the unprotected warning -----------------------------------------------------------------


def unprotected(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "http.unprotected"]


def test_every_interface_without_a_token_warns_once_at_start(
    probes: Probes, metrics: Metrics, api: Api
) -> None:
    with capture_logs() as logs, serving(probes, metrics, "0.0.0.0:0", routes=api) as http:
        url = http.url
        for _ in range(3):
            assert request(local_url(http) + "/api/x").status == 200

    [warning] = unprotected(logs)
    assert warning["log_level"] == "warning"
    assert warning["address"] == url
    assert url.startswith("http://0.0.0.0:")
    assert warning["fix"] == "set TRIGGERD_HTTP_TOKEN"


@pytest.mark.parametrize(
    ("address", "options"),
    [
        ("127.0.0.1:0", {"routes": Api()}),
        ("localhost:0", {"routes": Api()}),
        ("0.0.0.0:0", {"routes": Api(), "token": TOKEN}),
        ("0.0.0.0:0", {}),  # no routes: only probes and metrics, which never need a token
    ],
)
def test_loopback_a_token_or_no_routes_do_not_warn(
    probes: Probes, metrics: Metrics, address: str, options: dict[str, Any]
) -> None:
    with capture_logs() as logs, serving(probes, metrics, address, **options):
        pass

    assert unprotected(logs) == []
    assert [e["event"] for e in logs] == ["http.listening"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LocalHost.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.5", False),
        ("10.0.0.1", False),
        ("fe80::1", False),
        ("myhost", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# -- the TRIGGERD_HTTP_TOKEN setting ---------------------------------------------------------


def test_the_token_setting_is_read_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGERD_HTTP_TOKEN", f"  {TOKEN}\n")

    settings = Settings()

    assert settings.http_token is not None
    assert settings.http_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert "http_token" not in settings.model_dump()
    assert TOKEN not in settings.model_dump_json()


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_token_setting_is_none(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TRIGGERD_HTTP_TOKEN", value)

    assert Settings().http_token is None


def test_no_token_setting_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIGGERD_HTTP_TOKEN", raising=False)

    assert Settings().http_token is None


@pytest.mark.parametrize("value", ["two words", "caf\u00e9-token", "tab\tinside"])
def test_a_token_a_header_cannot_carry_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TRIGGERD_HTTP_TOKEN", value)

    with pytest.raises(ValidationError) as caught:
        Settings()

    assert "printable ASCII without spaces" in str(caught.value)
    assert value not in str(caught.value)
