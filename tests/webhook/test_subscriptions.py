"""Webhook subscriptions over HTTP: the ping, the secret shown once, rotation, ownership, and
every refusal with nothing stored and nothing sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
import warnings
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from klageapi.core.config import Settings
from klageapi.models import WebhookSubscription
from tests.conftest import NAV_OSLO_ORG, NAV_STAVANGER_ORG, NOW, CommittedApp
from tests.factories import count
from tests.journey import AuthHeaders
from tests.webhook.conftest import Answer, Receiver

Json = dict[str, Any]


def _body(receiver: Receiver, **overrides: Any) -> Json:
    return {"url": receiver.url, "event_types": ["appeal.received"], **overrides}


async def _create(client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver) -> Json:
    response = await client.post(
        "/v1/webhook-subscriptions",
        json=_body(receiver, description="saksbehandling"),
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


async def test_creating_pings_the_url_signed_and_shows_the_secret_once(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver
) -> None:
    created = await _create(client, auth, receiver)

    (ping,) = receiver.received
    message = Webhook(created["secret"]).verify(ping.body, ping.headers)
    assert message["type"] == "webhook.ping"
    assert message["data"] == {"subscription_id": created["id"]}
    assert created["secret"].startswith("whsec_")
    shown = await client.get(f"/v1/webhook-subscriptions/{created['id']}", headers=auth())
    listed = await client.get("/v1/webhook-subscriptions", headers=auth())
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    assert created["secret"] not in listed.text
    assert [s["id"] for s in listed.json()["items"]] == [created["id"]]
    assert shown.json()["description"] == "saksbehandling"


async def test_a_rotated_secret_signs_together_with_the_old_one_for_the_overlap(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver, settings: Settings
) -> None:
    created = await _create(client, auth, receiver)

    rotated = await client.post(
        f"/v1/webhook-subscriptions/{created['id']}/secret-rotation", headers=auth()
    )
    moved = await client.patch(
        f"/v1/webhook-subscriptions/{created['id']}",
        json={"url": receiver.url + "/new"},
        headers=auth(),
    )

    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"]
    expires = dt.datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert expires == NOW + dt.timedelta(hours=settings.webhook_secret_overlap_hours)
    assert moved.status_code == 200, moved.text
    ping = receiver.received[-1]
    assert ping.path == "/hooks/new"
    assert len(ping.headers["webhook-signature"].split(" ")) == 2
    for secret in (new_secret, created["secret"]):
        Webhook(secret).verify(ping.body, ping.headers)


async def test_changing_types_and_switching_off_and_on(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver
) -> None:
    created = await _create(client, auth, receiver)
    url = f"/v1/webhook-subscriptions/{created['id']}"

    off = await client.patch(
        url, json={"enabled": False, "event_types": ["package.overdue"]}, headers=auth()
    )
    on = await client.patch(url, json={"enabled": True}, headers=auth())

    assert off.json()["enabled"] is False
    assert off.json()["event_types"] == ["package.overdue"]
    assert on.json()["enabled"] is True
    assert len(receiver.received) == 1  # no new URL, no new ping


async def test_deleting_removes_it(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver, session: AsyncSession
) -> None:
    created = await _create(client, auth, receiver)

    deleted = await client.delete(f"/v1/webhook-subscriptions/{created['id']}", headers=auth())
    again = await client.get(f"/v1/webhook-subscriptions/{created['id']}", headers=auth())

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert await count(session, WebhookSubscription) == 0


async def test_deletes_at_once_delete_it_once_and_the_others_find_it_gone(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    subscription_id = uuid.uuid4()
    async with AsyncSession(race_track.engine) as session, session.begin():
        session.add(
            WebhookSubscription(
                id=subscription_id,
                organisation_number=NAV_STAVANGER_ORG,
                url="https://saksbehandling.example.test/klageapi",
                event_types=["appeal.received"],
                secret="whsec_" + "A" * 43,
            )
        )
    url = f"/v1/webhook-subscriptions/{subscription_id}"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "expected to delete 1 row(s); 0 were matched"
        answers = await asyncio.gather(
            *(race_track.client.delete(url, headers=auth()) for _ in range(6))
        )

    assert sorted(answer.status_code for answer in answers) == [204] + [404] * 5, [
        answer.text for answer in answers
    ]
    async with AsyncSession(race_track.engine) as session:
        assert await count(session, WebhookSubscription) == 0


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"enabled": False}),
        ("DELETE", "", None),
        ("POST", "/secret-rotation", None),
        ("GET", "/deliveries", None),
        ("POST", "/replay", {"since": "2026-11-01T00:00:00Z"}),
        ("POST", "/deliveries/00000000-0000-4000-8000-000000000000/redelivery", None),
    ],
)
async def test_another_organisation_s_subscription_is_not_found(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    receiver: Receiver,
    session: AsyncSession,
    method: str,
    suffix: str,
    body: Json | None,
) -> None:
    created = await _create(client, auth, receiver)

    response = await client.request(
        method,
        f"/v1/webhook-subscriptions/{created['id']}{suffix}",
        json=body,
        headers=auth(org=NAV_OSLO_ORG),
    )

    assert response.status_code == 404
    assert response.json()["code"] == "webhook_subscription_not_found"
    stored = await session.get(WebhookSubscription, created["id"])
    assert stored is not None and stored.enabled
    assert len(receiver.received) == 1


async def test_redelivery_of_a_delivery_of_another_subscription_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver
) -> None:
    created = await _create(client, auth, receiver)

    response = await client.post(
        f"/v1/webhook-subscriptions/{created['id']}/deliveries/"
        "00000000-0000-4000-8000-000000000000/redelivery",
        headers=auth(),
    )

    assert response.status_code == 404
    assert response.json()["code"] == "webhook_delivery_not_found"


async def test_a_replay_window_over_14_days_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver
) -> None:
    created = await _create(client, auth, receiver)

    response = await client.post(
        f"/v1/webhook-subscriptions/{created['id']}/replay",
        json={"since": "2026-10-01T00:00:00Z", "until": "2026-10-16T00:00:01Z"},
        headers=auth(),
    )

    assert response.status_code == 422
    assert response.json()["code"] == "replay_window_too_long"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"event_types": ["appeal.exploded"]}, "validation_failed"),
        ({"event_types": []}, "validation_failed"),
        ({"url": "ftp://example.no/hooks"}, "validation_failed"),
        ({"url": "http://10.1.2.3/hooks"}, "webhook_target_refused"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "webhook_target_refused"),
        ({"url": "http://100.64.0.1/hooks"}, "webhook_target_refused"),
        ({"url": "http://[::1]/hooks"}, "webhook_target_refused"),
        ({"url": "http://224.0.0.1/hooks"}, "webhook_target_refused"),
        ({"url": "http://name-that-does-not-resolve.invalid/hooks"}, "webhook_target_refused"),
        # Found by the fuzzer (tests/fuzz): URLs that broke the guard's parsing with a 500.
        ({"url": "http://u]x/hooks"}, "webhook_target_refused"),
        ({"url": "http://[::1/hooks"}, "webhook_target_refused"),
        ({"url": "http://127.0.0.1:99999/hooks"}, "webhook_target_refused"),
        ({"url": "http://\u0087\u0007/hooks"}, "webhook_target_refused"),
        ({"url": "http://\udb8a/hooks"}, "validation_failed"),
        ({"url": "http://127.0.0.1/hooks\u0007"}, "webhook_target_refused"),
        ({"url": "http://127.0.0.1/\u0000"}, "webhook_target_refused"),
        # Control characters that urlsplit drops without a word: refused, not stored as sent.
        ({"url": "http://127.0.0.1/hooks\r\nX-Injected: 1"}, "webhook_target_refused"),
        ({"url": "http://127.0.0.1\n/hooks"}, "webhook_target_refused"),
        ({"url": "http://127.0.0.1/ho\toks"}, "webhook_target_refused"),
        ({"url": "http://127.0.0.1/hooks\u007f"}, "webhook_target_refused"),
        ({"secret": "whsec_mine"}, "validation_failed"),
    ],
)
async def test_a_bad_subscription_is_refused_and_nothing_is_stored_or_sent(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    receiver: Receiver,
    session: AsyncSession,
    overrides: Json,
    code: str,
) -> None:
    # As JSON with \u escapes: a lone surrogate cannot travel as UTF-8.
    response = await client.post(
        "/v1/webhook-subscriptions",
        content=json.dumps(_body(receiver, **overrides)),
        headers={**auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert await count(session, WebhookSubscription) == 0
    assert receiver.received == []


@pytest.mark.parametrize(
    "answer",
    [
        Answer(status=500, body=b"broken"),
        Answer(status=302, headers={"location": "https://example.no/"}),
        Answer(status=404),
    ],
)
async def test_a_url_that_does_not_answer_the_ping_with_2xx_is_refused(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    receiver: Receiver,
    session: AsyncSession,
    answer: Answer,
) -> None:
    receiver.answers = [answer]

    response = await client.post("/v1/webhook-subscriptions", json=_body(receiver), headers=auth())

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "webhook_ping_failed"
    assert problem["ping_answer"] == f"HTTP {answer.status}"
    assert await count(session, WebhookSubscription) == 0
    assert len(receiver.received) == 1  # the redirect was not followed


async def test_a_url_that_does_not_answer_in_time_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver, session: AsyncSession
) -> None:
    held = Answer(hold=asyncio.Event())
    receiver.answers = [held]

    response = await client.post("/v1/webhook-subscriptions", json=_body(receiver), headers=auth())
    assert held.hold is not None
    held.hold.set()

    assert response.status_code == 422
    assert "no answer within" in response.json()["ping_answer"]
    assert await count(session, WebhookSubscription) == 0


async def test_production_wants_https(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    receiver: Receiver,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The app reads the environment from its settings object; only that field is changed.
    monkeypatch.setattr(settings, "environment", "production")

    response = await client.post("/v1/webhook-subscriptions", json=_body(receiver), headers=auth())

    assert response.status_code == 422
    assert response.json()["code"] == "webhook_url_not_https"
    assert receiver.received == []
    assert await count(session, WebhookSubscription) == 0


async def test_writing_needs_the_write_scope(
    client: httpx.AsyncClient, auth: AuthHeaders, receiver: Receiver
) -> None:
    response = await client.post(
        "/v1/webhook-subscriptions", json=_body(receiver), headers=auth(scope="klageapi:read")
    )

    assert response.status_code == 403
    assert receiver.received == []
