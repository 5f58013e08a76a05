"""Chromium (Debian's, driven by Playwright) against a real daemon: where the browser is, a
daemon on a config directory with runs of local commands, and what a page logged."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright, ViewportSize

from tests.support.daemon import DaemonProcess

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; Playwright's own download is not used
INSTALL_HINT = "install it with `apt-get install -y chromium` (as root), or run `make test`"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
PYTHON = json.dumps(sys.executable)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return f"{CHROMIUM} is missing: {INSTALL_HINT}"


def launch(playwright: Playwright) -> Browser:
    """Headless Chromium; ``--no-sandbox``: the tests may run as root (a container)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"], timeout=30_000
    )


@dataclass
class Watch:
    """What a page reported: console errors (CSP violations among them), uncaught script
    errors, and dialogs (each dismissed at once)."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("dialog", self._dialog)
        return page

    def problems(self) -> list[str]:
        """Every error the page logged (a 404 for the icon would be one)."""
        return list(self.errors)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in {"error", "assert"}:
            self.errors.append(f"console {message.type}: {message.text} ({message.location})")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


@dataclass
class Running:
    """A daemon started on ``config`` (a directory), its state and the folders it watches."""

    daemon: DaemonProcess
    url: str
    config: Path
    state: Path
    root: Path  # the local datastore's folder
    token: str | None = None

    def api(self, path: str, *, token: str | None = None) -> Any:
        """GET ``/api/...`` as JSON (with the daemon's token, if it has one)."""
        return json.loads(get(self.url + path, token=token or self.token)[1])

    def stop(self) -> None:
        self.daemon.kill()


def get(url: str, *, token: str | None = None, timeout: float = 10) -> tuple[int, str]:
    """GET ``url`` without a browser: (status, body)."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def headers(url: str, *, timeout: float = 10) -> dict[str, str]:
    """The headers of a GET of ``url`` (a 200)."""
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return dict(answer.headers.items())


def start(
    base: Path, config_text: str, *, token: str | None = None, folders: tuple[str, ...] = ()
) -> Running:
    """Write ``config_text`` (``{root}`` and ``{python}`` filled in) to a config directory under
    ``base`` and start ``triggerd run`` on it, SQLite under ``base/state``."""
    root = base / "data"
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    config = base / "config"
    config.mkdir(parents=True, exist_ok=True)
    text = config_text.replace("{root}", json.dumps(str(root))).replace("{python}", PYTHON)
    (config / "triggerd.yaml").write_text(text, encoding="utf-8")
    state = base / "state"
    env = {"TRIGGERD_HTTP_TOKEN": token} if token else None
    daemon = DaemonProcess(config, state, env=env)
    try:
        url = daemon.wait_event("http.listening", 30)["url"]
    except BaseException:
        daemon.kill()
        raise
    return Running(daemon, url, config, state, root, token)


def write(path: Path, text: str, *, mtime_s: int) -> None:
    """Write a file with a given mtime (a new version for the poller, without sleeping)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))
