"""/docs (Swagger UI) and /redoc in a real browser with no outside network: the app serves their
scripts and styles itself and asks for no web fonts, so both render the operations where CDNs
are blocked. Screenshots are left in the test's temporary folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from klageapi.api.app import create_app
from klageapi.api.docs import ASSETS
from klageapi.api.summaries import SUMMARIES
from klageapi.core.config import Settings
from tests.browser import chromium, page_in
from tests.conftest import loopback_listener

# Operations from the top, the middle and the end of the contract, as each page shows them.
SHOWN = [SUMMARIES["register_appeal"], SUMMARIES["forward_appeal"], SUMMARIES["list_events"]]
# ReDoc's 1 MB script on a shared two-core machine (a Swagger UI test took 33 s at load 15).
RENDER_TIMEOUT_MS = 60_000


@pytest.fixture
async def served(
    settings: Settings, engine: AsyncEngine, http_client: httpx.AsyncClient
) -> AsyncIterator[str]:
    """The app behind uvicorn on a free loopback port; its base URL."""
    app: FastAPI = create_app(settings, engine=engine, http_client=http_client)
    sock = loopback_listener()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Loaded:
    """What a page did while it loaded and drew itself."""

    responses: list[Response] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Requests the page's Content Security Policy stopped inside the browser."""
    errors: list[str] = field(default_factory=list)
    """Errors on the console (a script failing; a request refused by the policy)."""

    def unexplained_errors(self) -> list[str]:
        return [e for e in self.errors if not any(url in e for url in self.refused)]


async def _load(page: Page, url: str) -> Loaded:
    loaded = Loaded()
    page.on("response", lambda response: loaded.responses.append(response))

    def failed(request: Request) -> None:
        if request.failure == "csp":  # Chromium's net::ERR_BLOCKED_BY_CSP, as Playwright names it
            loaded.refused.append(request.url)

    page.on("requestfailed", failed)
    page.on("console", lambda m: loaded.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: loaded.errors.append(str(error)))
    await page.goto(url, wait_until="load")
    return loaded


async def _every_operation_shown(page: Page, *, title: str) -> None:
    """Each operation of SHOWN drawn as the page draws an operation's title (`title`, a CSS
    selector), not merely somewhere in the page's text."""
    for summary in SHOWN:
        await page.locator(title, has_text=summary).first.wait_for(
            state="visible", timeout=RENDER_TIMEOUT_MS
        )


def _assets(responses: list[Response]) -> dict[str, int]:
    return {r.url.split(ASSETS, 1)[1]: r.status for r in responses if ASSETS in r.url}


async def test_swagger_ui_renders_the_operations_without_outside_network(
    served: str, tmp_path: Path
) -> None:
    async with chromium() as browser, page_in(browser) as (page, outside):
        loaded = await _load(page, f"{served}/docs")
        await _every_operation_shown(page, title=".opblock-summary-description")
        await page.screenshot(path=tmp_path / "docs.png")

        # Open one operation: its parameters and responses are drawn from the contract.
        await page.get_by_text(SUMMARIES["forward_appeal"], exact=True).first.click()
        await page.get_by_role("button", name="Try it out").wait_for(timeout=RENDER_TIMEOUT_MS)
        await page.screenshot(path=tmp_path / "docs-operation.png")

    assert _assets(loaded.responses) == {
        "/swagger-ui-bundle.js": 200,
        "/swagger-ui.css": 200,
        "/favicon.png": 200,
    }
    assert any(r.url.endswith("/openapi.json") and r.status == 200 for r in loaded.responses)
    assert outside.urls == []
    assert loaded.errors == []


async def test_redoc_renders_the_operations_without_outside_network(
    served: str, tmp_path: Path
) -> None:
    async with chromium() as browser, page_in(browser) as (page, outside):
        loaded = await _load(page, f"{served}/redoc")
        await _every_operation_shown(page, title="h2")
        await page.screenshot(path=tmp_path / "redoc.png")

    assert _assets(loaded.responses) == {"/redoc.standalone.js": 200, "/favicon.png": 200}
    # ReDoc's side menu always asks for Redocly's logo from Redocly's CDN: the page's policy
    # stops that inside the browser, before any name is looked up.
    assert outside.urls == loaded.refused == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert loaded.unexplained_errors() == []


async def test_the_pages_name_no_cdn_no_font_and_no_online_validator(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        docs = (await client.get("/docs")).text
        redoc = (await client.get("/redoc")).text
    for page in (docs, redoc):
        assert "cdn.jsdelivr.net" not in page
        assert "fonts.googleapis.com" not in page
    # Swagger UI would otherwise send the contract's address to validator.swagger.io (a page
    # served on loopback never does, so the browser test above cannot show it).
    assert '"validatorUrl": null' in docs
