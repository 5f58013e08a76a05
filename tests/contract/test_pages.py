"""The status pages, over real HTTP from a real server, on the views' world (rows written by
triggerd's own code): what each page lists, that a hostile file name is only ever text, that
the pages need no script, and that the site's paths are GET-only behind the token."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.contract.test_views import NOW, World
from tests.support import postgres
from triggerd.clock import utcnow
from triggerd.engine.poller import DatastorePoller
from triggerd.observability.httpserver import HealthServer
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, RunStatus, TriggerKind
from triggerd.settings import Settings
from triggerd.store import Store, instances, open_store, outbox
from triggerd.views.site import Site

HOSTILE = "<img src=x onerror=alert(1)>.csv"


class Page(HTMLParser):
    """What a browser would build from the page: its elements, links, scripts and text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())

    def links(self) -> list[str]:
        return [str(a["href"]) for t, a in self.tags if t == "a" and a.get("href")]

    def has_text(self, part: str) -> bool:
        return any(part in t for t in self.text)


@pytest.fixture
def site(tmp_path: Path, store: Store, store_url: str) -> Iterator[tuple[World, str]]:
    world = World(tmp_path, store, store_url)
    world.fill()
    (world.folder / HOSTILE).write_text("x", encoding="utf-8")  # a name is hostile input
    poller = DatastorePoller(
        world.config.schedules["files"], world.config, store, clock=_later, is_enabled=lambda: True
    )
    for _ in range(2):
        poller.poll()
    missed = NOW - timedelta(hours=4)  # a slot missed while the daemon was down
    skipped = NewRun(
        "hourly", TriggerKind.TIME, f"hourly:{missed}", missed, {"f": "n"},
        status=RunStatus.SKIPPED, reason=f"missed: {HOSTILE} was being written",
    )  # fmt: skip
    store.record_fires("hourly", [skipped], cursor_at=NOW, now=NOW)
    server = serve(world, clock=_hour_after, token="page-token")
    try:
        yield world, server.url
    finally:
        server.stop()


def serve(
    world: World, *, clock: Callable[[], datetime] = utcnow, token: str | None = None
) -> HealthServer:
    """The world's pages on a real HTTP server (started)."""
    settings = Settings(config=world.config_path, heartbeat_interval=timedelta(seconds=5))
    server = HealthServer(
        "127.0.0.1:0",
        health=lambda: (True, "ok"),
        ready=lambda: (True, "ok"),
        metrics=Metrics(process=False),
        routes=Site(world.store, lambda: world.config, settings=settings, clock=clock).route,
        token=token,
    )
    server.start()
    return server


def _later() -> datetime:
    return NOW + timedelta(minutes=30)


def _hour_after() -> datetime:
    return NOW + timedelta(hours=1)


def get(url: str, token: str | None = "page-token") -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_the_overview_lists_every_schedule_with_its_trigger_in_words(
    site: tuple[World, str],
) -> None:
    world, url = site
    code, headers, html = get(f"{url}/")
    assert code == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    page = Page(html)
    for name in world.config.schedules:
        assert f"/schedules/{name}" in page.links()
    assert page.has_text("new files in inbox/incoming")
    assert page.has_text("(override)")  # nightly is disabled by alice
    # One script, from a file (the policy refuses inline ones), only to refresh the page.
    assert [a for t, a in page.tags if t == "script"] == [
        {"src": "/static/refresh.js", "defer": None}
    ]
    assert ("link", {"rel": "stylesheet", "href": "/static/triggerd.css"}) in page.tags
    code, headers, css = get(f"{url}/static/triggerd.css")
    assert code == 200 and headers["Content-Type"].startswith("text/css") and "table" in css
    code, headers, script = get(f"{url}/static/refresh.js")
    assert code == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "location.reload" in script and "fetch" not in script
    assert get(f"{url}/static/../pyproject.toml")[0] == 404


def test_the_overview_filters_by_name_and_status(site: tuple[World, str]) -> None:
    _, url = site
    links = Page(get(f"{url}/?name=ly")[2]).links()
    assert "/schedules/hourly" in links and "/schedules/nightly" in links
    assert "/schedules/files" not in links
    links = Page(get(f"{url}/?status=Disabled")[2]).links()
    assert [link for link in links if link.startswith("/schedules/")] == ["/schedules/nightly"]


def test_a_schedule_page_shows_its_runs_and_why_files_did_not_fire(
    site: tuple[World, str],
) -> None:
    world, url = site
    code, _, html = get(f"{url}/schedules/hourly")
    assert code == 200
    runs = world.cli("runs", "list", "--schedule", "hourly")
    links = Page(html).links()
    assert all(f"/runs/{r['id']}" in links for r in runs)
    page = Page(get(f"{url}/schedules/files")[2])
    assert page.has_text("baseline.csv") and page.has_text("upload.tmp")
    assert page.has_text("excluded")


def test_a_hostile_file_name_is_text_on_every_page(site: tuple[World, str]) -> None:
    world, url = site
    for path in ("/schedules/files", "/"):
        html = get(f"{url}{path}")[2]
        assert "<img" not in html
        assert not [t for t, _ in Page(html).tags if t == "img"]
    html = get(f"{url}/schedules/files")[2]
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in html
    (run,) = [r for r in world.cli("runs", "list") if HOSTILE in str(r["data_path"])]
    html = get(f"{url}/runs/{run['id']}")[2]
    assert "<img" not in html and Page(html).has_text(HOSTILE)


def test_a_run_page_shows_its_attempts_parameters_and_output(site: tuple[World, str]) -> None:
    world, url = site
    failed = [r for r in world.cli("runs", "list", "--schedule", "hourly") if r["attempts"] > 1]
    code, _, html = get(f"{url}/runs/{failed[0]['id']}")
    assert code == 200
    page = Page(html)
    assert page.has_text(failed[0]["fire_key"]) and page.has_text('"f": "n"')
    assert get(f"{url}/runs/999999")[0] == 404
    assert get(f"{url}/runs/abc")[0] == 404
    assert get(f"{url}/schedules/nope")[0] == 404


def test_the_daemons_page_lists_the_instances(site: tuple[World, str]) -> None:
    world, url = site
    status = world.cli("status", code=1)  # the world's daemon stopped beating long ago
    html = get(f"{url}/daemons")[2]
    assert all(Page(html).has_text(d["id"]) for d in status["daemons"])


def test_every_page_is_behind_the_token_and_has_the_strict_policy(
    site: tuple[World, str],
) -> None:
    _, url = site
    pages = ("/", "/schedules/hourly", "/daemons")
    for path in pages:
        assert get(f"{url}{path}", token=None)[0] == 401
    # The stylesheet is the same for everyone (the sign-in page needs it): no token.
    answers = [get(f"{url}{path}") for path in pages] + [
        get(f"{url}/static/triggerd.css", token=None)
    ]
    for code, headers, _ in answers:
        assert code == 200
        assert re.search(r"script-src 'self'", headers["Content-Security-Policy"])
        assert "unsafe-inline" not in headers["Content-Security-Policy"]


def test_the_timeline_has_one_mark_per_run_and_says_why_a_slot_was_skipped(
    site: tuple[World, str],
) -> None:
    world, url = site
    html = get(f"{url}/")[2]
    runs = world.cli("runs", "list", "--limit", "1000")
    marks = re.findall(r'<a href="/runs/(\d+)"><rect class="mark (\w+)"', html)
    assert sorted((int(i), s) for i, s in marks) == sorted((r["id"], r["status"]) for r in runs)
    (skipped,) = [r for r in runs if r["status"] == "skipped"]
    page = Page(html)
    assert page.has_text(f"#{skipped['id']}") and page.has_text("was being written")
    assert "<img" not in html  # the reason quotes a hostile name: text in the SVG too
    week = get(f"{url}/?window=7d")[2]
    assert len(re.findall(r'<rect class="mark', week)) == len(runs)
    assert "<strong>7d</strong>" in week


def test_the_overview_says_how_long_the_last_run_took_and_how_the_polls_are(
    site: tuple[World, str],
) -> None:
    world, url = site
    html = get(f"{url}/")[2]
    row = re.search(r'<a href="/schedules/files">.*?</tr>', html, re.S)
    assert row is not None
    # The page is an hour after NOW; the last listing was at NOW + 30 min, and the folder is
    # listed every minute: late (more than two intervals and a minute).
    polls = re.search(r'<span class="polls (\w+)">([^<]*)</span>', row.group(0))
    assert polls is not None
    entries = world.cli("schedules", "describe", "files")["entries"]
    assert polls.groups() == ("late", f"listed 30m ago, {entries} files (every 1m)")
    hourly = re.search(r'<a href="/schedules/hourly">.*?</tr>', html, re.S)
    assert hourly is not None and 'class="polls' not in hourly.group(0)  # a time schedule
    # Every waiting run starts at NOW: hourly's fail 90 s later, the file's keeps running.
    me = world.store.write(instances.register, NOW, 4343)
    later, last = NOW + timedelta(seconds=90), {}
    for _ in range(10):
        run = world.store.write(outbox.claim_next, me, NOW)
        if run is None:
            break
        last[run.schedule] = run.id
        if run.schedule == "hourly":
            world.store.write(outbox.finish, run.id, status="failed", now=later, exit_code=1)
    assert set(last) == {"hourly", "files"}
    html = get(f"{url}/")[2]
    took = re.compile(
        r'<a class="run (\w+)" href="/runs/(\d+)">.*?</a>([^<]*)(<span class="took">)?'
    )
    cells = {
        name: took.search(html, html.index(f'<a href="/schedules/{name}">')).groups()  # type: ignore[union-attr]
        for name in ("hourly", "files")
    }
    assert cells["hourly"][:2] == ("failed", str(last["hourly"]))
    assert f" {later:%Y-%m-%d %H:%M:%S}Z " in cells["hourly"][2] and cells["hourly"][3]
    assert re.search(rf'#{last["hourly"]}</a> [^<]+ <span class="took">\(1m30s\)</span>', html)
    assert cells["files"][:2] == ("running", str(last["files"])) and cells["files"][3] is None


def test_a_database_that_cannot_be_read_is_a_503_saying_why(tmp_path: Path) -> None:
    if (why := postgres.available()) is not None:
        pytest.skip(why)
    server = postgres.start()  # its own: the test stops it
    http = None
    try:
        store = open_store(server.create_database("pages"))
        http = serve(World(tmp_path, store, ""))
        assert get(f"{http.url}/", token=None)[0] == 200
        server.stop()  # the database goes away under the daemon
        for path in ("/", "/schedules/hourly", "/runs/1", "/daemons"):
            code, headers, html = get(f"{http.url}{path}", token=None)
            assert (code, headers["Content-Type"]) == (503, "text/html; charset=utf-8"), path
            assert Page(html).has_text("The database cannot be read now: the database postgresql")
            assert "/pages failed: " in html, html
        code, _, body = get(f"{http.url}/api/runs", token=None)
        assert code == 503 and "/pages failed: " in json.loads(body)["error"]
        assert get(f"{http.url}/healthz", token=None)[0] == 200  # the probes answer as before
    finally:
        if http is not None:
            http.stop()
        server.stop()
