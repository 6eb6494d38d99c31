"""The world the access matrix (test_access_matrix.py) is judged in, and what it compares.

Three appeals of NAV Stavanger, built once over HTTP with the journey's steps and committed to
a database of their own: one the Statsforvalter in Rogaland works on (with documents, its
package and an open documentation request), one ready to be forwarded there but not yet
forwarded, and one forwarded there and then re-routed to Vestland as not Rogaland's. Beside
them, a webhook subscription of NAV Stavanger with one delivery.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.dev_issuer import DevIssuer
from klageapi.models import (
    AuditEntry,
    Base,
    DeliveryReason,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.conftest import NAV_STAVANGER_ORG, SF_ROGALAND_ORG
from tests.journey import (
    AuthHeaders,
    blob_files,
    events_of,
    forwarded,
    ready_to_forward,
    request_documentation,
    under_statsforvalter_review,
)

__all__ = [
    "REROUTED_TO",
    "Objects",
    "Snapshot",
    "World",
    "build_world",
    "dev_auth",
    "snapshot",
]

REROUTED_TO = "sf-vestland"
"""Where the re-routed appeal went: an office none of the matrix's principals acts for."""


@dataclass(frozen=True)
class Objects:
    """The things of one appeal that a principal is pointed at. None where the appeal's state
    has none yet (no package before forwarding); the matrix then asks for an id that exists
    nowhere."""

    appeal_id: str
    document_ids: tuple[str, ...]
    package_id: str | None
    request_id: str | None

    def ids(self) -> set[str]:
        found = {self.appeal_id, *self.document_ids, self.package_id, self.request_id}
        return {value for value in found if value is not None}


@dataclass(frozen=True)
class World:
    main: Objects
    """Under the Statsforvalter in Rogaland's review and waiting for NAV's documentation."""
    unforwarded: Objects
    """Ready to be forwarded to Rogaland (NAV's outcome upheld, documents there), not forwarded."""
    rerouted: Objects
    """Forwarded to Rogaland, then rejected by it as not_ours and re-routed to REROUTED_TO."""
    subscription_id: str
    delivery_id: str
    rerouted_events_seen_at_rogaland: frozenset[str] = field(default_factory=frozenset)
    """The re-routed appeal's events Rogaland's feed showed while the appeal was Rogaland's."""

    @property
    def webhook_ids(self) -> set[str]:
        return {self.subscription_id, self.delivery_id}


def dev_auth(data_dir: Path) -> AuthHeaders:
    """The journey's `auth(org=..., scope=...)`, with tokens from the service's own development
    issuer (trusted in development), for code that runs outside a test's fixtures."""
    issuer = DevIssuer(data_dir)

    def headers(
        org: str = NAV_STAVANGER_ORG, scope: str = "klageapi:read klageapi:write"
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.organisation_token(f'0192:{org}', scope)}"}

    return headers


def _objects(appeal: dict[str, object], documents: Iterable[dict[str, object]]) -> Objects:
    return Objects(
        appeal_id=str(appeal["id"]),
        document_ids=tuple(str(document["id"]) for document in documents),
        package_id=None,
        request_id=None,
    )


async def _event_ids_seen(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    response = await client.get("/v1/events", params={"limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def build_world(client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession) -> World:
    """Every state the matrix needs, through the API where the API makes it (the caller
    commits `session`, which adds the webhook rows)."""
    appeal, documents, package = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, str(appeal["id"]))
    main = _objects(appeal, documents)
    main = Objects(main.appeal_id, main.document_ids, str(package["id"]), str(request["id"]))

    appeal, documents = await ready_to_forward(client, auth)
    unforwarded = _objects(appeal, documents)

    appeal, documents, package = await forwarded(client, auth)
    rogaland = auth(org=SF_ROGALAND_ORG)
    seen = await _event_ids_seen(client, rogaland)
    rejection = await client.post(
        f"/v1/packages/{package['id']}/rejection",
        json={"reason": "not_ours", "statsforvalter_office_id": REROUTED_TO},
        headers=rogaland,
    )
    assert rejection.status_code == 200, rejection.text
    rerouted = _objects(appeal, documents)
    rerouted = Objects(rerouted.appeal_id, rerouted.document_ids, str(package["id"]), None)
    rerouted_events = {str(event.event_id) for event in await events_of(session, appeal["id"])}
    # The re-route's rejection is addressed to the office that rejected: Rogaland hears of it.
    seen |= {
        str(event.event_id)
        for event in await events_of(session, appeal["id"])
        if event.type == "package.rejected" and event.statsforvalter_office_id == "sf-rogaland"
    }

    # No API makes a delivery without a dispatcher and a receiver: the rows are written as the
    # dispatcher would, for an event of the main appeal.
    now = dt.datetime.now(dt.UTC)
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        organisation_number=NAV_STAVANGER_ORG,
        url="https://saksbehandling.example.test/klageapi",
        event_types=["appeal.received", "appeal.status_changed"],
        secret="whsec_" + "A" * 43,
    )
    session.add(subscription)
    await session.flush()
    (first_event,) = (await events_of(session, main.appeal_id))[:1]
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        subscription_id=subscription.id,
        event_id=first_event.id,
        reason=DeliveryReason.event,
        status=DeliveryStatus.failed,
        attempt_count=1,
        next_attempt_at=now,
        created_at=now,
        last_attempt_at=now,
    )
    session.add(delivery)
    await session.flush()
    return World(
        main=main,
        unforwarded=unforwarded,
        rerouted=rerouted,
        subscription_id=str(subscription.id),
        delivery_id=str(delivery.id),
        rerouted_events_seen_at_rogaland=frozenset(seen & rerouted_events),
    )


@dataclass(frozen=True)
class Snapshot:
    """Row counts of every table in the models' metadata (so a new table is covered without
    a change here), the audit rows naming given appeals, and the blob store's files."""

    tables: dict[str, int]
    audit_rows_naming: int
    blobs: frozenset[str]


async def snapshot(
    session: AsyncSession, *, appeal_ids: Iterable[str], blob_root: Path
) -> Snapshot:
    tables = Base.metadata.sorted_tables
    counts = union_all(
        *(select(literal(table.name), func.count()).select_from(table) for table in tables)
    )
    rows = (await session.execute(counts)).all()
    naming = select(func.count()).where(
        AuditEntry.appeal_id.in_([uuid.UUID(appeal_id) for appeal_id in appeal_ids])
    )
    return Snapshot(
        tables={str(name): int(number) for name, number in rows},
        audit_rows_naming=int(await session.scalar(naming) or 0),
        blobs=frozenset(blob_files(blob_root)),
    )
