"""The citizen's tasks over HTTP: comment on the case presentation, send the documentation
asked for, send more unasked, withdraw. Each is idempotent, audited, announced without personal
data, and reaches the Statsforvalter as a supplementary package; each refusal stores nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.core.clock import FixedClock
from klageapi.models import (
    AppealHistory,
    AuditEntry,
    CasePackage,
    Document,
    DocumentationRequest,
    Event,
    IdempotencyRecord,
)
from tests import journey
from tests.factories import NATIONAL_ID, OTHER_NATIONAL_ID, count
from tests.journey import AuthHeaders, Json

CASE_PRESENTATION = {"case_presentation_sent_on": "2026-10-30", "comment_deadline_on": "2026-11-13"}


async def _forwarded_with_case_presentation(client: httpx.AsyncClient, auth: AuthHeaders) -> Json:
    appeal, _ = await journey.ready_to_forward(client, auth)
    response = await client.post(
        f"/v1/appeals/{appeal['id']}/packages", json=CASE_PRESENTATION, headers=auth()
    )
    assert response.status_code == 201, response.text
    package: Json = response.json()
    return {**appeal, "package_id": package["id"]}


async def _you_can(client: httpx.AsyncClient, citizen: Any, appeal_id: str) -> list[Json]:
    response = await client.get(f"/v1/me/appeals/{appeal_id}", headers=citizen())
    assert response.status_code == 200, response.text
    actions: list[Json] = response.json()["you_can"]
    return actions


async def _stored(session: AsyncSession) -> tuple[int, ...]:
    return tuple(
        [
            await count(session, model)
            for model in (Document, CasePackage, Event, AppealHistory, IdempotencyRecord)
        ]
    )


async def test_the_view_lists_the_tasks_open_now_each_with_its_deadline(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, clock: FixedClock
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)

    actions = await _you_can(client, citizen, appeal["id"])

    assert [(a["action"], a["due_on"]) for a in actions] == [
        ("comment", "2026-11-13"),
        ("send_documents", None),
        ("withdraw", None),
    ]
    comment = actions[0]
    assert (comment["method"], comment["href"]) == (
        "POST",
        f"/v1/me/appeals/{appeal['id']}/comments",
    )
    assert "13. november 2026" in comment["text"]

    clock.advance(dt.timedelta(days=12))  # 14 November: the comment deadline has passed
    actions = await _you_can(client, citizen, appeal["id"])
    assert [a["action"] for a in actions] == ["send_documents", "withdraw"]


async def test_a_comment_reaches_the_statsforvalter_as_a_supplementary_package(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)
    text = "Jeg er uenig i NAVs vurdering av husleien."

    response = await client.post(
        f"/v1/me/appeals/{appeal['id']}/comments", json={"text": text}, headers=citizen()
    )

    assert response.status_code == 201, response.text
    done = response.json()
    assert (done["task"], done["status"], done["sent_to_statsforvalter"]) == (
        "comment",
        "forwarded",
        True,
    )
    document = await session.get(Document, done["document"]["id"])
    assert document is not None
    assert (document.category.value, document.media_type) == (
        "citizen_comment",
        "text/plain; charset=utf-8",
    )
    assert document.uploaded_by_organisation == "appellant"
    packages = (
        await session.scalars(
            select(CasePackage)
            .where(CasePackage.appeal_id == appeal["id"])
            .order_by(CasePackage.frozen_at, CasePackage.recorded_at)
        )
    ).all()
    assert [(p.kind.value, p.status.value) for p in packages] == [
        ("initial", "awaiting_receipt"),
        ("supplementary", "awaiting_receipt"),
    ]
    supplementary = packages[1]
    assert supplementary.manifest["sent_by"] == "appellant"
    assert [d["id"] for d in supplementary.manifest["documents"]] == [str(document.id)]
    # Announced, to NAV and the Statsforvalter, with ids only.
    events = await journey.events_of(session, appeal["id"])
    types = [e.type for e in events]
    assert {"citizen.comment_sent", "package.forwarded", "document.added"} <= set(types)
    comment_event = next(e for e in events if e.type == "citizen.comment_sent")
    assert comment_event.statsforvalter_visible
    assert comment_event.data["package_id"] == str(supplementary.id)
    assert not any(journey.carries_national_id(e) for e in events)
    assert not any(text in str(e.data) for e in events)
    history = (
        await session.scalars(
            select(AppealHistory)
            .where(AppealHistory.appeal_id == appeal["id"])
            .order_by(AppealHistory.id.desc())
        )
    ).first()
    assert history is not None
    assert (history.action, history.actor_organisation) == ("comment_by_appellant", "appellant")
    audited = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.appeal_id == appeal["id"], AuditEntry.action == "citizen.comment"
        )
    )
    assert audited is not None and audited.actor_kind == "citizen"
    # The Statsforvalter's feed has it, and its bundle carries the comment's words.
    feed = await client.get("/v1/packages", headers=auth(org=journey.SF_ROGALAND_ORG))
    assert str(supplementary.id) in [p["id"] for p in feed.json()["items"]]


async def test_a_comment_sent_again_with_its_idempotency_key_is_one_comment(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)
    url = f"/v1/me/appeals/{appeal['id']}/comments"
    headers = citizen(**{"Idempotency-Key": "comment-1"})

    first = await client.post(url, json={"text": "Merknad."}, headers=headers)
    again = await client.post(url, json={"text": "Merknad."}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    documents = await session.scalars(
        select(Document).where(Document.category == "citizen_comment")
    )
    assert len(documents.all()) == 1
    record = await session.scalar(select(IdempotencyRecord))
    assert record is not None and NATIONAL_ID not in record.organisation


async def test_a_comment_after_its_deadline_is_refused_with_its_own_code(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    citizen: Any,
    session: AsyncSession,
    clock: FixedClock,
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)
    clock.advance(dt.timedelta(days=12))
    before = await _stored(session)

    response = await client.post(
        f"/v1/me/appeals/{appeal['id']}/comments", json={"text": "For sent?"}, headers=citizen()
    )

    assert response.status_code == 409, response.text
    problem = response.json()
    assert (problem["code"], problem["comment_deadline_on"]) == (
        "comment_deadline_passed",
        "2026-11-13",
    )
    assert await _stored(session) == before


async def test_a_task_on_another_citizen_s_appeal_is_404_and_stores_nothing(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)
    other = citizen(pid=OTHER_NATIONAL_ID)
    before = await _stored(session)

    responses = [
        await client.post(
            f"/v1/me/appeals/{appeal['id']}/comments", json={"text": "Hei"}, headers=other
        ),
        await client.post(
            f"/v1/me/appeals/{appeal['id']}/documents",
            params={"sender_reference": "a-1", "title": "Kvittering"},
            content=journey.pdf(),
            headers={**other, "Content-Type": "application/pdf"},
        ),
        await client.post(f"/v1/me/appeals/{appeal['id']}/withdrawal", headers=other),
    ]

    assert [(r.status_code, r.json()["code"]) for r in responses] == [(404, "appeal_not_found")] * 3
    assert await _stored(session) == before


async def test_documentation_asked_for_goes_to_the_statsforvalter_until_the_request_closes(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal, _, _ = await journey.under_statsforvalter_review(client, auth)
    request = await journey.request_documentation(client, auth, appeal["id"])
    (send,) = [
        a
        for a in await _you_can(client, citizen, appeal["id"])
        if a["action"] == "send_documentation"
    ]
    assert send["documentation_request_id"] == request["id"]
    assert send["due_on"] == "2026-11-16"

    response = await client.post(
        send["href"],
        params={"title": "Husleiekontrakt", "file_name": "kontrakt.pdf"},
        content=journey.pdf(),
        headers={**citizen(), "Content-Type": "application/pdf"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["document"]["category"] == "documentation_response"
    package = await session.scalar(
        select(CasePackage).where(
            CasePackage.appeal_id == appeal["id"], CasePackage.kind == "supplementary"
        )
    )
    assert package is not None
    assert package.documentation_request_id is not None
    assert str(package.documentation_request_id) == request["id"]
    events = await journey.events_of(session, appeal["id"])
    assert "citizen.documentation_sent" in [e.type for e in events]
    # The request stays NAV's to answer; once it is answered, the task is closed.
    open_request = await session.get(DocumentationRequest, request["id"])
    assert open_request is not None and open_request.status.value == "open"
    nav_file = await journey.upload(client, auth, appeal["id"], category="documentation_response")
    fulfilled = await client.post(
        f"/v1/documentation-requests/{request['id']}/fulfilment",
        json={"document_ids": [nav_file["id"]]},
        headers=auth(),
    )
    assert fulfilled.status_code == 201, fulfilled.text
    before = await _stored(session)

    closed = await client.post(
        send["href"],
        params={"title": "Enda en"},
        content=journey.pdf(),
        headers={**citizen(), "Content-Type": "application/pdf"},
    )

    assert closed.status_code == 409, closed.text
    assert closed.json()["code"] == "task_not_open"
    assert await _stored(session) == before


@pytest.mark.parametrize(
    ("media_type", "data"),
    [("text/html", b"<html><script>alert(1)</script></html>"), ("application/pdf", journey.png())],
    ids=["html", "png as pdf"],  # the content is random: each worker must collect the same ids
)
async def test_a_file_of_the_wrong_type_is_415_and_stores_nothing(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    citizen: Any,
    session: AsyncSession,
    media_type: str,
    data: bytes,
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)
    before = await _stored(session)

    response = await client.post(
        f"/v1/me/appeals/{appeal['id']}/documents",
        params={"sender_reference": "f-1", "title": "Vedlegg"},
        content=data,
        headers={**citizen(), "Content-Type": media_type},
    )

    assert response.status_code == 415, response.text
    assert await _stored(session) == before


async def test_documents_sent_unasked_are_idempotent_by_the_sender_s_own_id(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)
    url = f"/v1/me/appeals/{appeal['id']}/documents"
    headers = {**citizen(), "Content-Type": "application/pdf"}
    params = {"sender_reference": "nav-no-upload-7", "title": "Legeerklæring"}
    data = journey.pdf(5000)

    first = await client.post(url, params=params, content=data, headers=headers)
    again = await client.post(url, params=params, content=data, headers=headers)
    before = await _stored(session)
    other = await client.post(url, params=params, content=journey.pdf(6000), headers=headers)

    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert again.json()["document"] == first.json()["document"]
    assert (other.status_code, other.json()["code"]) == (409, "sender_reference_conflict")
    assert await _stored(session) == before
    packages = await session.scalars(
        select(CasePackage).where(
            CasePackage.appeal_id == appeal["id"], CasePackage.kind == "supplementary"
        )
    )
    assert len(packages.all()) == 1


async def test_documents_cannot_be_sent_before_the_appeal_is_forwarded(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal = await journey.register(client, auth)
    before = await _stored(session)

    response = await client.post(
        f"/v1/me/appeals/{appeal['id']}/documents",
        params={"sender_reference": "early-1", "title": "Vedlegg"},
        content=journey.pdf(),
        headers={**citizen(), "Content-Type": "application/pdf"},
    )

    assert (response.status_code, response.json()["code"]) == (409, "task_not_open")
    assert await _stored(session) == before


async def test_the_citizen_withdraws_the_appeal_and_what_waits_leaves_the_feed(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal = await _forwarded_with_case_presentation(client, auth)
    url = f"/v1/me/appeals/{appeal['id']}/withdrawal"
    headers = citizen(**{"Idempotency-Key": "withdraw-1"})

    response = await client.post(url, headers=headers)
    replayed = await client.post(url, headers=headers)

    assert response.status_code == 200, response.text
    assert (response.json()["task"], response.json()["status"]) == ("withdraw", "withdrawn")
    assert replayed.headers["idempotent-replayed"] == "true"
    package = await session.get(CasePackage, appeal["package_id"])
    assert package is not None and package.status.value == "withdrawn"
    events = await journey.events_of(session, appeal["id"])
    withdrawn = next(e for e in events if e.type == "appeal.withdrawn")
    assert withdrawn.data["action"] == "withdraw_by_appellant"
    assert await _you_can(client, citizen, appeal["id"]) == []
    before = await _stored(session)

    closed = await client.post(url, headers=citizen())

    assert (closed.status_code, closed.json()["code"]) == (409, "task_not_open")
    assert await _stored(session) == before
