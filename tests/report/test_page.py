"""GET /v1/statistics/report: the statistics as a page, for the callers the statistics answer,
in nb, nn or en, with every table as CSV; and the page's parts rendered from known figures."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.report.data import Comparison, ReportData
from klageapi.report.render import render
from klageapi.report.texts import words
from tests.conftest import NAV_OSLO_ORG, OTHER_ORG, SF_ROGALAND_ORG, TokenFactory
from tests.statistics.test_processing_times import OSLO, T0, decided_appeal

URL = "/v1/statistics/report"
STATISTICS = "/v1/statistics/processing-times"
YEAR = {"from": "2026-01-01", "to": "2026-12-31"}
Auth = Callable[..., dict[str, str]]


def admin(auth: Auth) -> dict[str, str]:
    return auth(scope="klageapi:admin")


async def three_decided(session: AsyncSession) -> None:
    for work, nav in ((16, 10), (40, 3), (70, 30)):
        await decided_appeal(session, nav=nav, work=work, received_on=T0.date())
    await decided_appeal(session, nav=4, work=12, received_on=T0.date(), **OSLO)


def csv_tables(html: str) -> dict[str, list[list[str]]]:
    """Each download link's CSV, by its file name."""
    found = {}
    for name, href in re.findall(
        r'download="([^"]+)" href="data:text/csv;charset=utf-8,([^"]+)"', html
    ):
        text = unquote(href)
        assert text.startswith("\ufeff")
        found[name] = list(csv.reader(io.StringIO(text[1:])))
    return found


async def test_the_page_shows_the_real_median_and_p90_with_the_number_they_rest_on(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    await three_decided(session)

    await client.get(URL, params=YEAR, headers=admin(auth))  # statements compiled once
    started = time.perf_counter()
    page = await client.get(URL, params={**YEAR, "lang": "en"}, headers=admin(auth))
    print(f"report page: {time.perf_counter() - started:.3f} s")
    figures = (await client.get(STATISTICS, params=YEAR, headers=admin(auth))).json()

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-language"] == "en"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    w = words("en")
    for wait in ("whole_wait", "official_measure"):
        figure = figures["total"]["decided"][wait]
        assert figure["count"] == 4
        assert (
            f'<p class="big">{w.days(figure["median_days"])}</p>'
            f'<p><span class="n">median ({w.n(4)})</span></p>'
            f"<p>p90\u00a0{w.days(figure['p90_days'])}\u00a0({w.n(4)})</p>"
        ) in html
    rogaland = next(g for g in figures["groups"] if g["key"] == "sf-rogaland")["decided"]
    whole = rogaland["whole_wait"]
    assert (
        f"The whole wait: median\u00a0{w.days(whole['median_days'])} · p90\u00a0"
        f"{w.days(whole['p90_days'])} · {w.n(3)}" in html
    )
    # The stage bar is as long as the real (mean) wait, and says which stage took most of it.
    assert f"mean\u00a0{w.days(whole['mean_days'])} · {w.n(3)} · largest: " in html
    assert "Statsforvalteren i Rogaland" in html and "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


async def test_bokmal_by_default_nynorsk_on_request_and_lang_before_the_header(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    async def language(params: dict[str, str], header: str | None) -> str:
        headers = admin(auth) | ({"Accept-Language": header} if header else {})
        page = await client.get(URL, params={**YEAR, **params}, headers=headers)
        assert page.status_code == 200, page.text
        found = re.search(r'<html lang="(\w+)"', page.text)
        assert found is not None
        assert page.headers["content-language"] == found.group(1)
        return found.group(1)

    assert await language({}, None) == "nb"
    assert await language({}, "nn-NO, nb;q=0.5") == "nn"
    assert await language({}, "en-GB") == "en"
    assert await language({"lang": "en"}, "nn") == "en"
    assert await language({"lang": "nn"}, None) == "nn"
    refused = await client.get(URL, params={**YEAR, "lang": "sv"}, headers=admin(auth))
    assert refused.status_code == 422


@pytest.mark.parametrize("language", ["nb", "nn", "en"])
async def test_an_empty_period_says_so_and_claims_no_target_met(
    client: httpx.AsyncClient, auth: Auth, language: str
) -> None:
    page = await client.get(
        URL,
        params={"from": "2020-01-01", "to": "2020-03-31", "lang": language},
        headers=admin(auth),
    )

    assert page.status_code == 200, page.text
    w = words(language)
    assert w["no_decisions"] in page.text
    assert "data-empty" in page.text
    assert "meets the target" not in page.text and "når målet" not in page.text
    # Three months, each with its own row in the trend's table, none decided.
    trend = csv_tables(page.text)["month-2020-01-01-2020-03-31.csv"]
    assert [row[0] for row in trend[1:]] == ["2020-01-01", "2020-02-01", "2020-03-01"]
    assert [row[1] for row in trend[1:]] == ["0", "0", "0"]


async def test_each_table_downloads_as_csv_with_the_statistics_figures(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    await three_decided(session)

    html = (await client.get(URL, params=YEAR, headers=admin(auth))).text
    tables = csv_tables(html)

    assert set(tables) == {
        "statsforvalter_office-2026-01-01-2026-12-31.csv",
        "nav_office-2026-01-01-2026-12-31.csv",
        "county-2026-01-01-2026-12-31.csv",
        "month-2026-01-01-2026-12-31.csv",
        "queues-2026-01-01-2026-12-31.csv",
    }
    for grouping in ("statsforvalter_office", "nav_office", "county"):
        figures = (
            await client.get(STATISTICS, params={**YEAR, "group_by": grouping}, headers=admin(auth))
        ).json()
        header, *rows = tables[f"{grouping}-2026-01-01-2026-12-31.csv"]
        assert len(rows) == len(figures["groups"])
        column = header.index("Hele ventetiden, median (dager)")
        medians = sorted(float(row[column]) for row in rows)
        assert medians == sorted(
            g["decided"]["whole_wait"]["median_days"] for g in figures["groups"]
        )
        decided = sorted(int(row[1]) for row in rows)
        assert decided == sorted(g["decided"]["appeals"] for g in figures["groups"])
    months = tables["month-2026-01-01-2026-12-31.csv"]
    assert len(months) == 1 + 12
    assert sum(int(row[1]) for row in months[1:]) == 4


CALLERS: dict[str, dict[str, Any]] = {
    "no token": {},
    "NAV, read": {"org": NAV_OSLO_ORG, "scope": "klageapi:read"},
    "NAV, write only": {"org": NAV_OSLO_ORG, "scope": "klageapi:write"},
    "Statsforvalter": {"org": SF_ROGALAND_ORG, "scope": "klageapi:read"},
    "an unknown organisation": {"org": OTHER_ORG, "scope": "klageapi:read"},
    "admin": {"scope": "klageapi:admin"},
    "citizen": {"org": None, "scope": None, "pid": "15076500565", "acr": "idporten-loa-high"},
}


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_the_page_answers_exactly_the_callers_the_statistics_answer(
    client: httpx.AsyncClient, session: AsyncSession, make_token: TokenFactory, caller: str
) -> None:
    await three_decided(session)
    claims = CALLERS[caller]
    headers = {"Authorization": f"Bearer {make_token(**claims)}"} if claims else {}

    page = await client.get(URL, params=YEAR, headers=headers)
    statistics = await client.get(STATISTICS, params=YEAR, headers=headers)

    assert page.status_code == statistics.status_code
    if statistics.status_code != 200:
        assert page.headers["content-type"] == "application/problem+json"
        assert page.json()["code"] == statistics.json()["code"]
        return
    # And it shows what the statistics show that caller: no other office's appeals.
    decided = statistics.json()["total"]["decided"]["appeals"]
    if decided:
        assert f"median ({words('nb').n(decided)})" in page.text
    else:
        assert words("nb")["no_decisions"] in page.text


async def test_a_period_the_statistics_refuse_is_refused_alike(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    for params in (
        {"from": "2026-12-31", "to": "2026-01-01"},
        {"from": "2010-01-01", "to": "2026-01-01"},
    ):
        page = await client.get(URL, params=params, headers=admin(auth))
        statistics = await client.get(STATISTICS, params=params, headers=admin(auth))

        assert page.status_code == statistics.status_code == 422
        assert page.json()["code"] == statistics.json()["code"]


def _comparison() -> Comparison:
    return Comparison.model_validate(
        {
            "seed": 1,
            "appeals": 4000,
            "policies": [
                {
                    "policy": policy,
                    "official_within_90_share": share,
                    "whole_wait_days": {
                        "p50": p50,
                        "p90": p90,
                        "p99": p99,
                        "max": top,
                        "mean": 61.2,
                    },
                    "open_past_90_at_year_end": past,
                }
                for policy, share, p50, p90, p99, top, past in (
                    ("forwarded", 0.871, 55.0, 94.0, 160.0, 201.5, 120),
                    ("citizen_wait", 0.864, 58.0, 81.0, 123.0, 140.0, 80),
                    ("urgent_then_citizen_wait", 0.862, 57.5, 82.0, 125.0, 150.0, 85),
                    ("a_new_order", 0.5, 10.0, 20.0, 30.0, 40.0, 0),
                )
            ],
        }
    )


def _empty_data(**changes: Any) -> ReportData:
    total = {
        "key": None,
        "received": {"appeals": 0, "digital_share": None, "nav_outcomes": {}},
        "decided": {
            "appeals": 0,
            "within_90_days_share": None,
            "outcomes": {},
            "stages": {},
            "whole_wait": {
                "count": 0,
                "median_days": None,
                "p90_days": None,
                "p99_days": None,
                "mean_days": None,
            },
            "official_measure": {
                "count": 0,
                "median_days": None,
                "p90_days": None,
                "p99_days": None,
                "mean_days": None,
            },
            "stage_shares": None,
        },
        "open": {
            "appeals": 0,
            "by_status": {},
            "age": {"count": 0, "median_days": None, "p90_days": None, "oldest_days": None},
            "at_statsforvalter": 0,
            "past_90_days_share": None,
        },
    }
    view = {"as_of": "2026-11-02T09:30:00Z", "groups": [], "total": total, "queue_health": []}
    return ReportData(
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 1, 31),
        views={g: view for g in ("statsforvalter_office", "nav_office", "county")},
        months=[
            (dt.date(2026, 1, 1), {"received": total["received"], "decided": total["decided"]})
        ],
        **changes,
    )


@pytest.mark.parametrize("language", ["nb", "nn", "en"])
def test_a_comparison_of_queue_orders_is_shown_side_by_side(language: str) -> None:
    html = render(_empty_data(comparison=_comparison()), language=language)
    w = words(language)

    assert 'id="comparison"' in html
    for policy in ("forwarded", "citizen_wait", "urgent_then_citizen_wait"):
        assert w.policy(policy) != policy and escape(w.policy(policy)) in html
    assert "a_new_order" in html  # an order the report has no words for: by its own name
    assert f"{w['p90']}\u00a0{w.days(81.0)}" in html
    assert f"{w['p99']}\u00a0{w.days(123.0)}" in html
    assert w.share(0.871) in html
    _, *rows = csv_tables(html)["comparison-seed-1.csv"]
    assert [row[0] for row in rows] == [
        "forwarded",
        "citizen_wait",
        "urgent_then_citizen_wait",
        "a_new_order",
    ]
    assert rows[1][1:] == ["0.864", "58.0", "81.0", "123.0", "140.0", "61.2", "80"]


def test_without_a_comparison_there_is_no_comparison_section() -> None:
    assert 'id="comparison"' not in render(_empty_data())


def test_norwegian_writes_decimal_commas_and_spaced_percent_signs() -> None:
    nb, en = words("nb"), words("en")

    assert nb.days(1234.56) == "1\u202f234,6\u00a0dager"
    assert nb.share(0.875) == "88\u00a0%"
    assert nb.n(4000) == "n\u00a0=\u00a04\u202f000"
    assert nb.date(dt.date(2026, 3, 2)) == "2. mars 2026"
    assert words("nn").days(3) == "3,0\u00a0dagar"
    assert en.days(1234.56) == "1,234.6\u00a0days"
    assert en.share(0.875) == "88%"


async def test_each_months_row_is_what_the_statistics_give_for_that_month_alone(
    client: httpx.AsyncClient, session: AsyncSession, auth: Auth
) -> None:
    # Decided 31 January 23:30 UTC: 1 February in Norway, so February's.
    at = dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.UTC) - 40 * dt.timedelta(days=1)
    await decided_appeal(session, at=at, received_on=at.date())
    await decided_appeal(session, at=T0, received_on=T0.date())
    await decided_appeal(session, at=T0 - dt.timedelta(days=20), received_on=T0.date(), **OSLO)
    period = {"from": "2025-12-15", "to": "2026-04-10"}

    html = (await client.get(URL, params=period, headers=admin(auth))).text
    header, *rows = csv_tables(html)["month-2025-12-15-2026-04-10.csv"]

    assert [row[0] for row in rows] == [
        "2025-12-15",
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
    ]
    last = {"2025-12-15": "2025-12-31", "2026-01-01": "2026-01-31", "2026-02-01": "2026-02-28"}
    last |= {"2026-03-01": "2026-03-31", "2026-04-01": "2026-04-10"}
    for row in rows:
        alone = (
            await client.get(
                STATISTICS, params={"from": row[0], "to": last[row[0]]}, headers=admin(auth)
            )
        ).json()["total"]
        expected = render_row(alone)
        assert dict(zip(header[1:], row[1:], strict=True)) == dict(
            zip(header[1:], expected, strict=True)
        ), row[0]
    assert sum(int(row[1]) for row in rows) == 3


def render_row(total: dict[str, Any]) -> list[str]:
    """The CSV cells the trend's table writes for one month's `total`."""
    from klageapi.report.render import _figure_cells

    cells = _figure_cells(words("nb"), {"received": total["received"], "decided": total["decided"]})
    return ["" if raw is None else str(raw) for _, raw in cells]
