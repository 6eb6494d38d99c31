"""Idempotency-Key on POST /v1/appeals and on the transitions: replays, refusals, scope, key
format, retention, and retries racing each other in committed transactions."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from klageapi.api.app import openapi_document
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from klageapi.core.idempotency import sweep_expired
from klageapi.models import (
    Appeal,
    AppealHistory,
    AuditEntry,
    Base,
    Document,
    Event,
    IdempotencyRecord,
    IdempotencyState,
    NavOffice,
)
from tests.conftest import NAV_OSLO_ORG, NAV_STAVANGER_ORG, NOW, CommittedApp
from tests.factories import appeal_body, count
from tests.journey import content_digest

AuthHeaders = Callable[..., dict[str, str]]

KEY = "5f0c2a4e-registration-1"
OUTCOME = {"outcome": "upheld", "decided_on": "2026-10-30", "reasoning": "Vedtaket står seg."}


def _keyed(headers: dict[str, str], key: str = KEY, **more: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key, **more}


def assert_problem(response: httpx.Response, *, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "idempotent-replayed" not in response.headers
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    return problem


def assert_replay_of(replay: httpx.Response, first: httpx.Response) -> None:
    assert "idempotent-replayed" not in first.headers
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.status_code == first.status_code
    assert replay.content == first.content
    for header in ("content-type", "location", "etag"):
        assert replay.headers.get(header) == first.headers.get(header), header


async def _register(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/v1/appeals", json=appeal_body(), headers=headers)
    assert response.status_code == 201, response.text
    appeal: dict[str, Any] = response.json()
    return appeal


async def _counts(session: AsyncSession) -> dict[str, int]:
    models: list[type[Base]] = [Appeal, AppealHistory, Event, AuditEntry, IdempotencyRecord]
    return {model.__name__: await count(session, model) for model in models}


async def _audit_actions(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def _actions(session: AsyncSession) -> list[str]:
    query = select(AppealHistory.action).order_by(AppealHistory.id)
    return list(await session.scalars(query))


# Replays


async def test_same_key_and_body_replays_the_registration(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    replay = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    assert first.status_code == 201, first.text
    assert_replay_of(replay, first)
    assert replay.headers["location"] == f"/v1/appeals/{first.json()['id']}"
    assert replay.headers["etag"] == '"1"'
    assert await _counts(session) == {
        "Appeal": 1,
        "AppealHistory": 1,
        "Event": 1,
        "AuditEntry": 2,  # the replay shows the national id again: audited
        "IdempotencyRecord": 1,
    }


async def test_equivalent_json_with_other_whitespace_and_key_order_is_the_same_body(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    body = appeal_body()
    first = await client.post(
        "/v1/appeals",
        content=json.dumps(body, separators=(",", ":")).encode(),
        headers=_keyed(auth(), **{"content-type": "application/json"}),
    )
    reordered = {key: body[key] for key in reversed(body)}
    reordered["decision"] = {key: body["decision"][key] for key in reversed(body["decision"])}

    replay = await client.post(
        "/v1/appeals",
        content=f"\n  {json.dumps(reordered, indent=4)}\n\n".encode(),
        headers=_keyed(auth(), **{"content-type": "application/json"}),
    )

    assert first.status_code == 201, first.text
    assert_replay_of(replay, first)
    assert await count(session, Appeal) == 1


async def test_replay_is_the_first_answer_even_after_the_appeal_moved_on(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))
    await client.post(f"/v1/appeals/{first.json()['id']}/nav-review", headers=auth())

    replay = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    assert_replay_of(replay, first)
    assert (replay.json()["status"], replay.headers["etag"]) == ("received", '"1"')


async def test_a_replayed_registration_is_audited_as_the_first_answer_was(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    # The replay carries the appeal, and so its national id, again: it leaves an audit entry as
    # the first answer did, though the endpoint does not run (so not `appeal.register_repeated`,
    # which a retry without a key, the same external_reference, records).
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    replay = await client.post(
        "/v1/appeals", json=body, headers=_keyed(auth(), **{"X-Request-ID": "retry-1"})
    )

    assert replay.headers["idempotent-replayed"] == "true"
    entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(entry.action, str(entry.appeal_id)) for entry in entries] == [
        ("appeal.register", first.json()["id"]),
        ("appeal.replayed", first.json()["id"]),
    ]
    replayed = entries[-1]
    assert (replayed.actor_organisation, replayed.request_id) == (
        f"0192:{NAV_STAVANGER_ORG}",
        "retry-1",
    )


async def test_a_replayed_step_is_audited_as_the_first_answer_was(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await _register(client, auth())
    path = f"/v1/appeals/{appeal['id']}/nav-review"
    first = await client.post(path, headers=_keyed(auth()))

    replay = await client.post(path, headers=_keyed(auth()))

    assert_replay_of(replay, first)
    assert await _audit_actions(session) == [
        "appeal.register",
        "appeal.start_nav_review",
        "appeal.replayed",
    ]


async def test_a_replay_refused_before_it_is_answered_writes_no_audit_entry(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    first = await client.post("/v1/appeals", json=appeal_body(), headers=_keyed(auth()))

    reused = await client.post("/v1/appeals", json=appeal_body(), headers=_keyed(auth()))

    assert first.status_code == 201
    assert_problem(reused, status=422, code="idempotency_key_reused")
    assert await _audit_actions(session) == ["appeal.register"]


async def test_same_key_replays_a_nav_review_without_a_second_transition(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await _register(client, auth())
    path = f"/v1/appeals/{appeal['id']}/nav-review"
    first = await client.post(path, headers=_keyed(auth()))
    before = await _counts(session)

    replay = await client.post(path, headers=_keyed(auth()))

    assert first.status_code == 200, first.text
    assert first.json()["status"] == "under_nav_review"
    assert_replay_of(replay, first)
    assert replay.headers["etag"] == '"2"'
    assert await _counts(session) == {**before, "AuditEntry": before["AuditEntry"] + 1}
    assert await _actions(session) == ["register", "start_nav_review"]
    assert await count(session, Event) == 2  # appeal.received, appeal.status_changed


async def test_nav_outcome_replay_answers_the_first_result_though_its_if_match_is_now_stale(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await _register(client, auth())
    await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())
    path = f"/v1/appeals/{appeal['id']}/nav-outcome"
    first = await client.post(path, json=OUTCOME, headers=_keyed(auth(), **{"If-Match": '"2"'}))
    before = await _counts(session)

    replay = await client.post(path, json=OUTCOME, headers=_keyed(auth(), **{"If-Match": '"2"'}))

    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"3"'
    assert_replay_of(replay, first)  # not 412: the version moved on because of this very request
    assert await _counts(session) == {**before, "AuditEntry": before["AuditEntry"] + 1}
    assert await _actions(session) == ["register", "start_nav_review", "record_nav_outcome"]


# Same key, different body


async def test_same_key_with_another_registration_body_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    first = await client.post("/v1/appeals", json=appeal_body(), headers=_keyed(auth()))
    before = await _counts(session)
    record_before = (await session.scalars(select(IdempotencyRecord))).one().response_body

    # Another external_reference: without the key this would register a second appeal.
    response = await client.post("/v1/appeals", json=appeal_body(), headers=_keyed(auth()))

    problem = assert_problem(response, status=422, code="idempotency_key_reused")
    assert [error["field"] for error in problem["errors"]] == ["Idempotency-Key"]
    assert await _counts(session) == before
    stored = (await session.scalars(select(Appeal))).one()
    assert str(stored.id) == first.json()["id"]
    assert (await session.scalars(select(IdempotencyRecord))).one().response_body == record_before


async def test_same_key_with_another_nav_review_body_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await _register(client, auth())
    path = f"/v1/appeals/{appeal['id']}/nav-review"
    await client.post(path, headers=_keyed(auth()))
    before = await _counts(session)

    response = await client.post(
        path, json={"occurred_at": "2026-11-02T09:30:00Z"}, headers=_keyed(auth())
    )

    assert_problem(response, status=422, code="idempotency_key_reused")
    assert await _counts(session) == before


# Scope: organisation, method and path


async def test_another_organisation_may_use_the_same_key(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    stavanger = await client.post("/v1/appeals", json=appeal_body(), headers=_keyed(auth()))
    oslo_body = appeal_body(nav_office_unit_number="0301", municipality_number="0301")

    oslo = await client.post("/v1/appeals", json=oslo_body, headers=_keyed(auth(org=NAV_OSLO_ORG)))

    assert (stavanger.status_code, oslo.status_code) == (201, 201), oslo.text
    assert "idempotent-replayed" not in oslo.headers
    assert oslo.json()["id"] != stavanger.json()["id"]
    assert oslo.json()["nav_office_unit_number"] == "0301"
    assert await count(session, Appeal) == 2
    records = (await session.scalars(select(IdempotencyRecord.organisation))).all()
    assert sorted(records) == sorted([f"0192:{NAV_OSLO_ORG}", f"0192:{NAV_STAVANGER_ORG}"])


async def test_the_same_key_on_another_appeals_nav_review_is_independent(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    one = await _register(client, auth())
    other = await _register(client, auth())
    first = await client.post(f"/v1/appeals/{one['id']}/nav-review", headers=_keyed(auth()))

    second = await client.post(f"/v1/appeals/{other['id']}/nav-review", headers=_keyed(auth()))

    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert "idempotent-replayed" not in second.headers
    assert second.json()["id"] == other["id"]
    statuses = (await session.scalars(select(Appeal.status))).all()
    assert statuses == ["under_nav_review", "under_nav_review"]
    assert await count(session, IdempotencyRecord) == 2


# Key format


@pytest.mark.parametrize(
    "key",
    [
        b"",
        b"k" * 256,
        "nøkkel".encode(),
        b"key\x00",
        b"key\x1fkey",
        b"key\tkey",
        b"key\x7f",
        b" key",
        b"key ",
    ],
    ids=[
        "empty",
        "256-characters",
        "non-ascii",
        "nul",
        "control",
        "tab",
        "delete",
        "leading-space",
        "trailing-space",
    ],
)
async def test_malformed_key_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, key: bytes
) -> None:
    headers = {name.encode(): value.encode() for name, value in auth().items()}
    headers[b"Idempotency-Key"] = key  # bytes: httpx would refuse a non-ASCII str

    response = await client.post("/v1/appeals", json=appeal_body(), headers=headers)

    assert_problem(response, status=400, code="invalid_idempotency_key")
    assert await _counts(session) == dict.fromkeys(
        ["Appeal", "AppealHistory", "Event", "AuditEntry", "IdempotencyRecord"], 0
    )


async def test_key_of_255_printable_characters_is_accepted_and_replayed(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    printable = "".join(chr(code) for code in range(0x20, 0x7F))  # space included, inside
    key = ("k" + printable * 3)[:254] + "k"
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=_keyed(auth(), key))

    replay = await client.post("/v1/appeals", json=body, headers=_keyed(auth(), key))

    assert len(key) == 255
    assert first.status_code == 201, first.text
    assert_replay_of(replay, first)
    assert (await session.scalars(select(IdempotencyRecord.key))).all() == [key]


# Answers other than 2xx are not stored


async def test_a_refused_registration_runs_again_once_the_refusal_is_fixed(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    body = appeal_body(nav_office_unit_number="0301", municipality_number="0301")
    refused = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))
    assert_problem(refused, status=404, code="nav_office_not_found")
    assert await _counts(session) == dict.fromkeys(
        ["Appeal", "AppealHistory", "Event", "AuditEntry", "IdempotencyRecord"], 0
    )
    oslo = await session.get(NavOffice, "0301")
    assert oslo is not None
    oslo.organisation_number = NAV_STAVANGER_ORG  # Stavanger's organisation now acts for 0301
    await session.flush()

    retry = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await count(session, Appeal) == 1


async def test_a_refused_transition_runs_again_once_the_state_allows_it(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await _register(client, auth())
    path = f"/v1/appeals/{appeal['id']}/nav-outcome"
    # Both ETags admitted, so the very same request can be sent before and after the review.
    headers = _keyed(auth(), **{"If-Match": '"1", "2"'})
    refused = await client.post(path, json=OUTCOME, headers=headers)
    assert_problem(refused, status=409, code="transition_not_allowed")
    assert await count(session, IdempotencyRecord) == 0
    await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())

    retry = await client.post(path, json=OUTCOME, headers=headers)

    assert retry.status_code == 200, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert retry.json()["nav_outcome"] == "upheld"
    assert await _actions(session) == ["register", "start_nav_review", "record_nav_outcome"]


# Retention


async def test_just_before_the_retention_ends_the_answer_is_replayed(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    clock: FixedClock,
    settings: Settings,
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))
    clock.advance(dt.timedelta(hours=settings.idempotency_retention_hours, seconds=-1))

    replay = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    assert_replay_of(replay, first)
    assert await _audit_actions(session) == ["appeal.register", "appeal.replayed"]


async def test_after_the_retention_the_same_key_runs_again(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    clock: FixedClock,
    settings: Settings,
) -> None:
    body = appeal_body()
    first = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))
    assert settings.idempotency_retention_hours == 24
    clock.advance(dt.timedelta(hours=24))

    again = await client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    # Run again: the registration finds its external_reference and answers 200, audited.
    assert again.status_code == 200, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] == first.json()["id"]
    assert await _audit_actions(session) == ["appeal.register", "appeal.register_repeated"]
    record = (await session.scalars(select(IdempotencyRecord))).one()
    assert (record.response_status, record.expires_at) == (
        200,
        clock.now() + dt.timedelta(hours=24),
    )


async def test_sweep_deletes_expired_answers_and_keeps_fresh_ones(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    await client.post("/v1/appeals", json=appeal_body(), headers=_keyed(auth(), "old"))
    clock.advance(dt.timedelta(hours=12))
    await client.post("/v1/appeals", json=appeal_body(), headers=_keyed(auth(), "fresh"))
    clock.advance(dt.timedelta(hours=12))

    swept = await sweep_expired(session, now=clock.now())

    assert swept == 1
    assert (await session.scalars(select(IdempotencyRecord.key))).all() == ["fresh"]
    assert await count(session, Appeal) == 2


# Races, in committed transactions on a database of their own


async def _committed_counts(engine: AsyncEngine) -> dict[str, int]:
    async with AsyncSession(engine) as session:
        return await _counts(session)


async def _committed_actions(engine: AsyncEngine) -> list[str]:
    async with AsyncSession(engine) as session:
        return await _actions(session)


def _the_one_that_ran(responses: list[httpx.Response]) -> httpx.Response:
    """Of two identical keyed requests sent at once, the one that ran; the other was refused as
    in use or replayed the first one's answer."""
    winner, other = sorted(
        responses,
        key=lambda response: (
            response.status_code == 409 or "idempotent-replayed" in response.headers
        ),
    )
    if other.status_code == 409:
        assert_problem(other, status=409, code="idempotency_key_in_use")
    else:
        assert_replay_of(other, winner)
    return winner


async def test_two_identical_keyed_registrations_at_once_store_one_appeal(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    body = appeal_body()

    responses = await asyncio.gather(
        *(race_track.client.post("/v1/appeals", json=body, headers=_keyed(auth())) for _ in "ab")
    )

    winner = _the_one_that_ran(responses)
    assert winner.status_code == 201, winner.text
    counts = await _committed_counts(race_track.engine)
    assert (counts["Appeal"], counts["AppealHistory"], counts["IdempotencyRecord"]) == (1, 1, 1)
    assert counts["AuditEntry"] == 1  # no register_repeated: the key, not the reference, decided


async def _claim_in_flight(engine: AsyncEngine, *, expires_at: dt.datetime) -> None:
    """A claim of KEY for NAV Stavanger's registrations, as a request still running (or one
    that crashed) leaves it: committed, in flight, no answer."""
    async with AsyncSession(engine) as session, session.begin():
        session.add(
            IdempotencyRecord(
                organisation=f"0192:{NAV_STAVANGER_ORG}",
                request_target="POST /v1/appeals",
                key=KEY,
                request_hash="0" * 64,
                state=IdempotencyState.in_flight,
                claim_token=uuid.uuid4(),
                created_at=expires_at - dt.timedelta(seconds=60),
                expires_at=expires_at,
            )
        )


async def test_a_key_still_being_processed_is_refused_while_its_claim_lasts(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    body = appeal_body()
    await _claim_in_flight(race_track.engine, expires_at=NOW + dt.timedelta(seconds=1))

    async with asyncio.timeout(10):  # refused at once, not queued behind the holder
        busy = await race_track.client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    assert_problem(busy, status=409, code="idempotency_key_in_use")
    counts = await _committed_counts(race_track.engine)
    assert {**counts, "IdempotencyRecord": 0} == dict.fromkeys(counts, 0)
    assert counts["IdempotencyRecord"] == 1  # the holder's claim, untouched


async def test_a_crashed_claim_expires_and_the_retry_runs(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    body = appeal_body()
    await _claim_in_flight(race_track.engine, expires_at=NOW)  # its request never came back

    retry = await race_track.client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    async with AsyncSession(race_track.engine) as session:
        record = (await session.scalars(select(IdempotencyRecord))).one()
    assert (record.state, record.response_status) == (IdempotencyState.completed, 201)
    replay = await race_track.client.post("/v1/appeals", json=body, headers=_keyed(auth()))
    assert_replay_of(replay, retry)
    assert (await _committed_counts(race_track.engine))["Appeal"] == 1


@dataclass
class _Upload:
    """A keyed upload of a PDF to a new appeal: where it goes and what it sends."""

    path: str
    content: bytes
    headers: dict[str, str]


async def _keyed_upload(client: httpx.AsyncClient, headers: dict[str, str], key: str) -> _Upload:
    appeal = await _register(client, headers)
    content = b"%PDF-1.7\n" + b"x" * 5000
    return _Upload(
        path=f"/v1/appeals/{appeal['id']}/documents?category=appeal&title=Klage",
        content=content,
        headers=_keyed(
            headers,
            key,
            **{"Content-Type": "application/pdf", "Content-Digest": content_digest(content)},
        ),
    )


async def _stalled(
    client: httpx.AsyncClient, upload: _Upload
) -> tuple[asyncio.Task[httpx.Response], asyncio.Event]:
    """The upload sent with its first ten bytes, its client waiting for the event before the
    rest; returns once the ten bytes are in."""
    started, release = asyncio.Event(), asyncio.Event()

    async def trickle() -> Any:
        yield upload.content[:10]
        started.set()
        await release.wait()
        yield upload.content[10:]

    sent = asyncio.create_task(client.post(upload.path, content=trickle(), headers=upload.headers))
    await started.wait()
    return sent, release


async def test_no_connection_is_held_while_a_keyed_request_waits(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    # A keyed upload whose client stalls: its key is claimed by a committed row, and neither
    # the claim nor the request holds a connection (or a transaction) while it waits.
    upload = await _keyed_upload(race_track.client, auth(), "upload-1")
    sent, release = await _stalled(race_track.client, upload)
    await asyncio.sleep(0.2)
    async with AsyncSession(race_track.engine) as session:
        target = f"POST {upload.path.split('?')[0]}"
        record = await session.get(
            IdempotencyRecord, (f"0192:{NAV_STAVANGER_ORG}", target, "upload-1")
        )
        assert record is not None and record.state is IdempotencyState.in_flight
        busy = await race_track.client.post(
            upload.path, content=upload.content, headers=upload.headers
        )
        assert_problem(busy, status=409, code="idempotency_key_in_use")
        held = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        )
    assert held == 0
    release.set()
    first = await sent
    assert first.status_code == 201, first.text
    replay = await race_track.client.post(
        upload.path, content=upload.content, headers=upload.headers
    )
    assert_replay_of(replay, first)


async def test_a_request_whose_claim_expired_and_was_taken_stores_nothing(
    race_track: CommittedApp, auth: AuthHeaders, settings: Settings
) -> None:
    # A slow upload outlives its claim; a retry with the same key takes the claim over and
    # completes. The first, finishing after, answers 409 and stores nothing: one document.
    upload = await _keyed_upload(race_track.client, auth(), "slow-1")
    first, release = await _stalled(race_track.client, upload)
    clock: FixedClock = race_track.app.state.clock
    clock.advance(dt.timedelta(seconds=settings.idempotency_claim_seconds))

    retry = await race_track.client.post(
        upload.path, content=upload.content, headers=upload.headers
    )
    release.set()
    late = await first

    assert retry.status_code == 201, retry.text
    assert_problem(late, status=409, code="idempotency_key_in_use")
    async with AsyncSession(race_track.engine) as session:
        assert await count(session, Document) == 1
        record = (await session.scalars(select(IdempotencyRecord))).all()
    assert [(r.key, r.state, r.response_status) for r in record if r.key == "slow-1"] == [
        ("slow-1", IdempotencyState.completed, 201)
    ]
    replay = await race_track.client.post(
        upload.path, content=upload.content, headers=upload.headers
    )
    assert_replay_of(replay, retry)


async def test_two_identical_keyed_nav_reviews_at_once_make_one_transition(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    appeal = await _register(race_track.client, auth())
    path = f"/v1/appeals/{appeal['id']}/nav-review"

    responses = await asyncio.gather(
        *(race_track.client.post(path, headers=_keyed(auth())) for _ in "ab")
    )

    winner = _the_one_that_ran(responses)
    assert winner.status_code == 200, winner.text
    assert winner.json()["status"] == "under_nav_review"
    assert await _committed_actions(race_track.engine) == ["register", "start_nav_review"]


# The contract


@pytest.mark.parametrize(
    ("path", "operation_id"),
    [
        ("/v1/appeals", "register_appeal"),
        ("/v1/appeals/{appeal_id}/nav-review", "start_nav_review"),
        ("/v1/appeals/{appeal_id}/nav-outcome", "record_nav_outcome"),
        ("/v1/appeals/{appeal_id}/withdrawal", "withdraw_appeal"),
        ("/v1/appeals/{appeal_id}/preliminary-replies", "add_preliminary_reply"),
    ],
)
def test_openapi_declares_the_idempotency_key_header(path: str, operation_id: str) -> None:
    operation = openapi_document()["paths"][path]["post"]

    assert operation["operationId"] == operation_id
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert headers["idempotency-key"]["required"] is False
    assert headers["idempotency-key"]["schema"]["anyOf"][0]["type"] == "string"
    assert {"409", "422"} <= set(operation["responses"])


async def test_an_upload_with_a_key_and_its_digest_is_replayed_not_stored_twice(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    upload = await _keyed_upload(client, auth(), KEY)

    first = await client.post(upload.path, content=upload.content, headers=upload.headers)
    again = await client.post(upload.path, content=upload.content, headers=upload.headers)

    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await count(session, Document) == 1


async def test_an_upload_with_a_key_but_no_digest_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await _register(client, auth())
    headers = _keyed(auth(), **{"Content-Type": "application/pdf"})

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/documents?category=appeal&title=Klage",
        content=b"%PDF-1.7\n",
        headers=headers,
    )

    assert_problem(response, status=400, code="content_digest_required")
    assert await count(session, Document) == 0


# Operations taking an Idempotency-Key, with and without a body of their own.
_KEYED_TARGETS = {
    "no body": "/v1/webhook-subscriptions/{id}/secret-rotation",
    "no body, two ids": "/v1/webhook-subscriptions/{id}/deliveries/{id}/redelivery",
    "optional body": "/v1/appeals/{id}/nav-review",
    "body": "/v1/appeals",
}


@hypothesis.settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    depth=st.integers(min_value=1, max_value=50_000),
    opening=st.sampled_from(["[", '{"a":']),
    closed=st.booleans(),
    target=st.sampled_from(sorted(_KEYED_TARGETS)),
)
async def test_a_keyed_request_with_deeply_nested_json_is_refused_or_served_never_a_500(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    depth: int,
    opening: str,
    closed: bool,
    target: str,
) -> None:
    closing = ("]" if opening == "[" else "1}") * depth if closed else ""
    body = (opening * depth + closing).encode()
    path = _KEYED_TARGETS[target].replace("{id}", str(uuid.uuid4()))
    headers = _keyed(auth(), **{"Content-Type": "application/json"})
    before = await _counts(session)

    response = await client.post(path, content=body, headers=headers)

    assert response.status_code in {400, 404, 422}, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await _counts(session) == before


async def test_a_replay_is_audited_in_a_committed_database_too(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    # Outside the test harness: the request's own transaction is rolled back when the replay is
    # raised through it, and the audit entry is written in one of its own.
    body = appeal_body()
    first = await race_track.client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    replay = await race_track.client.post("/v1/appeals", json=body, headers=_keyed(auth()))

    assert_replay_of(replay, first)
    async with AsyncSession(race_track.engine) as session:
        assert await _audit_actions(session) == ["appeal.register", "appeal.replayed"]
