"""GET /v1/appeals: what each caller sees, the filters, keyset pagination and its refusals, the
audit of every listed appeal; and conditional GET of one appeal."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import Appeal, AppealStatus, AuditEntry
from tests.conftest import NAV_OSLO_ORG, NOW, OTHER_ORG, SF_ROGALAND_ORG
from tests.factories import count, make_appeal

AuthHeaders = Callable[..., dict[str, str]]

S = AppealStatus
SF_OSLO_ORG = "933333337"
SF_OSLO = "sf-oslo-akershus-ostfold-buskerud"
READ_ONLY = "klageapi:read"
FORWARDED = (
    S.forwarded,
    S.received_by_statsforvalter,
    S.under_statsforvalter_review,
    S.awaiting_documentation,
    S.decided,
)


def ago(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


async def stored(
    session: AsyncSession, *, updated_at: dt.datetime = NOW, **overrides: Any
) -> Appeal:
    """An appeal stored directly; later states carry `forwarded_at`, as forwarding sets it."""
    status = overrides.get("status", S.received)
    overrides.setdefault("forwarded_at", ago(100) if status in FORWARDED else None)
    return await make_appeal(session, updated_at=updated_at, **overrides)


async def oslo_appeal(session: AsyncSession, **overrides: Any) -> Appeal:
    return await stored(
        session,
        nav_office_unit_number="0301",
        municipality_number="0301",
        statsforvalter_office_id=SF_OSLO,
        **overrides,
    )


async def listed(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    params: dict[str, Any] | list[tuple[str, str]] | None = None,
) -> list[str]:
    response = await client.get("/v1/appeals", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [item["id"] for item in response.json()["items"]]


def ids(*appeals: Appeal) -> list[str]:
    return [str(appeal.id) for appeal in appeals]


# -- visibility ------------------------------------------------------------------------------


async def test_a_nav_office_lists_only_its_own_appeals(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    first = await stored(session, updated_at=ago(3))
    second = await stored(session, updated_at=ago(2), status=S.forwarded)
    oslo = await oslo_appeal(session, updated_at=ago(1))

    assert await listed(client, auth(scope=READ_ONLY)) == ids(first, second)
    assert await listed(client, auth(org=NAV_OSLO_ORG, scope=READ_ONLY)) == ids(oslo)


async def test_a_statsforvalter_lists_only_appeals_forwarded_to_its_office(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session, updated_at=ago(5))  # not forwarded yet
    await stored(session, updated_at=ago(4), status=S.under_nav_review)  # not forwarded yet
    forwarded = await stored(session, updated_at=ago(3), status=S.forwarded)
    decided = await stored(session, updated_at=ago(2), status=S.decided)
    # A package rejected back to NAV: the Statsforvalter office has seen it and still may.
    sent_back = await stored(
        session, updated_at=ago(1), status=S.under_nav_review, forwarded_at=ago(50)
    )
    oslo_forwarded = await oslo_appeal(session, updated_at=ago(1), status=S.forwarded)

    assert await listed(client, auth(org=SF_ROGALAND_ORG)) == ids(forwarded, decided, sent_back)
    assert await listed(client, auth(org=SF_OSLO_ORG)) == ids(oslo_forwarded)


async def test_an_organisation_acting_for_no_office_lists_nothing(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session, status=S.forwarded)

    assert await listed(client, auth(org=OTHER_ORG)) == []
    assert await count(session, AuditEntry) == 0


async def test_listing_needs_the_read_scope(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session)

    response = await client.get("/v1/appeals", headers=auth(scope="klageapi:write"))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert await count(session, AuditEntry) == 0


# -- filters ---------------------------------------------------------------------------------


async def test_status_filter_narrows_to_one_status(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session, updated_at=ago(3))
    reviewed = await stored(session, updated_at=ago(2), status=S.under_nav_review)
    await stored(session, updated_at=ago(1), status=S.withdrawn)

    assert await listed(client, auth(), {"status": "under_nav_review"}) == ids(reviewed)


async def test_status_filter_is_repeatable(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    received = await stored(session, updated_at=ago(3))
    await stored(session, updated_at=ago(2), status=S.under_nav_review)
    withdrawn = await stored(session, updated_at=ago(1), status=S.withdrawn)

    params = [("status", "received"), ("status", "withdrawn")]
    assert await listed(client, auth(), params) == ids(received, withdrawn)


async def test_nav_office_filter_narrows_within_what_the_caller_sees(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    own = await stored(session, updated_at=ago(2), status=S.forwarded)
    oslo = await oslo_appeal(session, updated_at=ago(1), status=S.forwarded)

    assert await listed(client, auth(), {"nav_office": "1103"}) == ids(own)
    # Another office's appeals stay invisible, filter or not.
    assert await listed(client, auth(), {"nav_office": "0301"}) == []
    assert await listed(client, auth(org=NAV_OSLO_ORG), {"nav_office": "0301"}) == ids(oslo)


async def test_statsforvalter_office_filter_narrows(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    rogaland = await stored(session, updated_at=ago(2))
    rerouted = await stored(session, updated_at=ago(1), statsforvalter_office_id=SF_OSLO)

    assert await listed(client, auth(), {"statsforvalter_office": "sf-rogaland"}) == ids(rogaland)
    assert await listed(client, auth(), {"statsforvalter_office": SF_OSLO}) == ids(rerouted)
    assert await listed(client, auth(), {"statsforvalter_office": "sf-nordland"}) == []


async def test_updated_after_is_strictly_after(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session, updated_at=ago(3))
    await stored(session, updated_at=ago(2))
    latest = await stored(session, updated_at=ago(1))

    assert await listed(client, auth(), {"updated_after": ago(2).isoformat()}) == ids(latest)


async def test_updated_after_honours_the_given_offset(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session, updated_at=dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC))
    later = await stored(session, updated_at=dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))

    # 09:30 in Oslo (winter time) is 08:30 UTC.
    params = {"updated_after": "2026-11-02T09:30:00+01:00"}
    assert await listed(client, auth(), params) == ids(later)


async def test_updated_after_without_a_timezone_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # Whose 10:00? A case system in Oslo and the database in UTC would disagree by an hour
    # and the client would miss changes.
    await stored(session)

    response = await client.get(
        "/v1/appeals", params={"updated_after": "2026-11-01T10:00:00"}, headers=auth()
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["updated_after"]
    assert await count(session, AuditEntry) == 0


@pytest.mark.parametrize("late", [True, False])
async def test_late_filter_narrows(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, late: bool
) -> None:
    on_time = await stored(session, updated_at=ago(2), late=False)
    too_late = await stored(session, updated_at=ago(1), late=True)

    expected = too_late if late else on_time
    assert await listed(client, auth(), {"late": str(late).lower()}) == ids(expected)


async def test_filters_combine(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session, updated_at=ago(4), late=True)  # too old
    await stored(session, updated_at=ago(1), late=False)  # not late
    await stored(session, updated_at=ago(1), late=True, status=S.withdrawn)  # wrong status
    match = await stored(session, updated_at=ago(1), late=True)

    params = {"late": "true", "status": "received", "updated_after": ago(2).isoformat()}
    assert await listed(client, auth(), params) == ids(match)


# -- pagination ------------------------------------------------------------------------------


async def test_pages_of_two_walk_every_appeal_once_in_updated_at_then_id_order(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # Three share one updated_at: the id breaks the tie, across a page boundary.
    appeals = [
        await stored(session, updated_at=ago(3)),
        await stored(session, updated_at=ago(2)),
        await stored(session, updated_at=ago(2)),
        await stored(session, updated_at=ago(2)),
        await stored(session, updated_at=ago(1)),
    ]
    await oslo_appeal(session, updated_at=ago(2))  # not the caller's
    expected = [str(a.id) for a in sorted(appeals, key=lambda a: (a.updated_at, a.id))]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/appeals", params=params, headers=auth())
        assert response.status_code == 200, response.text
        pages.append([item["id"] for item in response.json()["items"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10, "the pages do not end"

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [appeal_id for page in pages for appeal_id in page] == expected


async def test_a_page_that_ends_exactly_at_the_last_appeal_has_no_next_cursor(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session, updated_at=ago(2))
    await stored(session, updated_at=ago(1))

    response = await client.get("/v1/appeals", params={"limit": 2}, headers=auth())

    assert len(response.json()["items"]) == 2
    assert response.json()["next_cursor"] is None


async def test_the_cursor_keeps_the_filters_the_client_sends_again(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    late = [await stored(session, updated_at=ago(5 - n), late=True) for n in range(3)]
    for n in range(3):
        await stored(session, updated_at=ago(5 - n), late=False)

    first = await client.get("/v1/appeals", params={"limit": 2, "late": "true"}, headers=auth())
    cursor = first.json()["next_cursor"]
    second = await client.get(
        "/v1/appeals", params={"limit": 2, "late": "true", "cursor": cursor}, headers=auth()
    )

    walked = [item["id"] for item in first.json()["items"] + second.json()["items"]]
    assert walked == ids(*late)
    assert second.json()["next_cursor"] is None


async def _a_cursor(client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession) -> str:
    for hours in (3, 2, 1):
        await stored(session, updated_at=ago(hours))
    response = await client.get("/v1/appeals", params={"limit": 1}, headers=auth())
    cursor: str = response.json()["next_cursor"]
    assert cursor
    return cursor


async def test_a_tampered_cursor_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    cursor = await _a_cursor(client, auth, session)
    audited = await count(session, AuditEntry)
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")

    response = await client.get("/v1/appeals", params={"cursor": tampered}, headers=auth())

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    assert await count(session, AuditEntry) == audited


@pytest.mark.parametrize("cursor", ["abc", "!!!", "", "x" * 2000])
async def test_a_cursor_this_list_never_handed_out_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, cursor: str
) -> None:
    await stored(session)

    response = await client.get("/v1/appeals", params={"cursor": cursor}, headers=auth())

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    assert await count(session, AuditEntry) == 0


async def test_a_cursor_over_the_length_limit_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get("/v1/appeals", params={"cursor": "x" * 2001}, headers=auth())

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "two"])
async def test_a_limit_out_of_range_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, limit: str
) -> None:
    await stored(session)

    response = await client.get("/v1/appeals", params={"limit": limit}, headers=auth())

    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert [e["field"] for e in response.json()["errors"]] == ["limit"]
    assert await count(session, AuditEntry) == 0


@pytest.mark.parametrize("limit", ["1", "500"])
async def test_the_limits_of_limit_are_accepted(
    client: httpx.AsyncClient, auth: AuthHeaders, limit: str
) -> None:
    response = await client.get("/v1/appeals", params={"limit": limit}, headers=auth())

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "MOTTATT"}, "status.0"),
        ([("status", "received"), ("status", "bogus")], "status.1"),
        ({"nav_office": "110"}, "nav_office"),
        ({"statsforvalter_office": "SF Rogaland"}, "statsforvalter_office"),
        ({"late": "maybe"}, "late"),
        ({"updated_after": "yesterday"}, "updated_after"),
    ],
)
async def test_an_invalid_filter_is_refused(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    params: dict[str, str] | list[tuple[str, str]],
    field: str,
) -> None:
    await stored(session)

    response = await client.get("/v1/appeals", params=params, headers=auth())

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await count(session, AuditEntry) == 0


# -- audit -----------------------------------------------------------------------------------


async def test_every_listed_appeal_is_audited_and_only_those(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    first = await stored(session, updated_at=ago(3))
    second = await stored(session, updated_at=ago(2))
    await stored(session, updated_at=ago(1))  # on the next page

    await client.get("/v1/appeals", params={"limit": 2}, headers=auth(scope=READ_ONLY))

    entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(e.action, e.appeal_id, e.actor_organisation) for e in entries] == [
        ("appeal.list", first.id, "0192:977777771"),
        ("appeal.list", second.id, "0192:977777771"),
    ]
    assert {(e.occurred_at, e.actor_kind) for e in entries} == {(NOW, "organisation")}


async def test_a_statsforvalter_listing_is_audited_under_its_organisation(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    forwarded = await stored(session, status=S.forwarded)
    await stored(session)

    await client.get("/v1/appeals", headers=auth(org=SF_ROGALAND_ORG))

    entries = (await session.scalars(select(AuditEntry))).all()
    assert [(e.action, e.appeal_id, e.actor_organisation) for e in entries] == [
        ("appeal.list", forwarded.id, "0192:922222223")
    ]


async def test_an_empty_page_writes_no_audit(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    await stored(session)

    assert await listed(client, auth(), {"status": "decided"}) == []
    assert await count(session, AuditEntry) == 0


# -- conditional GET of one appeal -----------------------------------------------------------


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', '"7", "1"', "*"])
async def test_get_with_the_current_etag_is_not_modified(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, if_none_match: str
) -> None:
    appeal = await stored(session)

    response = await client.get(
        f"/v1/appeals/{appeal.id}", headers={**auth(), "If-None-Match": if_none_match}
    )

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"1"'


async def test_get_with_a_stale_etag_returns_the_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await stored(session, version=2)

    response = await client.get(
        f"/v1/appeals/{appeal.id}", headers={**auth(), "If-None-Match": '"1"'}
    )

    assert response.status_code == 200
    assert response.json()["id"] == str(appeal.id)
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'


async def test_get_after_a_step_no_longer_matches_the_old_etag(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await stored(session, updated_at=ago(1), status_changed_at=ago(1))
    stepped = await client.post(f"/v1/appeals/{appeal.id}/nav-review", headers=auth())
    assert stepped.status_code == 200, stepped.text

    response = await client.get(
        f"/v1/appeals/{appeal.id}", headers={**auth(), "If-None-Match": '"1"'}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "under_nav_review"
    assert response.headers["etag"] == '"2"'


async def test_conditional_get_of_an_appeal_the_caller_may_not_see_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await stored(session)

    response = await client.get(
        f"/v1/appeals/{appeal.id}",
        headers={**auth(org=NAV_OSLO_ORG), "If-None-Match": '"1"'},
    )

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"


async def test_get_of_an_unknown_appeal_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get(f"/v1/appeals/{uuid.uuid4()}", headers=auth())

    assert response.status_code == 404
