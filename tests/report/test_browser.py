"""The served report of the run's simulated year in the distribution's headless Chromium,
outside network cut off: it
renders with nothing fetched from elsewhere, and no text lies outside its chart's box, in nb,
nn and en, at a phone's and a desktop's width, with long office names; and `klageapi report`
writes the same tables, with a queue-order comparison."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from klageapi.cli import app as cli
from klageapi.report.texts import words
from tests.browser import DESKTOP, PHONE, chromium, page_in
from tests.conftest import TokenFactory, serving_on_loopback
from tests.simulated_year import LONG_NAV, LONG_STATSFORVALTER, SimulatedYear

# Every text node's and every drawing's box in each chart and figure card, against that box.
_OUTSIDE_ITS_BOX = """
() => {
  const outside = [];
  let boxes = 0, texts = 0;
  const inside = (inner, outer) => inner.left >= outer.left - 0.5
    && inner.right <= outer.right + 0.5 && inner.top >= outer.top - 0.5
    && inner.bottom <= outer.bottom + 0.5;
  for (const box of document.querySelectorAll('[data-box]')) {
    boxes++;
    const outer = box.getBoundingClientRect();
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim() || node.parentElement.closest('title')) continue;
      texts++;
      const element = node.parentElement.getBoundingClientRect();
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const line of [element, ...range.getClientRects()]) {
        if (!inside(line, outer)) {
          outside.push({text: node.textContent.slice(0, 80), line: [line.left, line.right,
            line.top, line.bottom], box: [outer.left, outer.right, outer.top, outer.bottom]});
        }
      }
    }
    for (const drawing of box.querySelectorAll('svg')) {
      if (!inside(drawing.getBoundingClientRect(), outer)) {
        outside.push({svg: drawing.outerHTML.slice(0, 80)});
      }
    }
  }
  return {boxes, texts, outside, width: document.documentElement.scrollWidth, viewport: innerWidth};
}
"""


async def test_the_served_page_keeps_every_text_inside_its_chart_and_fetches_nothing_outside(
    simulated_year: SimulatedYear, make_token: TokenFactory, tmp_path: Path
) -> None:
    admin = {"Authorization": f"Bearer {make_token(scope='klageapi:admin')}"}

    async with serving_on_loopback(simulated_year.track.app) as base, chromium() as browser:
        for query, sizes in (("", (PHONE, DESKTOP)), ("from=2020-01-01&to=2020-02-29&", (PHONE,))):
            for language in ("nb", "nn", "en"):
                for size in sizes:
                    async with page_in(browser, viewport=size) as (page, outside):
                        await page.set_extra_http_headers(admin)
                        answer = await page.goto(
                            f"{base}/v1/statistics/report?{query}lang={language}"
                        )
                        assert answer is not None and answer.status == 200
                        found: dict[str, Any] = await page.evaluate(_OUTSIDE_ITS_BOX)
                        shot = (
                            tmp_path
                            / f"report-{'empty-' if query else ''}{language}-{size['width']}.png"
                        )
                        await page.screenshot(path=str(shot), full_page=True)
                        print(f"screenshot: {shot}")
                        html = await page.content()
                        shot.with_suffix(".html").write_text(html)

                    assert outside.urls == []
                    assert found["outside"] == [], (language, size, found["outside"][:5])
                    assert found["width"] <= found["viewport"], "the page scrolls sideways"
                    assert f'lang="{language}"' in html
                    if query:
                        assert words(language)["no_decisions"] in html
                    else:
                        assert found["boxes"] >= 15 and found["texts"] > 200
                        assert LONG_STATSFORVALTER in html and LONG_NAV in html


async def test_the_command_writes_the_served_tables_with_a_comparison(
    simulated_year: SimulatedYear, make_token: TokenFactory, tmp_path: Path
) -> None:
    token = make_token(scope="klageapi:admin")
    admin = {"Authorization": f"Bearer {token}"}
    comparison = tmp_path / "comparison.json"
    comparison.write_text(
        json.dumps(
            {
                "seed": 1,
                "appeals": 30,
                "policies": [
                    {
                        "policy": "citizen_wait",
                        "official_within_90_share": 0.9,
                        "whole_wait_days": {
                            "p50": 50,
                            "p90": 80,
                            "p99": 120,
                            "max": 130,
                            "mean": 55,
                        },
                        "open_past_90_at_year_end": 3,
                    }
                ],
            }
        )
    )
    output = tmp_path / "report.html"
    period = {"from": "2025-11-02", "to": "2026-11-02"}

    async with serving_on_loopback(simulated_year.track.app) as base:
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            [
                "report",
                "--base-url",
                base,
                "--token",
                token,
                "--from",
                period["from"],
                "--to",
                period["to"],
                "--lang",
                "nn",
                "--comparison",
                str(comparison),
                "--output",
                str(output),
            ],
        )
        page = await simulated_year.track.client.get(
            "/v1/statistics/report", params={**period, "lang": "nn"}, headers=admin
        )

    assert result.exit_code == 0, result.output
    written = output.read_text()
    assert 'id="comparison"' in written and words("nn").policy("citizen_wait") in written
    tables = re.compile(r"<table.*?</table>", re.S)
    assert tables.findall(written)[:-1] == tables.findall(page.text)  # all but the comparison's
    assert LONG_NAV in written
