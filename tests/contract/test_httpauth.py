"""The token in front of the pages: bearer header for scripts, a sign-in form and its cookie for
browsers. Against a real HTTP server on 127.0.0.1, with a client that follows no redirect."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import pytest
from structlog.testing import capture_logs

from triggerd.observability.httpauth import SESSION_COOKIE, SESSION_TTL_S, Gate, safe_next
from triggerd.observability.httpserver import HealthServer, Response
from triggerd.observability.metrics import Metrics

pytestmark = pytest.mark.timeout(30)

TOKEN = "s3cret-token-0123456789"
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: Mapping[str, str]


def route(path: str, query: Mapping[str, str]) -> Response | None:
    return Response(200, f"page {path}".encode(), "text/html; charset=utf-8")


def start(token: str | None) -> HealthServer:
    server = HealthServer(
        "127.0.0.1:0",
        health=lambda: (True, "alive"),
        ready=lambda: (True, "ready"),
        metrics=Metrics(),
        routes=route,
        token=token,
    )
    server.start()
    return server


@pytest.fixture
def server() -> Iterator[HealthServer]:
    http_server = start(TOKEN)
    yield http_server
    http_server.stop()


def call(
    server: HealthServer,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return Answer(
            resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
        )
    finally:
        conn.close()


def sign_in(server: HealthServer, token: str, next_path: str = "/", **headers: str) -> Answer:
    form = urlencode({"token": token, "next": next_path}).encode()
    sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return call(server, "/login", method="POST", body=form, headers=sent)


def events(logs: list[dict[str, object]]) -> list[object]:
    return [e["event"] for e in logs if e["event"] != "http.request"]


def session_of(answer: Answer) -> str:
    match = re.match(rf"{SESSION_COOKIE}=([^;]*);", answer.headers["set-cookie"])
    assert match, answer.headers
    return f"{SESSION_COOKIE}={match.group(1)}"


def test_a_browser_without_the_token_gets_the_sign_in_form_to_come_back_here(
    server: HealthServer,
) -> None:
    answer = call(server, "/schedules/nightly?window=7d", headers=BROWSER)

    assert answer.status == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/login">' in answer.body
    assert '<input type="password" name="token"' in answer.body
    assert 'name="next" value="/schedules/nightly?window=7d"' in answer.body
    assert "page /schedules" not in answer.body  # the route never ran


def test_a_script_without_the_token_gets_plain_text_and_so_does_the_api(
    server: HealthServer,
) -> None:
    assert call(server, "/").status == 401
    api = call(server, "/api/schedules", headers=BROWSER)
    assert (api.status, api.headers["www-authenticate"]) == (401, "Bearer")
    assert api.headers["content-type"].startswith("text/plain")
    assert "Authorization: Bearer" in api.body


def test_the_right_token_sets_a_cookie_that_lets_the_browser_through(
    server: HealthServer,
) -> None:
    with capture_logs() as logs:
        answer = sign_in(server, TOKEN, "/runs/7")

    assert (answer.status, answer.headers["location"]) == (303, "/runs/7")
    cookie = answer.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={SESSION_TTL_S}"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert TOKEN not in cookie  # it signs an expiry time; it does not carry the token
    assert events(logs) == ["http.signed_in"]
    session = session_of(answer)
    page = call(server, "/runs/7", headers={**BROWSER, "Cookie": f"a=b; {session}"})
    assert (page.status, page.body) == (200, "page /runs/7")
    assert call(server, "/api/runs", headers={"Cookie": session}).status == 200


def test_a_wrong_token_shows_the_form_again_and_logs_no_secret(server: HealthServer) -> None:
    with capture_logs() as logs:
        answer = sign_in(server, "guess", "/daemons")

    assert answer.status == 401
    assert "Wrong token." in answer.body and 'value="/daemons"' in answer.body
    assert "set-cookie" not in answer.headers
    assert events(logs) == ["http.sign_in_failed"]
    assert "guess" not in repr(logs) and TOKEN not in repr(logs)


def test_the_bearer_header_still_works_and_a_wrong_one_does_not(server: HealthServer) -> None:
    ok = call(server, "/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (ok.status, ok.body) == (200, "page /")
    assert call(server, "/", headers={"Authorization": f"Bearer {TOKEN}x"}).status == 401
    assert call(server, "/", headers={"Authorization": TOKEN}).status == 401


@pytest.mark.parametrize(
    "cookie",
    [
        f"{SESSION_COOKIE}=",
        f"{SESSION_COOKIE}=99999999999.abc",
        f"{SESSION_COOKIE}={TOKEN}",
        f'{SESSION_COOKIE}="\\x00"; ;;',
        "other=1",
    ],
)
def test_a_made_up_cookie_lets_nobody_through(server: HealthServer, cookie: str) -> None:
    assert call(server, "/", headers={**BROWSER, "Cookie": cookie}).status == 401


def test_a_session_ends_when_it_expires_or_the_token_changes() -> None:
    now = [1_800_000_000.0]
    gate = Gate(TOKEN, clock=lambda: now[0])
    cookie = gate.session_cookie(secure=False).split(";")[0]

    assert gate.allows(None, cookie)
    assert not Gate("another-token", clock=lambda: now[0]).allows(None, cookie)
    expires, _, signature = cookie.partition("=")[2].partition(".")
    forged = f"{SESSION_COOKIE}={int(expires) + 60}.{signature}"  # a later expiry, same signature
    assert not gate.allows(None, forged)
    now[0] += SESSION_TTL_S - 1
    assert gate.allows(None, cookie)
    now[0] += 1
    assert not gate.allows(None, cookie)


def test_behind_a_tls_proxy_the_cookie_is_secure(server: HealthServer) -> None:
    answer = sign_in(server, TOKEN, **{"X-Forwarded-Proto": "https"})
    assert "; Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "evil",
        "/a b",
        "/ok\r\nSet-Cookie: x=1",
        "",
    ],
)
def test_signing_in_never_sends_the_browser_to_another_site(
    server: HealthServer, target: str
) -> None:
    answer = sign_in(server, TOKEN, target)
    assert (answer.status, answer.headers["location"]) == (303, "/")
    assert safe_next(target) == "/"


def test_a_hostile_next_is_text_in_the_form() -> None:
    served = start(TOKEN)
    try:
        answer = call(served, "/login?next=/%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
    finally:
        served.stop()
    assert answer.status == 200
    assert "<script>" not in answer.body
    assert 'value="/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in answer.body


def test_a_form_sent_from_another_site_is_refused(server: HealthServer) -> None:
    host = urlsplit(server.url).netloc
    assert sign_in(server, TOKEN, Origin="http://evil.example").status == 403
    assert sign_in(server, TOKEN, Origin="null").status == 403
    assert sign_in(server, TOKEN, Origin=f"http://{host}").status == 303


def test_post_is_for_the_sign_in_form_only_and_a_small_one(server: HealthServer) -> None:
    assert call(server, "/", method="POST", body=b"x").status == 405
    assert call(server, "/api/runs", method="POST", body=b"x").status == 405
    big = urlencode({"token": "x" * 5000}).encode()
    assert call(server, "/login", method="POST", body=big).status == 413
    assert call(server, "/healthz").status == 200  # the server is fine after each


def test_without_a_token_there_is_no_form_and_post_is_refused() -> None:
    served = start(None)
    try:
        assert call(served, "/login", method="POST", body=b"token=x").status == 405
        assert call(served, "/login").body == "page /login"  # just a path: the routes answer
        assert call(served, "/", headers=BROWSER).status == 200
    finally:
        served.stop()


def test_signing_out_clears_the_cookie(server: HealthServer) -> None:
    answer = call(server, "/logout", headers=BROWSER)
    assert (answer.status, answer.headers["location"]) == (303, "/login")
    assert answer.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=; Max-Age=0;")
    form = call(server, "/login", headers=BROWSER)
    assert form.status == 200 and "Sign in" in form.body


def test_probes_metrics_and_the_stylesheet_need_no_token(server: HealthServer) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/static/triggerd.css"):
        assert call(server, path).status == 200, path
