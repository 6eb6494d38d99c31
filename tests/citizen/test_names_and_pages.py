"""One language per answer, office names included (the registry keeps each office's official
names in nb, nn and en), and the citizen's list of appeals in pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import journey
from tests.factories import make_appeal
from tests.journey import AuthHeaders


@pytest.mark.parametrize(
    ("language", "who", "window_office"),
    [
        ("nb", "Statsforvalteren i Rogaland har saken.", "Statsforvalteren i Rogaland"),
        ("nn", "Statsforvaltaren i Rogaland har saka.", "Statsforvaltaren i Rogaland"),
        ("en", "The County Governor of Rogaland has the case.", "The County Governor of Rogaland"),
    ],
)
async def test_the_statsforvalter_office_is_named_in_the_language_asked_for(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    citizen: Any,
    language: str,
    who: str,
    window_office: str,
) -> None:
    appeal, _, _ = await journey.forwarded(client, auth)

    response = await client.get(
        f"/v1/me/appeals/{appeal['id']}", headers=citizen(**{"Accept-Language": language})
    )

    assert response.status_code == 200, response.text
    view = response.json()
    assert view["now"]["who_has_the_case"] == who
    assert window_office in view["expected_decision"]["explanation"]
    others = {"nb": "Statsforvalteren i", "nn": "Statsforvaltaren i", "en": "County Governor of"}
    for other, name in others.items():
        if other != language:
            assert name not in str(view), (language, name)


async def test_an_administrator_names_a_nav_office_in_each_language(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    admin = auth(scope="klageapi:admin")
    put = await client.put(
        "/v1/offices/nav/1103",
        json={
            "name": "Nav Stavanger",
            "name_nn": "Nav Stavanger (nynorsk)",
            "name_en": "Nav Stavanger (English)",
            "organisation_number": journey.NAV_STAVANGER_ORG,
            "municipality_numbers": ["1103"],
        },
        headers=admin,
    )
    assert put.status_code == 200, put.text
    assert (put.json()["name_nn"], put.json()["name_en"]) == (
        "Nav Stavanger (nynorsk)",
        "Nav Stavanger (English)",
    )
    appeal = await journey.register(client, auth)

    names = {}
    for language in ("nb", "nn", "en"):
        response = await client.get(
            f"/v1/me/appeals/{appeal['id']}", headers=citizen(**{"Accept-Language": language})
        )
        names[language] = response.json()["decision"]["nav_office"]

    assert names == {
        "nb": "Nav Stavanger",
        "nn": "Nav Stavanger (nynorsk)",
        "en": "Nav Stavanger (English)",
    }


async def test_the_citizen_s_appeals_come_in_pages_newest_first(
    client: httpx.AsyncClient, citizen: Any, session: AsyncSession
) -> None:
    made = [await make_appeal(session, received_on=dt.date(2026, 10, day)) for day in (5, 15, 25)]
    newest_first = [str(a.id) for a in sorted(made, key=lambda a: a.received_on, reverse=True)]

    first = await client.get("/v1/me/appeals", params={"limit": 2}, headers=citizen())
    cursor = first.json()["next_cursor"]
    second = await client.get(
        "/v1/me/appeals", params={"limit": 2, "cursor": cursor}, headers=citizen()
    )
    forged = await client.get(
        "/v1/me/appeals", params={"cursor": cursor[:-2] + "xx"}, headers=citizen()
    )

    assert first.status_code == 200, first.text
    assert [a["id"] for a in first.json()["items"]] == newest_first[:2]
    assert [a["id"] for a in second.json()["items"]] == newest_first[2:]
    assert second.json()["next_cursor"] is None
    assert (forged.status_code, forged.json()["code"]) == (400, "invalid_cursor")
