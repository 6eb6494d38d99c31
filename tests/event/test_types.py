"""Each event type is typed in the contract (a union discriminated on `type`, each type with its
own data), and the `webhooks` section describes each delivery: real events of a whole journey,
as the feed serializes them and as the sender signs them, are valid by those schemas."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from klageapi.case_package.overdue import announce_overdue
from klageapi.core.clock import FixedClock
from klageapi.event.outbox import EVENT_TYPES
from klageapi.event.schemas import event_read
from klageapi.event.types import DELIVERIES, EVENTS
from klageapi.models import Event
from klageapi.retention.service import erase_due
from klageapi.webhook.sender import event_message, ping_message
from tests.case_package.test_packages import decide, etag_of, fulfil, reject
from tests.conftest import SF_ROGALAND_ORG, TokenFactory
from tests.factories import NATIONAL_ID
from tests.journey import (
    AuthHeaders,
    acknowledge,
    forwarded,
    pdf,
    ready_to_forward,
    register,
    request_documentation,
    under_statsforvalter_review,
    upload,
)

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
SF = SF_ROGALAND_ORG


def _validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry = Registry().with_resource(
        "urn:contract", Resource.from_contents(document, DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": "urn:contract#" + pointer},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_every_event_type_has_its_schema_and_its_webhook() -> None:
    document = json.loads(CONTRACT.read_text(encoding="utf-8"))
    item = document["components"]["schemas"]["EventFeedPage"]["properties"]["items"]["items"]

    assert set(EVENTS) == set(EVENT_TYPES)
    assert set(item["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert item["discriminator"]["propertyName"] == "type"
    assert set(document["webhooks"]) == {*EVENT_TYPES, "webhook.ping"}
    data_schemas = {
        document["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]["data"]["$ref"]
        for ref in item["discriminator"]["mapping"].values()
    }
    assert len(data_schemas) == len(EVENT_TYPES), "each type's data is a schema of its own"
    for type_, webhook in document["webhooks"].items():
        post = webhook["post"]
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header" and p["required"]}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}, type_
        body = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert body == f"#/components/schemas/{DELIVERIES[type_].__name__}"


async def test_a_journeys_events_and_deliveries_are_valid_by_their_types(
    app: FastAPI,
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    connection: AsyncConnection,
    make_token: TokenFactory,
) -> None:
    # One appeal through the whole lifecycle, with a documentation request answered.
    appeal, _, package = await under_statsforvalter_review(client, auth)
    bundle = await client.get(f"/v1/packages/{package['id']}/bundle", headers=auth(org=SF))
    assert bundle.status_code == 200
    await client.post(
        f"/v1/appeals/{appeal['id']}/preliminary-replies",
        json={"expected_decision_on": "2027-02-15"},
        headers=auth(org=SF),
    )
    request = await request_documentation(client, auth, appeal["id"])
    answer = await upload(client, auth, appeal["id"], category="supporting_document")
    supplementary = (await fulfil(client, auth, request["id"], [answer["id"]])).json()
    await acknowledge(client, auth, supplementary["id"], case_number="2026/1234")
    decision = await upload(client, auth, appeal["id"], category="statsforvalter_decision", org=SF)
    decided = await decide(
        client,
        auth,
        appeal["id"],
        decision["id"],
        if_match=await etag_of(client, auth, appeal["id"]),
    )
    assert decided.status_code == 200, decided.text
    # One rejected as incomplete and one re-routed; one withdrawn while its package waits.
    _, _, incomplete = await forwarded(client, auth)
    assert (
        await reject(client, auth, incomplete["id"], reason="incomplete", description="Mangler.")
    ).status_code == 200
    _, _, rerouted = await forwarded(client, auth)
    not_ours = await reject(
        client, auth, rerouted["id"], reason="not_ours", statsforvalter_office_id="sf-vestland"
    )
    assert not_ours.status_code == 200, not_ours.text
    waiting, _, _ = await forwarded(client, auth)
    withdrawn = await client.post(f"/v1/appeals/{waiting['id']}/withdrawal", headers=auth())
    assert withdrawn.status_code == 200
    # A package and a request left waiting until the worker calls them overdue.
    _, _, overdue_package = await forwarded(client, auth)
    assert overdue_package["status"] == "awaiting_receipt"
    overdue_appeal, _, _ = await under_statsforvalter_review(client, auth)
    await request_documentation(client, auth, overdue_appeal["id"], due_on="2026-11-16")
    later = FixedClock(dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC))
    assert await announce_overdue(session, clock=later, working_days=2) >= 2
    # The citizen's tasks: a comment on the case presentation, documents sent unasked, and the
    # documentation asked for.
    token = make_token(org=None, scope=None, pid=NATIONAL_ID, acr="idporten-loa-high")
    citizen = {"Authorization": f"Bearer {token}"}
    presented, _ = await ready_to_forward(client, auth)
    case_presentation = {
        "case_presentation_sent_on": "2026-10-30",
        "comment_deadline_on": "2026-11-13",
    }
    forwarding = await client.post(
        f"/v1/appeals/{presented['id']}/packages", json=case_presentation, headers=auth()
    )
    assert forwarding.status_code == 201, forwarding.text
    commented = await client.post(
        f"/v1/me/appeals/{presented['id']}/comments",
        json={"text": "Jeg er uenig."},
        headers=citizen,
    )
    assert commented.status_code == 201, commented.text
    sent = await client.post(
        f"/v1/me/appeals/{presented['id']}/documents",
        params={"sender_reference": "nav-no-1", "title": "Legeerklæring"},
        content=pdf(),
        headers={**citizen, "Content-Type": "application/pdf"},
    )
    assert sent.status_code == 201, sent.text
    asked, _, _ = await under_statsforvalter_review(client, auth)
    asked_for = await request_documentation(client, auth, asked["id"])
    answered = await client.post(
        f"/v1/me/appeals/{asked['id']}/documentation-requests/{asked_for['id']}/documents",
        params={"title": "Husleiekontrakt", "file_name": "kontrakt.pdf"},
        content=pdf(),
        headers={**citizen, "Content-Type": "application/pdf"},
    )
    assert answered.status_code == 201, answered.text
    # The decided appeal's retention period passes (the worker's job, on the test's transaction).
    sessions = async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    erased = await erase_due(
        sessions,
        store=app.state.blob_store,
        clock=FixedClock(dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)),
        retention_days=90,
    )
    assert erased.appeals >= 1
    await register(client, auth, external_reference="SAK-NEW")  # and one just received
    events = list(await session.scalars(select(Event).order_by(Event.recorded_at)))

    document = json.loads(CONTRACT.read_text(encoding="utf-8"))
    feed_item = _validator(document, "/components/schemas/EventFeedPage")
    seen: set[str] = set()
    for event in events:
        served = event_read(event).model_dump(mode="json")
        errors = [e.message for e in feed_item.iter_errors({"items": [served], "next_cursor": "x"})]
        assert not errors, f"{event.type} as the feed serves it: {errors}"
        delivery = json.loads(event_message(event))
        webhook = _validator(document, f"/components/schemas/{DELIVERIES[event.type].__name__}")
        errors = [e.message for e in webhook.iter_errors(delivery)]
        assert not errors, f"{event.type} as a webhook delivers it: {errors}"
        seen.add(event.type)
    ping = json.loads(ping_message(str(appeal["id"]), later.now()))
    assert not list(_validator(document, "/components/schemas/PingDelivery").iter_errors(ping))
    assert seen == set(EVENT_TYPES), f"not produced: {set(EVENT_TYPES) - seen}"


async def test_an_event_of_the_wrong_shape_is_invalid_by_its_type(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    """The schemas hold: a package.forwarded without its package id fails, and so does one
    claiming another type's discriminator value."""
    appeal, _, _ = await forwarded(client, auth)
    [event] = await session.scalars(
        select(Event).where(Event.appeal_id == appeal["id"], Event.type == "package.forwarded")
    )
    served = event_read(event).model_dump(mode="json")
    document = json.loads(CONTRACT.read_text(encoding="utf-8"))
    page = _validator(document, "/components/schemas/EventFeedPage")
    assert not list(page.iter_errors({"items": [served], "next_cursor": "x"}))

    without_id = {**served, "data": {k: v for k, v in served["data"].items() if k != "package_id"}}
    unknown_type = {**served, "type": "package.teleported"}

    assert list(page.iter_errors({"items": [without_id], "next_cursor": "x"}))
    assert list(page.iter_errors({"items": [unknown_type], "next_cursor": "x"}))
