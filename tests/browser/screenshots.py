"""Regenerate docs/screenshots/*.png (``make screenshots``): a daemon on a throwaway config with
a few realistic schedules and runs, each status page in Chromium at 1280x800, full page.

    .venv/bin/python -m tests.browser.screenshots [OUTPUT_DIR]

The schedules: a nightly report in a zone with daylight saving time, an hourly export that
fails, a datastore schedule on a local folder (a file there before the first poll, two new
ones, one a pattern excludes), and a disabled one whose new file is recorded as skipped.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.support import VIEWPORT, Running, launch, missing_browser, start, write
from tests.support.daemon import REPO

OUTPUT = REPO / "docs" / "screenshots"
MTIME = 1_764_547_200  # 2025-12-01: the files' mtimes, set rather than waited for

CONFIG = """
datastores:
  landing: {kind: local, path: {root}}
pipelines:
  report:
    kind: command
    argv: [{python}, -c, "import sys; print('report for', sys.argv[1], 'written: 12 pages')",
           "{region}"]
  export:
    kind: command
    argv: [{python}, -c, "import sys; print('exporting orders...'); sys.exit('export failed: \
warehouse API answered 503 Service Unavailable')"]
  load-invoice:
    kind: command
    argv: [{python}, -c, "import sys, pathlib; p = pathlib.Path(sys.argv[1]); \
print('loaded', len(p.read_text().splitlines()), 'rows from', p.name)", "{input_file}"]
schedules:
  - name: nightly-report
    pipeline: report
    description: The sales report, every night at 02:30 Amsterdam time (CET/CEST)
    recurrence:
      frequency: Day
      interval: 1
      time_zone: W. Europe Standard Time
      hours: [2]
      minutes: [30]
    pipeline_parameters: {region: EMEA}
  - name: hourly-export
    pipeline: export
    description: Orders to the warehouse, every hour
    recurrence: {frequency: Hour, interval: 1, time_zone: America/New_York}
  - name: invoices
    pipeline: load-invoice
    description: Loads each invoice file dropped in landing/invoices
    datastore: landing
    path_on_datastore: invoices
    polling_interval: 1m
    include: ["*.csv"]
    exclude: [".*", "*.tmp", "~*"]
    data_path_parameter_name: input_file
  - name: archive-sync
    pipeline: load-invoice
    description: Paused while the archive moves
    status: Disabled
    datastore: landing
    path_on_datastore: archive
    polling_interval: 1m
    data_path_parameter_name: input_file
"""

PAGES = {
    "overview.png": "/",
    "schedule.png": "/schedules/invoices",
    "daemons.png": "/daemons",
}


def _wait(site: Running, what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"screenshots: timed out waiting for {what}\n{site.daemon.log_text()}")


def _runs_done(site: Running) -> bool:
    runs = site.api("/api/runs?limit=100")
    seen = {(r["schedule"], r["status"]) for r in runs}
    loaded = [r for r in runs if r["schedule"] == "invoices" and r["status"] == "succeeded"]
    return (
        {
            ("nightly-report", "succeeded"),
            ("hourly-export", "failed"),
            ("archive-sync", "skipped"),
        }
        <= seen
        and len(loaded) == 2
        and all(r["status"] in {"succeeded", "failed", "skipped"} for r in runs)
    )


def _baselines(site: Running) -> bool:
    done = {e["schedule"] for e in site.daemon.named("poll.completed") if e.get("baseline")}
    return {"invoices", "archive-sync"} <= done


def generate(output: Path) -> list[Path]:
    """Start the daemon, make its runs, write the PNGs to ``output``; their paths."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="triggerd-screenshots-") as tmp:
        base = Path(tmp)
        invoices = base / "data" / "invoices"
        write(invoices / "2025-11-30.csv", "id,amount\n" + "1,10\n" * 40, mtime_s=MTIME)
        site = start(base, CONFIG, folders=("invoices", "archive"))
        try:
            _wait(site, "the first polls", lambda: _baselines(site))
            write(invoices / "2025-12-01.csv", "id,amount\n" + "2,20\n" * 42, mtime_s=MTIME + 60)
            write(invoices / "2025-12-01-fixes.csv", "id,amount\n3,-5\n", mtime_s=MTIME + 90)
            write(invoices / "2025-12-02.csv.tmp", "id,am", mtime_s=MTIME + 120)
            write(base / "data" / "archive" / "2024.csv", "old", mtime_s=MTIME)
            # The folder is watched (inotify), so the new files are seen within seconds.
            _wait(site, "the runs", lambda: _runs_done(site))
            [failed] = site.api("/api/runs?schedule=hourly-export")
            pages = {**PAGES, "run.png": f"/runs/{failed['id']}"}
            written = []
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(10_000)
                for name, path in pages.items():
                    answer = page.goto(site.url + path)
                    if answer is None or answer.status != 200:
                        raise SystemExit(f"screenshots: {path} answered {answer and answer.status}")
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=output / name, full_page=True)
                    written.append(output / name)
                browser.close()
            return written
        finally:
            site.stop()


def main(argv: list[str]) -> int:
    problem = missing_browser()
    if problem:
        print(f"screenshots: {problem}", file=sys.stderr)
        return 1
    output = Path(argv[0]) if argv else OUTPUT
    for path in generate(output):
        print(
            f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
            f"{path.stat().st_size // 1024} KiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
