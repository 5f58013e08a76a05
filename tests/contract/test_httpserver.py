"""The health and metrics endpoint, served for real on 127.0.0.1 and read with urllib."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.error import HTTPError

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from triggerd import __version__
from triggerd.observability.httpserver import HealthServer, parse_address
from triggerd.observability.metrics import Metrics

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


def test_other_methods_are_not_implemented(server: HealthServer) -> None:
    assert request(server.url + "/healthz", method="POST").status == 501


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
