"""A real browser for the pages the project serves or ships: the distribution's headless Chromium
(`apt-get install chromium`, as `.ci/run` does), driven by Playwright through its
`executable_path`, since Playwright's own browser download cannot reach the network.

The browser is cut off from everything but loopback: every host name other than localhost
resolves to nothing, and `outside_requests` lists each request a page tried to make elsewhere, so
a test can prove the page needs no outside network (fonts, scripts or styles from a CDN).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, Request, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# As root in a container, without a GPU, and without Chromium's own calls home (each refused by
# the closed network, many at a time, and slow).
_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # No outside network: every name but the loopback ones fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@dataclass
class OutsideRequests:
    """Every request a page made to a host other than loopback (data: and blob: URLs aside)."""

    urls: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if parts.hostname not in _LOOPBACK:
            self.urls.append(request.url)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium from the distribution, closed afterwards."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=_FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def page_in(
    browser: Browser, *, viewport: dict[str, int] = DESKTOP, locale: str = "nb-NO"
) -> AsyncIterator[tuple[Page, OutsideRequests]]:
    """A fresh page (its own context: no cookies or storage shared with another test), with the
    requests it makes outside loopback recorded."""
    context = await browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        outside = OutsideRequests()
        outside.watch(page)
        yield page, outside
    finally:
        await context.close()
