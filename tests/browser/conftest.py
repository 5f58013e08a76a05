"""One headless Chromium for the whole session (Debian's /usr/bin/chromium, driven by
Playwright) and a fresh browser context per test: no cookie or cache carries over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.browser.support import VIEWPORT, launch, missing_browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = missing_browser()
    if reason is not None:
        # Outside CI the test module is skipped before this (its pytestmark); in CI it fails.
        pytest.fail(reason, pytrace=False)
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context (cookies, cache) at 1280x800; every wait in it is bounded (10 s)."""
    fresh = browser.new_context(viewport=VIEWPORT)
    fresh.set_default_timeout(10_000)
    yield fresh
    fresh.close()
