"""The administrator's registry over HTTP: NAV offices, Statsforvalter offices, county routing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Appeal, CountyRoute, NavOffice, StatsforvalterOffice
from tests.conftest import CommittedApp
from tests.factories import appeal_body, count

AuthHeaders = Callable[..., dict[str, str]]

ADMIN = "klageapi:admin"
VALID_ORG = "974123452"
OTHER_VALID_ORG = "960000005"

SHIPPED_ROUTING = {
    "03": "sf-oslo-akershus-ostfold-buskerud",
    "11": "sf-rogaland",
    "15": "sf-more-og-romsdal",
    "18": "sf-nordland",
    "31": "sf-oslo-akershus-ostfold-buskerud",
    "32": "sf-oslo-akershus-ostfold-buskerud",
    "33": "sf-oslo-akershus-ostfold-buskerud",
    "34": "sf-innlandet",
    "39": "sf-vestfold-og-telemark",
    "40": "sf-vestfold-og-telemark",
    "42": "sf-agder",
    "46": "sf-vestland",
    "50": "sf-trondelag",
    "55": "sf-troms-og-finnmark",
    "56": "sf-troms-og-finnmark",
}


@pytest.fixture
def admin(auth: AuthHeaders) -> dict[str, str]:
    return auth(scope=ADMIN)


def _nav_office(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "NAV Bergen",
        "organisation_number": VALID_ORG,
        "municipality_numbers": ["4601"],
    }
    body.update(overrides)
    return body


async def _walk(client: httpx.AsyncClient, path: str, headers: dict[str, str], limit: int) -> Any:
    """Every page of a list, following next_cursor; returns the pages' items."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


async def _nav_offices_stored(session: AsyncSession) -> dict[str, tuple[str, str, list[str]]]:
    offices = (await session.scalars(select(NavOffice))).all()
    for office in offices:
        await session.refresh(office)
    return {
        o.unit_number: (o.name, o.organisation_number, list(o.municipality_numbers))
        for o in offices
    }


async def _routing_stored(session: AsyncSession) -> dict[str, str]:
    routes = (await session.scalars(select(CountyRoute))).all()
    for route in routes:
        await session.refresh(route)
    return {route.county: route.statsforvalter_office_id for route in routes}


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    return problem


# --- NAV offices --------------------------------------------------------------------------------


async def test_list_nav_offices_returns_the_demo_offices_by_unit_number(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/offices/nav", headers=admin)

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "unit_number": "0301",
                "name": "NAV Oslo (demo)",
                "name_nn": None,
                "name_en": None,
                "organisation_number": "988888885",
                "municipality_numbers": ["0301"],
            },
            {
                "unit_number": "1103",
                "name": "NAV Stavanger (demo)",
                "name_nn": None,
                "name_en": None,
                "organisation_number": "977777771",
                "municipality_numbers": ["1103"],
            },
        ],
        "next_cursor": None,
    }


async def test_list_nav_offices_one_per_page_walks_every_office_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.put("/v1/offices/nav/4601", json=_nav_office(), headers=admin)
    assert created.status_code == 201

    pages = await _walk(client, "/v1/offices/nav", admin, limit=1)

    assert [[office["unit_number"] for office in page] for page in pages] == [
        ["0301"],
        ["1103"],
        ["4601"],
    ]


async def test_list_nav_offices_with_a_tampered_cursor_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first = await client.get("/v1/offices/nav", params={"limit": 1}, headers=admin)
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    tampered = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]

    response = await client.get(
        "/v1/offices/nav", params={"limit": 1, "cursor": tampered}, headers=admin
    )

    _assert_problem(response, 400, "invalid_cursor")


async def test_list_nav_offices_with_a_cursor_of_another_list_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    other = await client.get("/v1/offices/statsforvalter", params={"limit": 1}, headers=admin)
    cursor = other.json()["next_cursor"]

    response = await client.get(
        "/v1/offices/nav", params={"limit": 1, "cursor": cursor}, headers=admin
    )

    _assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", [0, 501])
async def test_list_nav_offices_with_a_limit_out_of_range_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], limit: int
) -> None:
    response = await client.get("/v1/offices/nav", params={"limit": limit}, headers=admin)

    problem = _assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["limit"]


async def test_get_nav_office_returns_it(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.get("/v1/offices/nav/1103", headers=admin)

    assert response.status_code == 200
    assert response.json() == {
        "unit_number": "1103",
        "name": "NAV Stavanger (demo)",
        "name_nn": None,
        "name_en": None,
        "organisation_number": "977777771",
        "municipality_numbers": ["1103"],
    }


async def test_get_unknown_nav_office_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/offices/nav/9999", headers=admin)

    problem = _assert_problem(response, 404, "nav_office_not_found")
    assert problem["unit_number"] == "9999"


async def test_get_nav_office_with_a_malformed_unit_number_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/offices/nav/11a3", headers=admin)

    _assert_problem(response, 422, "validation_failed")


async def test_put_nav_office_creates_it(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/nav/4601",
        json=_nav_office(municipality_numbers=["4601", "4601", "4602"]),
        headers=admin,
    )

    assert response.status_code == 201, response.text
    assert response.json() == {
        "unit_number": "4601",
        "name": "NAV Bergen",
        "name_nn": None,
        "name_en": None,
        "organisation_number": VALID_ORG,
        "municipality_numbers": ["4601", "4602"],
    }
    stored = await _nav_offices_stored(session)
    assert stored["4601"] == ("NAV Bergen", VALID_ORG, ["4601", "4602"])
    assert len(stored) == 3


async def test_put_nav_office_again_replaces_it(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    await client.put("/v1/offices/nav/4601", json=_nav_office(), headers=admin)
    replacement = _nav_office(
        name="NAV Bergen sentrum",
        organisation_number=OTHER_VALID_ORG,
        municipality_numbers=["4601", "4626"],
    )

    response = await client.put("/v1/offices/nav/4601", json=replacement, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "NAV Bergen sentrum"
    read = await client.get("/v1/offices/nav/4601", headers=admin)
    assert read.json() == {"unit_number": "4601", "name_nn": None, "name_en": None, **replacement}
    stored = await _nav_offices_stored(session)
    assert stored["4601"] == ("NAV Bergen sentrum", OTHER_VALID_ORG, ["4601", "4626"])
    assert len(stored) == 3


async def test_put_nav_office_in_a_county_without_a_route_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/nav/4601",
        json=_nav_office(municipality_numbers=["4601", "9901"]),
        headers=admin,
    )

    problem = _assert_problem(response, 422, "unknown_county")
    assert problem["errors"] == [
        {
            "field": "municipality_numbers.1",
            "message": "municipality 9901 is in county 99, which the routing table does not know",
            "type": "unknown_county",
        }
    ]
    assert await count(session, NavOffice) == 2
    assert "4601" not in await _nav_offices_stored(session)


async def test_replacing_a_nav_office_with_an_unrouted_municipality_leaves_it_as_it_was(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    before = await _nav_offices_stored(session)

    response = await client.put(
        "/v1/offices/nav/1103",
        json=_nav_office(name="Renamed", municipality_numbers=["2101"]),
        headers=admin,
    )

    _assert_problem(response, 422, "unknown_county")
    assert await _nav_offices_stored(session) == before


async def test_put_nav_office_with_a_bad_organisation_number_check_digit_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/nav/4601", json=_nav_office(organisation_number="974123453"), headers=admin
    )

    problem = _assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["organisation_number"]
    assert await count(session, NavOffice) == 2


async def test_put_nav_office_without_municipalities_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/nav/4601", json=_nav_office(municipality_numbers=[]), headers=admin
    )

    problem = _assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["municipality_numbers"]
    assert await count(session, NavOffice) == 2


async def test_put_nav_office_with_an_unknown_field_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/nav/4601", json=_nav_office(county="46"), headers=admin
    )

    _assert_problem(response, 422, "validation_failed")
    assert await count(session, NavOffice) == 2


async def test_new_nav_office_can_register_appeals_for_its_municipality(
    client: httpx.AsyncClient, admin: dict[str, str], auth: AuthHeaders
) -> None:
    await client.put("/v1/offices/nav/4601", json=_nav_office(), headers=admin)

    response = await client.post(
        "/v1/appeals",
        json=appeal_body(nav_office_unit_number="4601", municipality_number="4601"),
        headers=auth(org=VALID_ORG),
    )

    assert response.status_code == 201, response.text
    assert response.json()["statsforvalter_office_id"] == "sf-vestland"


# --- Statsforvalter offices ---------------------------------------------------------------------


async def test_list_statsforvalter_offices_shows_each_with_its_counties(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/offices/statsforvalter", headers=admin)

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    offices = {office["id"]: office for office in body["items"]}
    assert [office["id"] for office in body["items"]] == sorted(set(SHIPPED_ROUTING.values()))
    assert offices["sf-rogaland"] == {
        "id": "sf-rogaland",
        "name": "Statsforvalteren i Rogaland",
        "name_nn": "Statsforvaltaren i Rogaland",
        "name_en": "The County Governor of Rogaland",
        "organisation_number": "922222223",
        "agent_organisation_numbers": [],
        "counties": ["11"],
    }
    assert offices["sf-oslo-akershus-ostfold-buskerud"]["counties"] == ["03", "31", "32", "33"]
    assert offices["sf-nordland"]["organisation_number"] is None


async def test_list_statsforvalter_offices_in_pages_walks_every_office_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    pages = await _walk(client, "/v1/offices/statsforvalter", admin, limit=3)

    assert [len(page) for page in pages] == [3, 3, 3, 1]
    ids = [office["id"] for page in pages for office in page]
    assert ids == sorted(set(SHIPPED_ROUTING.values()))


async def test_get_statsforvalter_office_returns_it_with_its_counties(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/offices/statsforvalter/sf-vestfold-og-telemark", headers=admin)

    assert response.status_code == 200
    assert response.json() == {
        "id": "sf-vestfold-og-telemark",
        "name": "Statsforvalteren i Vestfold og Telemark",
        "name_nn": "Statsforvaltaren i Vestfold og Telemark",
        "name_en": "The County Governor of Vestfold and Telemark",
        "organisation_number": None,
        "agent_organisation_numbers": [],
        "counties": ["39", "40"],
    }


async def test_get_unknown_statsforvalter_office_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/offices/statsforvalter/sf-atlantis", headers=admin)

    problem = _assert_problem(response, 404, "statsforvalter_office_not_found")
    assert problem["office_id"] == "sf-atlantis"


async def test_put_statsforvalter_office_creates_it_without_counties(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/statsforvalter/sf-staf",
        json={"name": "STAF", "organisation_number": VALID_ORG},
        headers=admin,
    )

    assert response.status_code == 201, response.text
    assert response.json() == {
        "id": "sf-staf",
        "name": "STAF",
        "name_nn": None,
        "name_en": None,
        "organisation_number": VALID_ORG,
        "agent_organisation_numbers": [],
        "counties": [],
    }
    assert await count(session, StatsforvalterOffice) == 11


async def test_put_statsforvalter_office_again_replaces_it_and_keeps_its_counties(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    body = {
        "name": "Statsforvalteren i Rogaland (ny)",
        "organisation_number": "922222223",
        "agent_organisation_numbers": [VALID_ORG, OTHER_VALID_ORG, VALID_ORG],
    }

    response = await client.put("/v1/offices/statsforvalter/sf-rogaland", json=body, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": "sf-rogaland",
        "name": "Statsforvalteren i Rogaland (ny)",
        "name_nn": None,
        "name_en": None,
        "organisation_number": "922222223",
        "agent_organisation_numbers": [VALID_ORG, OTHER_VALID_ORG],
        "counties": ["11"],
    }
    assert await count(session, StatsforvalterOffice) == 10


async def test_put_statsforvalter_office_with_a_bad_agent_organisation_number_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/statsforvalter/sf-staf",
        json={"name": "STAF", "agent_organisation_numbers": ["974123453"]},
        headers=admin,
    )

    problem = _assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["agent_organisation_numbers.0"]
    assert await count(session, StatsforvalterOffice) == 10


async def test_put_statsforvalter_office_with_a_malformed_id_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/statsforvalter/SF_Staf", json={"name": "STAF"}, headers=admin
    )

    _assert_problem(response, 422, "validation_failed")
    assert await count(session, StatsforvalterOffice) == 10


# --- County routing -----------------------------------------------------------------------------


async def test_routing_table_is_the_shipped_one(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/offices/routing", headers=admin)

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    counties = [route["county"] for route in body["items"]]
    assert counties == sorted(counties)
    assert {route["county"]: route["statsforvalter_office_id"] for route in body["items"]} == (
        SHIPPED_ROUTING
    )


async def test_rerouting_a_county_sends_new_appeals_to_the_new_office(
    client: httpx.AsyncClient, admin: dict[str, str], auth: AuthHeaders
) -> None:
    response = await client.put(
        "/v1/offices/routing/11", json={"statsforvalter_office_id": "sf-vestland"}, headers=admin
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"county": "11", "statsforvalter_office_id": "sf-vestland"}
    registered = await client.post("/v1/appeals", json=appeal_body(), headers=auth())
    assert registered.status_code == 201, registered.text
    assert registered.json()["statsforvalter_office_id"] == "sf-vestland"


async def test_rerouting_a_county_moves_it_between_the_offices_counties(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.put(
        "/v1/offices/routing/11", json={"statsforvalter_office_id": "sf-vestland"}, headers=admin
    )

    rogaland = await client.get("/v1/offices/statsforvalter/sf-rogaland", headers=admin)
    vestland = await client.get("/v1/offices/statsforvalter/sf-vestland", headers=admin)
    assert rogaland.json()["counties"] == []
    assert vestland.json()["counties"] == ["11", "46"]


async def test_rerouting_leaves_appeals_already_registered_where_they_were(
    client: httpx.AsyncClient, admin: dict[str, str], auth: AuthHeaders, session: AsyncSession
) -> None:
    before = await client.post("/v1/appeals", json=appeal_body(), headers=auth())

    await client.put(
        "/v1/offices/routing/11", json={"statsforvalter_office_id": "sf-vestland"}, headers=admin
    )

    appeal = await session.get(Appeal, uuid.UUID(before.json()["id"]))
    assert appeal is not None
    await session.refresh(appeal)
    assert appeal.statsforvalter_office_id == "sf-rogaland"


async def test_routing_a_new_county_adds_it_to_the_table(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/routing/99", json={"statsforvalter_office_id": "sf-agder"}, headers=admin
    )

    assert response.status_code == 201, response.text
    assert (await _routing_stored(session))["99"] == "sf-agder"
    assert await count(session, CountyRoute) == len(SHIPPED_ROUTING) + 1


async def test_routing_to_an_unknown_office_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/routing/11", json={"statsforvalter_office_id": "sf-atlantis"}, headers=admin
    )

    problem = _assert_problem(response, 422, "validation_failed")
    assert [(error["field"], error["type"]) for error in problem["errors"]] == [
        ("statsforvalter_office_id", "unknown_office")
    ]
    assert await _routing_stored(session) == SHIPPED_ROUTING


async def test_routing_a_new_county_to_an_unknown_office_stores_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/routing/99", json={"statsforvalter_office_id": "sf-atlantis"}, headers=admin
    )

    _assert_problem(response, 422, "validation_failed")
    assert await count(session, CountyRoute) == len(SHIPPED_ROUTING)


async def test_routing_with_a_malformed_county_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/routing/1", json={"statsforvalter_office_id": "sf-agder"}, headers=admin
    )

    _assert_problem(response, 422, "validation_failed")
    assert await count(session, CountyRoute) == len(SHIPPED_ROUTING)


# --- Only administrators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/offices/nav",
        "/v1/offices/nav/1103",
        "/v1/offices/statsforvalter",
        "/v1/offices/statsforvalter/sf-rogaland",
        "/v1/offices/routing",
    ],
)
async def test_non_admin_cannot_read_the_registry(
    client: httpx.AsyncClient, auth: AuthHeaders, path: str
) -> None:
    response = await client.get(path, headers=auth(scope="klageapi:read klageapi:write"))

    problem = _assert_problem(response, 403, "insufficient_scope")
    assert problem["required_scope"] == ADMIN


async def test_non_admin_cannot_put_a_nav_office(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/nav/4601", json=_nav_office(), headers=auth(scope="klageapi:write")
    )

    _assert_problem(response, 403, "insufficient_scope")
    assert await count(session, NavOffice) == 2


async def test_non_admin_cannot_put_a_statsforvalter_office(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/statsforvalter/sf-staf",
        json={"name": "STAF"},
        headers=auth(scope="klageapi:write"),
    )

    _assert_problem(response, 403, "insufficient_scope")
    assert await count(session, StatsforvalterOffice) == 10


async def test_non_admin_cannot_reroute_a_county(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/routing/11",
        json={"statsforvalter_office_id": "sf-vestland"},
        headers=auth(scope="klageapi:write"),
    )

    _assert_problem(response, 403, "insufficient_scope")
    assert await _routing_stored(session) == SHIPPED_ROUTING


async def test_registry_without_a_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/offices/routing/11", json={"statsforvalter_office_id": "x1"})

    _assert_problem(response, 401, "unauthenticated")


async def test_put_with_a_non_json_content_type_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/routing/11",
        content=b'{"statsforvalter_office_id": "sf-agder"}',
        headers={**admin, "Content-Type": "text/plain"},
    )

    _assert_problem(response, 415, "unsupported_media_type")
    assert await _routing_stored(session) == SHIPPED_ROUTING


async def test_office_name_with_a_nul_character_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    response = await client.put(
        "/v1/offices/nav/4601",
        json={
            "name": "NAV\u0000Bergen",
            "organisation_number": "977777771",
            "municipality_numbers": ["4601"],
        },
        headers=admin,
    )

    problem = _assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["name"]
    assert await session.get(NavOffice, "4601") is None


# -- concurrent creates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "model", "key"),
    [
        ("/v1/offices/nav/4601", _nav_office(), NavOffice, "4601"),
        (
            "/v1/offices/statsforvalter/sf-staf",
            {"name": "STAF", "organisation_number": VALID_ORG},
            StatsforvalterOffice,
            "sf-staf",
        ),
        ("/v1/offices/routing/99", {"statsforvalter_office_id": "sf-agder"}, CountyRoute, "99"),
    ],
    ids=["nav-office", "statsforvalter-office", "county-route"],
)
async def test_concurrent_puts_creating_the_same_thing_create_it_once(
    race_track: CommittedApp,
    auth: AuthHeaders,
    path: str,
    body: dict[str, Any],
    model: type[NavOffice | StatsforvalterOffice | CountyRoute],
    key: str,
) -> None:
    headers = auth(scope=ADMIN)

    # Eight at once, each in its own committed transaction, as administrators' scripts retry.
    responses = await asyncio.gather(
        *(race_track.client.put(path, json=body, headers=headers) for _ in range(8))
    )

    assert sorted(response.status_code for response in responses) == [200] * 7 + [201], [
        response.text for response in responses
    ]
    async with AsyncSession(race_track.engine) as session:
        assert await session.get(model, key) is not None
