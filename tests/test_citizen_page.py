"""The reference citizen page (clients/citizen-page) in a real browser: the distribution's
headless Chromium drives the built page, served by its own `serve.mjs` in front of the service
(uvicorn on loopback, every request committed), at a phone's width and a desktop's, in nb, nn
and en. It shows the steps and the open tasks, carries tasks out (a comment, a withdrawal), and
axe-core, injected into the page, finds no WCAG 2.1 A/AA violation. Screenshots are kept in the
test's temporary folder (`-s` prints where)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from klageapi.models import Appeal as AppealRow
from klageapi.models import AppealStatus, Document, DocumentCategory
from tests import journey
from tests.browser import DESKTOP, PHONE, chromium, page_in
from tests.conftest import CommittedApp, TokenFactory, serving_on_loopback
from tests.factories import NATIONAL_ID
from tests.journey import AuthHeaders

PAGE = Path(__file__).parent.parent / "clients" / "citizen-page"
TYPESCRIPT = PAGE.parent / "typescript"
OPENAPI = PAGE.parent.parent / "openapi" / "openapi.json"
AXE = PAGE / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _newest(*paths: Path) -> float:
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return max(f.stat().st_mtime for f in files)


@pytest.fixture(scope="module")
def built_page() -> Path:
    """The page built by npm as `.ci/run` builds it; built here too when missing or older than
    its sources or the contract (the README's test command runs without `.ci/run`)."""
    npm = shutil.which("npm")
    assert npm is not None, "the citizen page is built with node 20 and npm"
    built = PAGE / "dist" / "page.js"
    sources = (PAGE / "src", PAGE / "index.html", PAGE / "style.css", OPENAPI)
    if not built.exists() or built.stat().st_mtime < _newest(*sources):

        def run(*command: str, cwd: Path) -> None:
            subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=600)

        if not (PAGE / "node_modules").exists():
            run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=PAGE)
        run(npm, "run", "--silent", "generate", cwd=PAGE)
        run(npm, "run", "--silent", "build", cwd=PAGE)
    return PAGE / "dist"


@contextlib.asynccontextmanager
async def _page_server(api: str) -> AsyncIterator[str]:
    """`node serve.mjs` in front of the service, on a free port."""
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(PAGE / "serve.mjs"),
        env={**os.environ, "KLAGEAPI_URL": api, "PORT": "0"},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        await process.wait()


async def _seed(client: Any, auth: AuthHeaders) -> tuple[str, str]:
    """Two appeals of one citizen: one forwarded with a case presentation to comment on by
    13 November, one still with NAV."""
    commented, _ = await journey.ready_to_forward(client, auth)
    response = await client.post(
        f"/v1/appeals/{commented['id']}/packages",
        json={"case_presentation_sent_on": "2026-10-30", "comment_deadline_on": "2026-11-13"},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    at_nav = await journey.register(
        client,
        auth,
        received_on="2026-10-20",
        external_reference="SAK-2026-000777",
        decision={
            "reference": "VEDTAK-2026-0077",
            "decided_on": "2026-10-05",
            "notified_on": "2026-10-06",
        },
    )
    await journey.start_nav_review(client, auth, at_nav["id"])
    return commented["id"], at_nav["id"]


async def _axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now."""
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))",
        WCAG_21_A_AA,
    )
    violations: list[dict[str, Any]] = result
    return violations


async def _open(page: Page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("body[data-ready='true']", timeout=20_000)


async def test_the_citizen_page_in_a_real_browser(
    race_track: CommittedApp,
    make_token: TokenFactory,
    built_page: Path,
    tmp_path: Path,
) -> None:
    def auth(**kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(**kwargs)}"}

    commented_id, at_nav_id = await _seed(race_track.client, auth)
    token = make_token(org=None, scope=None, pid=NATIONAL_ID, acr="idporten-loa-high")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with (
        serving_on_loopback(race_track.app) as api,
        _page_server(api) as site,
        chromium() as browser,
    ):
        for language, viewport, name in (
            ("nb", DESKTOP, "desktop"),
            ("nn", PHONE, "phone"),
            ("en", PHONE, "phone"),
            ("en", DESKTOP, "desktop"),
        ):
            async with page_in(browser, viewport=viewport) as (page, outside):
                await _open(page, f"{site}/?lang={language}#token={token}")
                assert await page.evaluate("document.documentElement.lang") == language
                cards = page.locator("article.appeal")
                assert await cards.count() == 2
                # The steps: done, the one now, the ones ahead; the window; the open tasks.
                assert await page.locator(".step.done").count() >= 2
                assert await page.locator(".step[aria-current='step']").count() == 2
                assert await page.locator(".step.ahead").count() >= 4
                assert await page.locator("form textarea").count() == 1  # the comment
                assert await page.locator("input[type='file']").count() == 1  # send_documents
                await page.screenshot(path=shots / f"{language}-{name}.png", full_page=True)
                violations = await _axe(page)
                assert violations == [], (language, name, violations)
                assert outside.urls == []
                assert token not in page.url  # the token left the address bar

        # nb at a desktop: comment on the case presentation.
        async with page_in(browser, viewport=DESKTOP) as (page, _):
            await _open(page, f"{site}/?lang=nb#token={token}")
            card = page.locator("article.appeal", has=page.locator("textarea"))
            await card.get_by_label("Din kommentar").fill("Jeg er uenig i NAVs vurdering.")
            await card.get_by_role("button", name="Send kommentaren").click()
            await page.get_by_text("Sendt. Takk!").wait_for()
            await page.wait_for_selector("text=sendt av deg", timeout=20_000)
            await page.screenshot(path=shots / "nb-desktop-commented.png", full_page=True)
            assert await _axe(page) == []

        # nn on a phone: withdraw the appeal NAV still has, with a confirmation first.
        async with page_in(browser, viewport=PHONE) as (page, _):
            await _open(page, f"{site}/?lang=nn#token={token}")
            card = page.locator("article.appeal").filter(has_not=page.locator("textarea"))
            await card.get_by_role("button", name="Trekk klaga").click()
            await page.screenshot(path=shots / "nn-phone-confirm-withdrawal.png", full_page=True)
            assert await _axe(page) == []
            await card.get_by_role("button", name="Ja, trekk klaga").click()
            await page.get_by_text("Sendt. Takk!").wait_for()
            await page.wait_for_selector("text=Det er ingenting du treng å gjere no.")
            await page.screenshot(path=shots / "nn-phone-withdrawn.png", full_page=True)
            # The check can fail: an image without a text alternative is a violation axe finds.
            await page.evaluate("document.querySelector('main').append(new Image(1, 1))")
            assert "image-alt" in [v["id"] for v in await _axe(page)]

    async with race_track.engine.connect() as connection:
        comments = (
            await connection.execute(
                select(Document.id).where(
                    Document.appeal_id == commented_id,
                    Document.category == DocumentCategory.citizen_comment,
                )
            )
        ).all()
        status = await connection.scalar(select(AppealRow.status).where(AppealRow.id == at_nav_id))
    assert len(comments) == 1
    assert status is AppealStatus.withdrawn
    print(f"\nscreenshots: {shots}")
