"""The case package service: each request reads the caller's offices once, with the appeal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SF_ROGALAND_ORG
from tests.journey import (
    AuthHeaders,
    acknowledge,
    forwarded,
    request_documentation,
    under_statsforvalter_review,
    upload,
)

# -- the caller's offices come with the appeal it reads, never in a round trip of their own ---


@contextmanager
def offices_reads(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements that look up which offices an organisation acts for (the query that
    matches a Statsforvalter office by its agents), while the block runs: each must be a read
    of the appeal too."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "agent_organisation_numbers" in statement and statement.lstrip().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
        assert all("FROM appeal" in statement for statement in seen), seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def test_reading_a_package_reads_the_callers_offices_with_the_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, engine: AsyncEngine
) -> None:
    _, _, package = await forwarded(client, auth)

    with offices_reads(engine) as reads:
        response = await client.get(
            f"/v1/packages/{package['id']}", headers=auth(org=SF_ROGALAND_ORG)
        )

    assert response.status_code == 200, response.text
    assert len(reads) == 1


async def test_acknowledging_a_package_reads_the_callers_offices_with_the_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, engine: AsyncEngine
) -> None:
    _, _, package = await forwarded(client, auth)

    with offices_reads(engine) as reads:
        await acknowledge(client, auth, package["id"])

    assert len(reads) == 2  # the look at the appeal, then the step's locked read


async def test_rejecting_a_package_reads_the_callers_offices_with_the_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, engine: AsyncEngine
) -> None:
    _, _, package = await forwarded(client, auth)

    with offices_reads(engine) as reads:
        response = await client.post(
            f"/v1/packages/{package['id']}/rejection",
            json={"reason": "incomplete", "description": "Vedtaket mangler."},
            headers=auth(org=SF_ROGALAND_ORG),
        )

    assert response.status_code == 200, response.text
    assert len(reads) == 2


async def test_fulfilling_a_documentation_request_reads_the_callers_offices_with_the_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, engine: AsyncEngine
) -> None:
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    document = await upload(client, auth, appeal["id"], category="documentation_response")

    with offices_reads(engine) as reads:
        response = await client.post(
            f"/v1/documentation-requests/{request['id']}/fulfilment",
            json={"document_ids": [document["id"]]},
            headers=auth(),
        )

    assert response.status_code == 201, response.text
    assert len(reads) == 2
