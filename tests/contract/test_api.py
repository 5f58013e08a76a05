"""The daemon's read-only JSON API says what the CLI's ``--json`` says, for the same database and
config (the world of test_views: rows written by triggerd's own code), and over real HTTP it
is GET-only, JSON, escaped, and behind the token when one is set."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from tests.contract.test_views import NOW, World
from triggerd.observability.httpserver import HealthServer
from triggerd.observability.metrics import Metrics
from triggerd.settings import Settings
from triggerd.store import Store
from triggerd.views.api import Api
from triggerd.views.common import Sources


@pytest.fixture(name="world")
def frozen_world(tmp_path: Path, store: Store, store_url: str) -> Iterator[World]:
    """The views' world, at the frozen time both the CLI and the API count from."""
    filled = World(tmp_path, store, store_url)
    filled.fill()
    with freeze_time(NOW):
        yield filled


def api(world: World) -> Api:
    settings = Settings(config=world.config_path, heartbeat_interval=timedelta(seconds=5))
    return Api(Sources(world.store, lambda: world.config, settings))


def answer(world: World, path: str, **query: str) -> tuple[int, Any]:
    response = api(world).route(path, query)
    assert response is not None
    assert response.content_type == "application/json; charset=utf-8"
    return response.status, json.loads(response.body)


def test_each_api_answer_is_its_cli_json(world: World) -> None:
    assert answer(world, "/api/schedules") == (200, world.cli("schedules", "list"))
    for name in ("files", "landed", "nightly", "hourly", "weekdays"):
        described = world.cli("schedules", "describe", name)
        assert answer(world, f"/api/schedules/{name}") == (200, described)
    assert answer(world, "/api/runs") == (200, world.cli("runs", "list"))
    filtered = world.cli("runs", "list", "--schedule", "hourly", "--status", "failed")
    assert answer(world, "/api/runs", schedule="hourly", status="failed") == (200, filtered)
    for run in world.cli("runs", "list"):
        shown = world.cli("runs", "show", str(run["id"]))
        assert answer(world, f"/api/runs/{run['id']}") == (200, shown)
    status = world.cli("status", code=0)
    assert answer(world, "/api/daemons") == (200, status)


def test_the_schedules_list_narrows_by_name_and_status(world: World) -> None:
    _, items = answer(world, "/api/schedules", name="ly")
    assert sorted(i["name"] for i in items) == ["hourly", "nightly"]
    _, items = answer(world, "/api/schedules", status="Disabled")
    assert [i["name"] for i in items] == ["nightly"]


@pytest.mark.parametrize(
    ("path", "query", "status", "error"),
    [
        ("/api/schedules/nope", {}, 404, "nothing at /api/schedules/nope"),
        ("/api/runs/999999", {}, 404, "nothing at"),
        ("/api/runs/x1", {}, 400, "a run id is a number"),
        ("/api/runs", {"limit": "0"}, 400, "limit is a whole number"),
        ("/api/runs", {"limit": "1001"}, 400, "limit is a whole number"),
        ("/api/runs", {"status": "done"}, 400, "status is one of pending"),
        ("/api/runs", {"since": "yesterday"}, 400, "since is not an ISO 8601 time"),
        ("/api/schedules", {"status": "Paused"}, 400, "status is Active or Disabled"),
        ("/api/nothing", {}, 404, "nothing at /api/nothing"),
    ],
)
def test_what_the_api_cannot_answer_says_why_in_json(
    world: World, path: str, query: dict[str, str], status: int, error: str
) -> None:
    code, body = answer(world, path, **query)
    assert code == status and error in body["error"]


def test_paths_outside_the_api_are_not_its_to_answer(world: World) -> None:
    assert api(world).route("/", {}) is None
    assert api(world).route("/apix", {}) is None


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, store: Store, store_url: str) -> Iterator[tuple[World, str]]:
    """The API on a real server, in real time."""
    world = World(tmp_path, store, store_url)
    world.fill()
    server = HealthServer(
        "127.0.0.1:0",
        health=lambda: (True, "ok"),
        ready=lambda: (True, "ok"),
        metrics=Metrics(process=False),
        routes=api(world).route,
        token="s3cret-token",
    )
    server.start()
    try:
        yield world, server.url
    finally:
        server.stop()


def get(url: str, token: str | None = "s3cret-token") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_api_is_served_behind_the_token(served: tuple[World, str]) -> None:
    world, url = served
    code, headers, body = get(f"{url}/api/schedules")
    assert code == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert sorted(i["name"] for i in json.loads(body)) == sorted(world.config.schedules)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert get(f"{url}/api/schedules", token=None)[0] == 401
    assert get(f"{url}/api/schedules", token="wrong")[0] == 401
    assert get(f"{url}/healthz", token=None)[0] == 200  # probes need no token


def test_a_hostile_name_in_the_url_is_only_ever_a_name(served: tuple[World, str]) -> None:
    _, url = served
    hostile = "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
    code, headers, body = get(f"{url}/api/schedules/{hostile}")
    assert code == 404 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"] == "nothing at /api/schedules/<img src=x onerror=alert(1)>"
    assert b"<" not in body and b">" not in body  # JSON escapes: no markup in the bytes
    code, _, _ = get(f"{url}/api/schedules/..%2F..%2Fetc%2Fpasswd")
    assert code == 404


def test_an_encoded_name_is_matched_decoded(served: tuple[World, str]) -> None:
    _, url = served
    code, _, body = get(f"{url}/api/schedules/hour%6Cy")  # "hourly", encoded
    assert code == 200 and json.loads(body)["name"] == "hourly"
