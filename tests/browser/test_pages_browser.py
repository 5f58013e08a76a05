"""The status pages in a real browser: headless Chromium (Playwright) against `triggerd run` as
a process, on a config directory with time and datastore schedules, real runs of local
commands and an SQLite store.

One daemon serves the module (its runs are made once, in the fixture); the token tests have
their own. Every wait is bounded: the fixture's on the daemon's log and API, the browser's by
the context's default timeout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from tests.browser.support import (
    VIEWPORT,
    Running,
    Watch,
    get,
    headers,
    in_ci,
    missing_browser,
    start,
    write,
)
from tests.support.daemon import DaemonProcess, runs_json

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        missing_browser() is not None and not in_ci(),
        reason=f"{missing_browser()} (in CI, with CI=true, this fails instead)",
    ),
]

HOSTILE = "<img src=x onerror=alert(1)>.csv"
FILLERS = 100  # time schedules that never fire (start_time far ahead): the overview has 2 pages
MTIME = 1_700_000_000  # the files' mtimes (seconds): set, not waited for

CONFIG = """
datastores:
  drop: {kind: local, path: {root}}
pipelines:
  hello: {kind: command, argv: [{python}, -c, "print('hello')"]}
  broken: {kind: command, argv: [{python}, -c, "import sys; print('boom'); sys.exit(3)"]}
  record: {kind: command, argv: [{python}, -c, "import sys; print(sys.argv[1])", "{input_file}"]}
schedules:
  - name: hourly-hello
    pipeline: hello
    recurrence: {frequency: Hour, interval: 1, time_zone: Europe/Berlin}
  - name: hourly-broken
    pipeline: broken
    recurrence: {frequency: Hour, interval: 1, time_zone: America/New_York}
  - name: paused-hourly
    pipeline: hello
    status: Disabled
    recurrence: {frequency: Hour, interval: 1}
  - name: inbox-files
    pipeline: record
    datastore: drop
    path_on_datastore: incoming
    polling_interval: 1s
    data_path_parameter_name: input_file
  - name: slow-files
    pipeline: record
    datastore: drop
    path_on_datastore: slow
    polling_interval: 1s
    settle: 1d
    data_path_parameter_name: input_file
  - name: paused-files
    pipeline: record
    status: Disabled
    datastore: drop
    path_on_datastore: paused
    polling_interval: 1s
    data_path_parameter_name: input_file
""" + "".join(
    f"""  - name: later-{n:03}
    pipeline: hello
    recurrence: {{frequency: Day, interval: 1, start_time: "2099-01-01T00:00:00"}}
"""
    for n in range(FILLERS)
)
DATASTORE_SCHEDULES = {"inbox-files", "slow-files", "paused-files"}
FINAL = {"succeeded", "failed", "skipped", "canceled"}


def _baselines(daemon: DaemonProcess) -> set[str]:
    return {e["schedule"] for e in daemon.named("poll.completed") if e.get("baseline")}


def _ready(site: Running) -> bool:
    """The runs the fixture waits for are all there and over, and the polls recorded the rest."""
    runs = site.api("/api/runs?limit=1000")
    seen = {(r["schedule"], r["status"], (r["data_path"] or {}).get("relative_path")) for r in runs}
    wanted = {
        ("hourly-hello", "succeeded", None),
        ("hourly-broken", "failed", None),
        ("paused-hourly", "skipped", None),
        ("inbox-files", "succeeded", f"incoming/{HOSTILE}"),
        ("paused-files", "skipped", "paused/ignored.csv"),
    }
    if not wanted <= seen or any(r["status"] not in FINAL for r in runs):
        return False
    settling = site.api("/api/schedules/slow-files")["settling"]
    not_fired = site.api("/api/schedules/inbox-files")["not_fired"]
    return bool(settling) and {f["reason"] for f in not_fired} == {"baseline", "excluded"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("pages")
    # There before the first poll: the baseline (never fires), and a name the patterns exclude.
    write(base / "data" / "incoming" / "baseline.csv", "old", mtime_s=MTIME)
    write(base / "data" / "incoming" / "upload.tmp", "partial", mtime_s=MTIME)
    running = start(base, CONFIG, folders=("incoming", "slow", "paused"))
    try:
        daemon = running.daemon
        daemon.wait_for(lambda: _baselines(daemon) >= DATASTORE_SCHEDULES, 30, "baselines")
        write(running.root / "incoming" / HOSTILE, "evil", mtime_s=MTIME + 1)
        write(running.root / "slow" / "waiting.csv", "1d to settle", mtime_s=MTIME + 1)
        write(running.root / "paused" / "ignored.csv", "disabled", mtime_s=MTIME + 1)
        daemon.wait_for(lambda: _ready(running), 60, "the runs and polls of the fixture")
        yield running
    finally:
        running.stop()


def _open(context: BrowserContext) -> tuple[Page, Watch]:
    watch = Watch()
    return watch.attach(context.new_page()), watch


def _goto(page: Page, url: str, status: int = 200) -> None:
    answer = page.goto(url)
    assert answer is not None and answer.status == status, (url, answer and answer.status)


def _rows(page: Page) -> list[str]:
    """The schedule names of the overview's table, in order."""
    return page.locator("table.schedules tbody tr td:first-child a").all_inner_texts()


def _marks(page: Page) -> dict[int, str]:
    """The timeline's marks: run id -> the status its class shows."""
    found: list[list[str]] = page.locator("div.timeline svg a").evaluate_all(
        "links => links.map(a => [a.getAttribute('href'),"
        " a.querySelector('rect.mark').getAttribute('class')])"
    )
    marks = {}
    for href, classes in found:
        match = re.fullmatch(r"/runs/(\d+)", href)
        assert match, href
        assert int(match[1]) not in marks, f"two marks for run {match[1]}"
        marks[int(match[1])] = classes.removeprefix("mark ")
    return marks


def _runs_of(site: Running, schedule: str) -> list[dict[str, Any]]:
    return site.api(f"/api/runs?limit=1000&schedule={schedule}")  # type: ignore[no-any-return]


def test_the_overview_lists_every_schedule_and_one_mark_per_run(
    site: Running, context: BrowserContext
) -> None:
    page, watch = _open(context)
    _goto(page, site.url + "/")
    configured = [item["name"] for item in site.api("/api/schedules")]
    assert len(configured) == 6 + FILLERS
    names, marks = _rows(page), _marks(page)
    assert len(names) == 100
    assert page.locator("nav.pages").inner_text().split() == ["page", "1", "of", "2", "next"]
    page.get_by_role("link", name="next").click()
    page.wait_for_url(re.compile(r"page=2"))
    names += _rows(page)
    marks |= _marks(page)
    assert names == configured  # a row per schedule, in the config's order, on two pages
    # One mark per run recorded, coloured by its status (the CLI's answer, not the API's).
    runs = {r["id"]: r["status"] for r in runs_json(site.state, site.config)}
    assert marks == runs
    assert {"succeeded", "failed", "skipped"} <= set(marks.values())
    # The skipped ones are also listed in words, with why.
    page.get_by_role("link", name="previous").click()
    page.wait_for_url(re.compile(r"page=1"))
    skipped = page.locator("details.skipped li").all_inner_texts()
    assert len(skipped) == 2
    assert all(": schedule disabled" in line for line in skipped), skipped
    assert {line.split()[1] for line in skipped} == {"paused-hourly", "paused-files"}
    assert watch.problems() == [] and watch.dialogs == []


def test_a_schedule_link_opens_its_page_with_its_runs_and_reasons(
    site: Running, context: BrowserContext
) -> None:
    page, watch = _open(context)
    _goto(page, site.url + "/")
    page.locator("table.schedules").get_by_role("link", name="inbox-files", exact=True).click()
    page.wait_for_url(site.url + "/schedules/inbox-files")
    assert page.locator("h1").inner_text() == "inbox-files"
    links = page.locator("table.runs tbody a").evaluate_all("a => a.map(l => l.pathname)")
    assert links == [f"/runs/{r['id']}" for r in _runs_of(site, "inbox-files")]
    # Files that did not fire, each with why: the baseline, and a name an exclude pattern hit.
    not_fired = [row.split("\t") for row in page.locator("table.files tbody tr").all_inner_texts()]
    assert ["incoming/baseline.csv", "baseline", ""] in not_fired
    assert ["incoming/upload.tmp", "excluded", "*.tmp"] in not_fired
    # A file that has not settled yet is listed as waiting.
    _goto(page, site.url + "/schedules/slow-files")
    assert "Waiting to settle (1)" in page.locator("main").inner_text()
    assert page.locator("ul.files li").first.inner_text().startswith("slow/waiting.csv")
    assert page.locator("table.runs tbody").inner_text().strip() == "None yet."
    # A skipped run says why on the schedule page and on its own.
    _goto(page, site.url + "/schedules/paused-files")
    [row] = page.locator("table.runs tbody tr").all()
    assert row.locator("td").nth(1).inner_text() == "skipped"
    assert row.locator("td").nth(5).inner_text() == "schedule disabled"
    row.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    facts = page.locator("dl.facts").inner_text()
    assert re.search(r"Reason\s+schedule disabled", facts), facts
    # A failed one shows its error; a time schedule its next fires, in its zone (CET: +01:00).
    _goto(page, site.url + "/schedules/hourly-broken")
    assert page.locator("table.runs tbody td").nth(5).inner_text() == "exited with status 3"
    _goto(page, site.url + "/schedules/hourly-hello")
    fires = page.locator("ul.fires li").all_inner_texts()
    assert len(fires) == 5 and all(f.endswith("+01:00") for f in fires), fires
    assert watch.problems() == [] and watch.dialogs == []


def test_a_new_run_shows_after_a_reload(site: Running, context: BrowserContext) -> None:
    page, watch = _open(context)
    _goto(page, site.url + "/schedules/inbox-files")
    before = page.locator("table.runs tbody a").count()
    assert "fresh.csv" not in page.locator("table.runs").inner_text()
    write(site.root / "incoming" / "fresh.csv", "new", mtime_s=MTIME + 2)

    def fresh() -> dict[str, Any] | None:
        for run in _runs_of(site, "inbox-files"):
            path = (run["data_path"] or {}).get("relative_path")
            if path == "incoming/fresh.csv" and run["status"] in FINAL:
                return run
        return None

    run = site.daemon.wait_for(fresh, 30, "the new file's run")
    page.reload()
    assert page.locator("table.runs tbody a").count() == before + 1
    first = page.locator("table.runs tbody tr").first
    assert first.get_by_role("link").inner_text() == f"#{run['id']}"
    assert "incoming/fresh.csv" in first.inner_text()
    _goto(page, site.url + "/")
    assert _marks(page)[run["id"]] == "succeeded"
    assert watch.problems() == [] and watch.dialogs == []


def test_a_hostile_file_name_is_shown_as_text_and_runs_nothing(
    site: Running, context: BrowserContext
) -> None:
    [run] = [
        r
        for r in _runs_of(site, "inbox-files")
        if r["data_path"]["relative_path"] == f"incoming/{HOSTILE}"
    ]
    page, watch = _open(context)
    shown_in = {f"/runs/{run['id']}": "dl.facts", "/schedules/inbox-files": "table.runs"}
    for path, where in shown_in.items():
        _goto(page, site.url + path)
        page.wait_for_load_state("networkidle")  # an image's onerror would have run by now
        assert f"incoming/{HOSTILE}" in page.locator(where).inner_text(), path
        assert page.locator('img[src="x"]').count() == 0, path
        assert page.locator("img").count() == 0, path
    assert watch.dialogs == [], watch.dialogs
    assert watch.problems() == []


def test_the_pages_work_without_javascript(site: Running, browser: Browser) -> None:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page, watch = _open(context)
        _goto(page, site.url + "/")
        assert len(_rows(page)) == 100
        # The filter is a GET form: typed, submitted, only the matching rows.
        page.get_by_label("Name").fill("files")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"\?name=files"))
        assert _rows(page) == ["inbox-files", "slow-files", "paused-files"]
        assert page.locator("h1 small").inner_text() == "106 (3 match)"
        assert page.locator("nav.pages").count() == 0
        page.get_by_label("Status").select_option("Disabled")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"status=Disabled"))
        assert _rows(page) == ["paused-files"]
        # Pagination links, without a script.
        _goto(page, site.url + "/")
        page.get_by_role("link", name="next").click()
        page.wait_for_url(re.compile(r"page=2"))
        assert _rows(page) == [f"later-{n:03}" for n in range(94, 100)]
        page.get_by_role("link", name="previous").click()
        page.wait_for_url(re.compile(r"page=1"))
        assert _rows(page)[0] == "hourly-hello"
        # The window links, then a schedule, then one of its runs.
        page.get_by_role("link", name="7d", exact=True).click()
        page.wait_for_url(re.compile(r"window=7d"))
        assert page.locator("h2", has_text="Runs of the last 7d").count() == 1
        page.locator("table.schedules").get_by_role("link", name="hourly-broken").click()
        page.wait_for_url(site.url + "/schedules/hourly-broken")
        page.locator("table.runs tbody").get_by_role("link").first.click()
        page.wait_for_url(re.compile(r"/runs/\d+$"))
        assert page.locator("h1 small").inner_text() == "failed"
        assert page.locator("dd.error").inner_text() == "exited with status 3"
        # Styled without a script (the stylesheet applies); the auto-refresh, a script's, is
        # not offered.
        background = page.locator("header").evaluate("h => getComputedStyle(h).backgroundColor")
        assert background not in {"", "rgba(0, 0, 0, 0)"}, background
        refresh = page.locator("label.refresh")
        assert refresh.count() == 0 or not refresh.is_visible()
        assert watch.problems() == []
    finally:
        context.close()


def test_the_refresh_box_reloads_the_page_every_30_seconds_once_ticked(
    site: Running, context: BrowserContext
) -> None:
    page, watch = _open(context)
    page.clock.install()  # the page's timers run on a clock the test moves
    _goto(page, site.url + "/?name=hourly")
    box = page.get_by_label("refresh every 30 s")
    assert box.is_visible() and not box.is_checked()  # offered by the script, off by default
    page.evaluate("window.triggerdMarker = 1")
    page.clock.run_for(60_000)
    assert page.evaluate("window.triggerdMarker") == 1  # not ticked: no reload
    box.check()
    with page.expect_event("load", timeout=10_000):
        page.clock.run_for(30_500)
    assert page.evaluate("window.triggerdMarker") is None  # a new document
    assert page.url.endswith("/?name=hourly")  # the same page, filters kept
    assert page.get_by_label("refresh every 30 s").is_checked()  # remembered for the tab
    assert watch.problems() == []


def test_no_console_errors_or_csp_violations_on_any_page(
    site: Running, context: BrowserContext
) -> None:
    page, watch = _open(context)
    paths = ["/", "/?window=7d", "/?page=2", "/?name=files&status=Active", "/daemons"]
    paths += [f"/schedules/{item['name']}" for item in site.api("/api/schedules")[:6]]
    paths += [f"/runs/{run['id']}" for run in site.api("/api/runs?limit=1000")]
    for path in paths:
        _goto(page, site.url + path)
        page.wait_for_load_state("networkidle")
        assert watch.problems() == [], path
    assert page.locator("link[rel=stylesheet]").evaluate("l => l.sheet.cssRules.length") > 0
    assert watch.dialogs == []


def test_the_watch_sees_csp_violations_and_dialogs(site: Running, context: BrowserContext) -> None:
    """The checks above can fail: a page under the daemon's own policy that breaks it (an
    inline style and script) is seen doing it, and a dialog is seen."""
    policy = headers(site.url + "/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy

    def breaks_it(route: Route) -> None:
        body = "<p style='color:red'>x</p><script>alert(1)</script>"
        headers = {"Content-Security-Policy": policy}
        route.fulfill(status=200, content_type="text/html", headers=headers, body=body)

    page, watch = _open(context)
    page.route("**/selftest", breaks_it)
    _goto(page, site.url + "/selftest")
    violations = [e for e in watch.problems() if "Content Security Policy" in e]
    assert len(violations) == 2, watch.errors  # the style and the script
    assert watch.dialogs == []  # the policy stopped the inline script
    page.set_content("<p>plain</p>")
    page.evaluate("alert('seen')")
    assert watch.dialogs == ["alert: seen"]


TOKEN = "s3cret-token-for-the-browser"
TOKEN_CONFIG = """
pipelines:
  hello: {kind: command, argv: [{python}, -c, "print('hello')"]}
schedules:
  - name: hourly-hello
    pipeline: hello
    recurrence: {frequency: Hour, interval: 1, time_zone: Europe/Berlin}
"""


@pytest.fixture(scope="class")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(tmp_path_factory.mktemp("guarded"), TOKEN_CONFIG, token=TOKEN)
    try:
        running.daemon.wait_event("run.succeeded", 60)
        yield running
    finally:
        running.stop()


def _sign_in_form(page: Page) -> None:
    assert "Sign in" in page.title()
    form = page.locator('form[method="post"][action="/login"]')
    assert form.locator('input[type="password"][name="token"]').count() == 1
    assert form.locator('input[type="hidden"][name="next"]').count() == 1
    assert form.get_by_role("button", name="Sign in").count() == 1


class TestTheToken:
    def test_a_browser_signs_in_with_the_form_and_its_cookie(
        self, guarded: Running, context: BrowserContext
    ) -> None:
        page, watch = _open(context)
        _goto(page, guarded.url + "/", 401)
        _sign_in_form(page)
        page.get_by_label("Token").fill("not-the-token")
        with page.expect_response(re.compile(r"/login$")) as posted:
            page.get_by_role("button", name="Sign in").click()
        assert posted.value.status == 401
        assert "Wrong token" in page.locator("main").inner_text()
        _sign_in_form(page)
        assert not context.cookies()
        page.get_by_label("Token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(guarded.url + "/")
        assert page.locator("h1").inner_text().startswith("Schedules")
        assert _rows(page) == ["hourly-hello"]
        [cookie] = context.cookies()
        assert cookie["name"] == "triggerd_session" and TOKEN not in cookie["value"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        # Later visits pass on the cookie; a script without it does not.
        _goto(page, guarded.url + "/schedules/hourly-hello")
        page.locator("table.runs tbody").get_by_role("link").first.click()
        page.wait_for_url(re.compile(r"/runs/\d+$"))
        assert page.locator("h1 small").inner_text() == "succeeded"
        _goto(page, guarded.url + "/api/schedules")
        assert get(guarded.url + "/api/schedules")[0] == 401
        assert get(guarded.url + "/", token=None)[0] == 401
        assert get(guarded.url + "/api/schedules", token=TOKEN)[0] == 200
        # A 401 for the documents themselves is expected; nothing else may fail.
        assert [e for e in watch.problems() if "status of 401" not in e] == []
        assert watch.dialogs == []

    def test_sign_in_leads_back_to_the_page_asked_for(
        self, guarded: Running, context: BrowserContext
    ) -> None:
        page, _ = _open(context)
        _goto(page, guarded.url + "/schedules/hourly-hello", 401)
        _sign_in_form(page)
        page.get_by_label("Token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(guarded.url + "/schedules/hourly-hello")
        assert page.locator("h1").inner_text() == "hourly-hello"
        # Signing out: the cookie is gone, and the pages ask again.
        page.goto(guarded.url + "/logout")
        assert urlsplit(page.url).path == "/login"
        assert context.cookies() == []
        _goto(page, guarded.url + "/", 401)
        _sign_in_form(page)

    def test_a_bearer_header_passes_and_no_form_is_shown(
        self, guarded: Running, browser: Browser
    ) -> None:
        context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {TOKEN}"})
        context.set_default_timeout(10_000)
        try:
            page, watch = _open(context)
            _goto(page, guarded.url + "/")
            assert _rows(page) == ["hourly-hello"]
            assert watch.problems() == []
        finally:
            context.close()
