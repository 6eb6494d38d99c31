"""An administrator lists the failing and disabled webhook subscriptions of every organisation:
keyset-paginated, without the URL's path (it may hold the receiver's token), audited."""

from __future__ import annotations

from sqlalchemy import select, update

from klageapi.core.db import create_sessionmaker
from klageapi.models import AuditEntry, WebhookSubscription
from tests import journey
from tests.conftest import NOW, SF_ROGALAND_ORG, CommittedApp
from tests.journey import AuthHeaders
from tests.webhook.conftest import Receiver
from tests.webhook.test_dispatcher import subscribe

ADMIN_ORG = "910000004"


async def _set(track: CommittedApp, subscription_id: str, **values: object) -> None:
    async with create_sessionmaker(track.engine)() as session, session.begin():
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscription_id)
            .values(**values)
        )


async def test_an_administrator_lists_every_organisation_s_failing_and_disabled_subscriptions(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver
) -> None:
    healthy = await subscribe(race_track, auth, receiver)
    failing = await subscribe(race_track, auth, receiver)
    gone = await subscribe(race_track, auth, receiver, org=SF_ROGALAND_ORG)
    switched_off = await subscribe(race_track, auth, receiver, org=SF_ROGALAND_ORG)
    await journey.register(race_track.client, auth)  # an event for NAV's subscriptions
    await _set(race_track, failing["id"], failing_since=NOW)
    await _set(race_track, gone["id"], enabled=False, disabled_at=NOW, disabled_reason="410 Gone")
    patched = await race_track.client.patch(
        f"/v1/webhook-subscriptions/{switched_off['id']}",
        json={"enabled": False},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    assert patched.status_code == 200
    admin = auth(org=ADMIN_ORG, scope="klageapi:admin")

    first = await race_track.client.get(
        "/v1/webhook-subscriptions/failing", params={"limit": 2}, headers=admin
    )
    second = await race_track.client.get(
        "/v1/webhook-subscriptions/failing",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=admin,
    )
    disabled_only = await race_track.client.get(
        "/v1/webhook-subscriptions/failing", params={"state": "disabled"}, headers=admin
    )

    assert first.status_code == 200, first.text
    assert second.json()["next_cursor"] is None
    items = first.json()["items"] + second.json()["items"]
    assert [item["id"] for item in items] == [failing["id"], gone["id"], switched_off["id"]]
    assert healthy["id"] not in first.text + second.text
    assert [item["state"] for item in items] == ["failing", "disabled", "disabled"]
    assert [item["organisation"] for item in items] == [
        "0192:977777771",
        f"0192:{SF_ROGALAND_ORG}",
        f"0192:{SF_ROGALAND_ORG}",
    ]
    assert items[0]["pending_deliveries"] >= 0
    assert items[1]["disabled_reason"] == "410 Gone"
    assert items[2]["disabled_reason"] is None  # switched off by its owner
    origin = receiver.url.rsplit("/", 2)[0]
    assert {item["url_origin"] for item in items} == {origin}
    assert "/hooks" not in first.text + second.text
    assert [item["id"] for item in disabled_only.json()["items"]] == [
        gone["id"],
        switched_off["id"],
    ]
    async with create_sessionmaker(race_track.engine)() as session:
        audited = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "webhook_subscription.list_troubled")
            )
        ).all()
    assert [(entry.actor_organisation, entry.appeal_id) for entry in audited] == [
        (f"0192:{ADMIN_ORG}", None)
    ] * 3


async def test_an_organisation_without_the_admin_scope_is_refused_and_nothing_is_audited(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    refused = await race_track.client.get(
        "/v1/webhook-subscriptions/failing",
        headers=auth(scope="klageapi:read klageapi:write"),
    )

    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "insufficient_scope"
    async with create_sessionmaker(race_track.engine)() as session:
        assert (await session.scalars(select(AuditEntry))).all() == []
