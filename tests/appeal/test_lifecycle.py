"""NAV's steps on an appeal over HTTP: review, outcome, withdrawal, preliminary reply; what each
step stores (status, version, history, events, audit) and what each refusal leaves untouched."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import lifecycle
from klageapi.appeal.errors import TransitionNotAllowed
from klageapi.core.auth import Organisation
from klageapi.core.clock import FixedClock
from klageapi.models import Appeal, AppealHistory, AppealStatus, AuditEntry, Event
from tests.conftest import (
    NAV_OSLO_ORG,
    NAV_STAVANGER_ORG,
    NOW,
    OTHER_ORG,
    SF_ROGALAND_ORG,
    CommittedApp,
)
from tests.factories import NATIONAL_ID, appeal_body, count, make_appeal

AuthHeaders = Callable[..., dict[str, str]]

STAVANGER = "0192:977777771"
READ_ONLY = "klageapi:read"
EARLIER = NOW - dt.timedelta(days=10)

S = AppealStatus


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What a refused request must leave as it was."""

    status: AppealStatus
    version: int
    history: int
    events: int
    audit: int


async def snapshot(session: AsyncSession, appeal_id: uuid.UUID) -> Snapshot:
    # Column queries, not the identity map: the database as it is now.
    row = (
        await session.execute(select(Appeal.status, Appeal.version).where(Appeal.id == appeal_id))
    ).one()
    history = await session.scalar(select(func.count()).where(AppealHistory.appeal_id == appeal_id))
    events = await session.scalar(select(func.count()).where(Event.appeal_id == appeal_id))
    audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return Snapshot(row.status, row.version, int(history or 0), int(events or 0), int(audit or 0))


async def register(
    client: httpx.AsyncClient, auth: AuthHeaders, **overrides: Any
) -> dict[str, Any]:
    """An appeal registered over HTTP, reported as received ten days before the clock's now."""
    overrides.setdefault("occurred_at", EARLIER.isoformat())
    response = await client.post("/v1/appeals", json=appeal_body(**overrides), headers=auth())
    assert response.status_code == 201, response.text
    appeal: dict[str, Any] = response.json()
    return appeal


async def under_review(client: httpx.AsyncClient, auth: AuthHeaders) -> dict[str, Any]:
    appeal = await register(client, auth)
    response = await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())
    assert response.status_code == 200, response.text
    reviewed: dict[str, Any] = response.json()
    return reviewed


async def stored_appeal(session: AsyncSession, status: AppealStatus, **overrides: Any) -> Appeal:
    """An appeal stored directly in `status`; forwarded ones (and later) with `forwarded_at`.

    The factory stamps its history row with the real time, which may be later than the fixed
    clock; here it is moved to EARLIER so that steps after it are in order."""
    forwarded = status not in (S.received, S.under_nav_review, S.closed_by_nav)
    overrides.setdefault("forwarded_at", EARLIER if forwarded else None)
    appeal = await make_appeal(
        session,
        status=status,
        status_changed_at=EARLIER,
        created_at=EARLIER,
        updated_at=EARLIER,
        **overrides,
    )
    await session.execute(
        update(AppealHistory)
        .where(AppealHistory.appeal_id == appeal.id)
        .values(occurred_at=EARLIER, recorded_at=EARLIER)
    )
    return appeal


async def history_of(session: AsyncSession, appeal_id: uuid.UUID | str) -> list[AppealHistory]:
    query = (
        select(AppealHistory)
        .where(AppealHistory.appeal_id == uuid.UUID(str(appeal_id)))
        .order_by(AppealHistory.id)
    )
    return list((await session.scalars(query)).all())


async def events_of(session: AsyncSession, appeal_id: uuid.UUID | str) -> list[Event]:
    query = select(Event).where(Event.appeal_id == uuid.UUID(str(appeal_id))).order_by(Event.id)
    return list((await session.scalars(query)).all())


async def audit_of(session: AsyncSession, appeal_id: uuid.UUID | str) -> list[tuple[str, str]]:
    query = (
        select(AuditEntry.action, AuditEntry.actor_organisation)
        .where(AuditEntry.appeal_id == uuid.UUID(str(appeal_id)))
        .order_by(AuditEntry.id)
    )
    return [(action, actor or "") for action, actor in (await session.execute(query)).all()]


async def refused_step(
    client: httpx.AsyncClient,
    session: AsyncSession,
    appeal_id: uuid.UUID | str,
    step: str,
    **options: Any,
) -> httpx.Response:
    """A step that must be refused: posted to the appeal, and checked to have left it as it
    was."""
    appeal = uuid.UUID(str(appeal_id))
    before = await snapshot(session, appeal)
    response = await client.post(f"/v1/appeals/{appeal}/{step}", **options)
    assert await snapshot(session, appeal) == before
    return response


def outcome_body(outcome: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "outcome": outcome,
        "decided_on": "2026-11-02",
        "reasoning": "Vedtaket var riktig.",
    }
    body.update(overrides)
    return body


# -- registration ----------------------------------------------------------------------------


async def test_registration_writes_history_and_an_appeal_received_event(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)

    [entry] = await history_of(session, appeal["id"])
    assert (entry.action, entry.from_status, entry.to_status) == ("register", None, S.received)
    assert (entry.actor_organisation, entry.occurred_at, entry.recorded_at) == (
        STAVANGER,
        EARLIER,
        NOW,
    )
    [event] = await events_of(session, appeal["id"])
    assert (event.type, event.status, event.statsforvalter_visible) == (
        "appeal.received",
        "received",
        False,
    )
    assert (event.nav_office_unit_number, event.statsforvalter_office_id) == ("1103", "sf-rogaland")


# -- nav-review ------------------------------------------------------------------------------


async def test_start_nav_review_moves_received_to_under_nav_review(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)

    response = await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "under_nav_review"
    assert body["nav_status"] == "UNDER_BEHANDLING"
    assert body["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert dt.datetime.fromisoformat(body["status_changed_at"]) == NOW
    assert dt.datetime.fromisoformat(body["updated_at"]) == NOW


async def test_start_nav_review_takes_an_empty_object_as_no_body(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)

    response = await client.post(f"/v1/appeals/{appeal['id']}/nav-review", json={}, headers=auth())

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "under_nav_review"


async def test_start_nav_review_with_a_null_body_is_a_validation_failure(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    """The step's body is optional (the contract says: leave it out, or send the object); a
    JSON null is neither, as for every other body."""
    appeal = await register(client, auth)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-review",
        content=b"null",
        headers={**auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert [e.action for e in await history_of(session, appeal["id"])] == ["register"]


async def test_start_nav_review_appends_one_history_row_with_the_actor(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)

    await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())

    entries = await history_of(session, appeal["id"])
    assert [(e.action, e.from_status, e.to_status) for e in entries] == [
        ("register", None, S.received),
        ("start_nav_review", S.received, S.under_nav_review),
    ]
    step = entries[-1]
    assert (step.actor_organisation, step.actor_supplier) == (STAVANGER, None)
    assert (step.occurred_at, step.recorded_at) == (NOW, NOW)


async def test_a_supplier_acting_for_the_office_is_recorded_as_such(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    supplier = {"authority": "iso6523-actorid-upis", "ID": "0192:912345670"}

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-review", headers=auth(supplier=supplier)
    )

    assert response.status_code == 200, response.text
    step = (await history_of(session, appeal["id"]))[-1]
    assert (step.actor_organisation, step.actor_supplier) == (STAVANGER, "0192:912345670")
    audit = (
        await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "appeal.start_nav_review")
        )
    ).one()
    assert (audit.actor_organisation, audit.actor_supplier) == (STAVANGER, "0192:912345670")


async def test_start_nav_review_writes_a_status_changed_event(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)

    await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())

    events = await events_of(session, appeal["id"])
    assert [event.type for event in events] == ["appeal.received", "appeal.status_changed"]
    changed = events[-1]
    assert changed.status == "under_nav_review"
    assert changed.statsforvalter_visible is False
    assert changed.data == {"action": "start_nav_review", "from_status": "received"}
    assert (changed.occurred_at, changed.recorded_at) == (NOW, NOW)


async def test_start_nav_review_is_audited_as_its_response_carries_the_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)

    await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())

    assert await audit_of(session, appeal["id"]) == [
        ("appeal.register", STAVANGER),
        ("appeal.start_nav_review", STAVANGER),
    ]


# -- nav-outcome -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "klage_outcome"), [("full_reversal", "MEDHOLD"), ("dismissed", "AVVIST")]
)
async def test_full_reversal_or_dismissal_closes_the_appeal_at_nav(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    outcome: str,
    klage_outcome: str,
) -> None:
    appeal = await under_review(client, auth)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-outcome",
        json=outcome_body(outcome),
        headers={**auth(), "If-Match": '"2"'},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["nav_status"], body["version"]) == (
        "closed_by_nav",
        "FERDIGBEHANDLET",
        3,
    )
    assert response.headers["etag"] == '"3"'
    assert (body["nav_outcome"], body["nav_klage_outcome"]) == (outcome, klage_outcome)
    assert (body["nav_outcome_on"], body["nav_reasoning"]) == ("2026-11-02", "Vedtaket var riktig.")
    history = await history_of(session, appeal["id"])
    assert [entry.action for entry in history] == ["register", "start_nav_review", "close_by_nav"]
    step = history[-1]
    assert (step.action, step.from_status, step.to_status) == (
        "close_by_nav",
        S.under_nav_review,
        S.closed_by_nav,
    )
    assert step.details == {"outcome": outcome, "decided_on": "2026-11-02"}
    events = await events_of(session, appeal["id"])
    assert [(e.type, e.status) for e in events][-2:] == [
        ("appeal.nav_outcome_recorded", "closed_by_nav"),
        ("appeal.status_changed", "closed_by_nav"),
    ]
    assert len(events) == 4


@pytest.mark.parametrize(
    ("outcome", "klage_outcome"),
    [("upheld", "OPPRETTHOLDT"), ("partial_reversal", "DELVIS_MEDHOLD")],
)
async def test_upheld_or_partial_reversal_keeps_the_appeal_under_nav_review(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    outcome: str,
    klage_outcome: str,
) -> None:
    appeal = await under_review(client, auth)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-outcome",
        json=outcome_body(outcome, decided_on="2026-10-30", reasoning="Delvis enig."),
        headers={**auth(), "If-Match": '"2"'},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["nav_status"], body["version"]) == (
        "under_nav_review",
        "UNDER_BEHANDLING",
        3,
    )
    assert (body["nav_outcome"], body["nav_klage_outcome"]) == (outcome, klage_outcome)
    assert (body["nav_outcome_on"], body["nav_reasoning"]) == ("2026-10-30", "Delvis enig.")
    stored = (
        await session.execute(
            select(Appeal.nav_outcome, Appeal.nav_outcome_on, Appeal.nav_reasoning).where(
                Appeal.id == uuid.UUID(appeal["id"])
            )
        )
    ).one()
    assert tuple(stored) == (outcome, dt.date(2026, 10, 30), "Delvis enig.")
    history = await history_of(session, appeal["id"])
    assert len(history) == 3
    step = history[-1]
    assert (step.action, step.from_status, step.to_status) == (
        "record_nav_outcome",
        S.under_nav_review,
        S.under_nav_review,
    )
    # Announced; no status changed, so no status_changed event.
    assert [e.type for e in await events_of(session, appeal["id"])] == [
        "appeal.received",
        "appeal.status_changed",
        "appeal.nav_outcome_recorded",
    ]


async def test_nav_outcome_refuses_a_weak_etag_and_matches_a_list_of_strong_ones(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)
    path = f"/v1/appeals/{appeal['id']}/nav-outcome"

    # RFC 9110 section 13.1.1: If-Match compares strongly, and a weak tag never matches.
    weak = await client.post(
        path, json=outcome_body("upheld"), headers={**auth(), "If-Match": 'W/"2"'}
    )
    weak_in_a_list = await client.post(
        path, json=outcome_body("upheld"), headers={**auth(), "If-Match": '"1", W/"2"'}
    )
    assert (weak.status_code, weak.json()["code"]) == (412, "precondition_failed")
    assert weak_in_a_list.status_code == 412
    assert len(await history_of(session, appeal["id"])) == 2  # nothing was recorded

    strong_list = await client.post(
        path, json=outcome_body("upheld"), headers={**auth(), "If-Match": '"1", "2"'}
    )

    assert strong_list.status_code == 200, strong_list.text


# Header values as a client may send them: any latin-1 text (what HTTP carries), and lists of
# entity tags, weak or strong, of characters Python calls digits though they are not ASCII.
_DIGITS_OF_ALL_KINDS = st.sampled_from("0123456789²³¹¼½¾")
_LATIN_1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
_TAGS = st.builds(
    lambda weak, quoted, body: ("W/" if weak else "") + (f'"{body}"' if quoted else body),
    st.booleans(),
    st.booleans(),
    st.text(alphabet=st.one_of(_DIGITS_OF_ALL_KINDS, _LATIN_1), max_size=12),
)
_IF_MATCH = st.one_of(
    st.lists(_TAGS, min_size=1, max_size=3).map(", ".join),
    st.text(alphabet=st.one_of(_DIGITS_OF_ALL_KINDS, _LATIN_1), max_size=30),
)


@hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(if_match=_IF_MATCH)
@hypothesis.example(if_match='"²"')
@hypothesis.example(if_match='"½", "2"')
async def test_if_match_is_a_strong_tag_of_ascii_digits_or_refused_never_a_500(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, if_match: str
) -> None:
    hypothesis.assume(if_match.strip() not in {"", "*", '"2"'})
    hypothesis.assume(if_match == if_match.strip())
    appeal = await under_review(client, auth)
    # The current version, strongly, as the only way through: any list holding "2" matches.
    matches = '"2"' in [tag.strip() for tag in if_match.split(",")]

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-outcome",
        json=outcome_body("upheld"),
        headers={**auth(), "If-Match": if_match.encode("latin-1")},  # type: ignore[dict-item]
    )

    if matches:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 412, response.text
        assert response.json()["code"] == "precondition_failed"
        assert len(await history_of(session, appeal["id"])) == 2


async def test_nav_outcome_is_audited(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)

    await client.post(
        f"/v1/appeals/{appeal['id']}/nav-outcome",
        json=outcome_body("upheld"),
        headers={**auth(), "If-Match": '"2"'},
    )

    assert [action for action, _ in await audit_of(session, appeal["id"])][-1] == (
        "appeal.nav_outcome"
    )


@pytest.mark.parametrize(
    ("if_match", "status", "code"),
    [
        (None, 428, "precondition_required"),
        ('"1"', 412, "precondition_failed"),
        ("version-two", 412, "precondition_failed"),
    ],
    ids=["without If-Match", "with a stale ETag", "with an If-Match that is no ETag"],
)
async def test_nav_outcome_without_the_current_etag_is_refused(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    if_match: str | None,
    status: int,
    code: str,
) -> None:
    appeal = await under_review(client, auth)
    headers = auth() if if_match is None else {**auth(), "If-Match": if_match}

    response = await refused_step(
        client, session, appeal["id"], "nav-outcome", json=outcome_body("upheld"), headers=headers
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    if if_match == '"1"':  # a stale ETag is told the current one
        assert problem["current_etag"] == '"2"'


async def test_nav_outcome_on_a_received_appeal_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)

    response = await refused_step(
        client,
        session,
        appeal["id"],
        "nav-outcome",
        json=outcome_body("upheld"),
        headers={**auth(), "If-Match": '"1"'},
    )

    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "transition_not_allowed"
    assert problem["current_status"] == "received"
    assert problem["allowed_actions"] == ["preliminary_reply", "start_nav_review", "withdraw"]


async def test_nav_outcome_on_an_appeal_closed_by_nav_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)
    closed = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-outcome",
        json=outcome_body("full_reversal"),
        headers={**auth(), "If-Match": '"2"'},
    )
    assert closed.status_code == 200

    response = await refused_step(
        client,
        session,
        appeal["id"],
        "nav-outcome",
        json=outcome_body("upheld"),
        headers={**auth(), "If-Match": '"3"'},
    )

    assert response.status_code == 409
    assert response.json()["current_status"] == "closed_by_nav"
    assert response.json()["allowed_actions"] == []


# -- withdrawal ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        S.received,
        S.under_nav_review,
        S.forwarded,
        S.received_by_statsforvalter,
        S.under_statsforvalter_review,
        S.awaiting_documentation,
    ],
)
async def test_an_open_appeal_can_be_withdrawn(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, status: AppealStatus
) -> None:
    appeal = await stored_appeal(session, status)

    response = await client.post(f"/v1/appeals/{appeal.id}/withdrawal", headers=auth())

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["nav_status"], body["version"]) == ("withdrawn", "TRUKKET", 2)
    assert response.headers["etag"] == '"2"'
    history = await history_of(session, appeal.id)
    assert len(history) == 2
    step = history[-1]
    assert (step.action, step.from_status, step.to_status, step.actor_organisation) == (
        "withdraw",
        status,
        S.withdrawn,
        STAVANGER,
    )
    events = await events_of(session, appeal.id)
    assert [(e.type, e.status) for e in events] == [
        ("appeal.withdrawn", "withdrawn"),
        ("appeal.status_changed", "withdrawn"),
    ]
    # Once forwarded, the Statsforvalter office is party to the appeal and sees its events.
    assert {e.statsforvalter_visible for e in events} == {
        status not in (S.received, S.under_nav_review)
    }
    assert await audit_of(session, appeal.id) == [("appeal.withdraw", STAVANGER)]


async def test_withdrawal_over_http_after_review_started(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/withdrawal", headers={**auth(), "If-Match": '"2"'}
    )

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 3
    assert [e.type for e in await events_of(session, appeal["id"])] == [
        "appeal.received",
        "appeal.status_changed",
        "appeal.withdrawn",
        "appeal.status_changed",
    ]


@pytest.mark.parametrize("status", [S.decided, S.closed_by_nav, S.withdrawn])
async def test_a_closed_appeal_cannot_be_withdrawn(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, status: AppealStatus
) -> None:
    appeal = await stored_appeal(session, status)

    response = await refused_step(client, session, appeal.id, "withdrawal", headers=auth())

    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "transition_not_allowed"
    assert problem["current_status"] == status.value
    assert problem["allowed_actions"] == []


@pytest.mark.parametrize("status", [S.decided, S.withdrawn])
@pytest.mark.parametrize("path", ["nav-review", "preliminary-replies"])
async def test_a_decided_or_withdrawn_appeal_cannot_be_changed_again(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    status: AppealStatus,
    path: str,
) -> None:
    appeal = await stored_appeal(session, status)

    body = {"expected_decision_on": "2026-12-01"} if path == "preliminary-replies" else None
    response = await refused_step(client, session, appeal.id, path, json=body, headers=auth())

    assert response.status_code == 409
    assert response.json()["current_status"] == status.value


async def test_withdrawal_with_a_stale_if_match_is_refused_with_412(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)

    response = await refused_step(
        client, session, appeal["id"], "withdrawal", headers={**auth(), "If-Match": '"1"'}
    )

    assert response.status_code == 412


# -- preliminary replies ---------------------------------------------------------------------


async def test_preliminary_reply_keeps_the_status_and_stores_the_expected_date(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/preliminary-replies",
        json={"expected_decision_on": "2027-01-15"},
        headers=auth(),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["version"], body["expected_decision_on"]) == (
        "under_nav_review",
        3,
        "2027-01-15",
    )
    assert response.headers["etag"] == '"3"'
    assert dt.datetime.fromisoformat(body["status_changed_at"]) == NOW  # the review's start
    history = await history_of(session, appeal["id"])
    assert len(history) == 3
    step = history[-1]
    assert (step.action, step.from_status, step.to_status) == (
        "preliminary_reply",
        S.under_nav_review,
        S.under_nav_review,
    )
    assert step.details == {"expected_decision_on": "2027-01-15"}
    events = await events_of(session, appeal["id"])
    assert [e.type for e in events][2:] == ["appeal.preliminary_reply"]
    assert (events[-1].status, events[-1].statsforvalter_visible) == ("under_nav_review", False)
    assert [action for action, _ in await audit_of(session, appeal["id"])][-1] == (
        "appeal.preliminary_reply"
    )


async def test_preliminary_reply_expecting_a_decision_today_is_accepted(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/preliminary-replies",
        json={"expected_decision_on": "2026-11-02"},
        headers=auth(),
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    assert response.json()["expected_decision_on"] == "2026-11-02"


async def test_preliminary_reply_expecting_a_decision_in_the_past_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)

    response = await refused_step(
        client,
        session,
        appeal["id"],
        "preliminary-replies",
        json={"expected_decision_on": "2026-11-01"},
        headers=auth(),
    )

    assert response.status_code == 422
    problem = response.json()
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("expected_decision_on", "date_in_past")
    ]
    stored = await session.scalar(
        select(Appeal.expected_decision_on).where(Appeal.id == uuid.UUID(appeal["id"]))
    )
    assert stored is None


async def test_preliminary_reply_judges_the_past_by_the_norwegian_date(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    appeal = await register(client, auth)
    clock.advance(dt.timedelta(hours=14))  # 23:30 UTC on 2 November: 00:30 on 3 November in Oslo

    response = await refused_step(
        client,
        session,
        appeal["id"],
        "preliminary-replies",
        json={"expected_decision_on": "2026-11-02"},
        headers=auth(),
    )

    assert response.status_code == 422


async def test_a_later_preliminary_reply_replaces_the_expected_date(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)
    path = f"/v1/appeals/{appeal['id']}/preliminary-replies"
    await client.post(path, json={"expected_decision_on": "2026-12-01"}, headers=auth())

    response = await client.post(path, json={"expected_decision_on": "2027-02-01"}, headers=auth())

    assert response.json()["expected_decision_on"] == "2027-02-01"
    assert response.json()["version"] == 3


async def test_statsforvalter_may_send_a_preliminary_reply_on_a_forwarded_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await stored_appeal(session, S.under_statsforvalter_review)

    response = await client.post(
        f"/v1/appeals/{appeal.id}/preliminary-replies",
        json={"expected_decision_on": "2027-01-15"},
        headers=auth(org=SF_ROGALAND_ORG),
    )

    assert response.status_code == 200, response.text
    step = (await history_of(session, appeal.id))[-1]
    assert (step.action, step.actor_organisation) == ("preliminary_reply", "0192:922222223")
    [event] = await events_of(session, appeal.id)
    assert (event.type, event.statsforvalter_visible) == ("appeal.preliminary_reply", True)


# -- nav_status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "nav_status"),
    [
        (S.received, "MOTTATT"),
        (S.under_nav_review, "UNDER_BEHANDLING"),
        (S.closed_by_nav, "FERDIGBEHANDLET"),
        (S.forwarded, "VIDERESENDT"),
        (S.received_by_statsforvalter, "UNDER_BEHANDLING"),
        (S.under_statsforvalter_review, "UNDER_BEHANDLING"),
        (S.awaiting_documentation, "UNDER_BEHANDLING"),
        (S.decided, "FERDIGBEHANDLET"),
        (S.withdrawn, "TRUKKET"),
    ],
)
async def test_every_status_maps_to_nav_klage_status(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    status: AppealStatus,
    nav_status: str,
) -> None:
    appeal = await stored_appeal(session, status)

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=auth(scope=READ_ONLY))

    assert (response.json()["status"], response.json()["nav_status"]) == (status.value, nav_status)


# -- no personal data in events ---------------------------------------------------------------


async def test_no_event_of_a_whole_lifecycle_carries_the_national_id(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)
    path = f"/v1/appeals/{appeal['id']}"
    await client.post(
        f"{path}/preliminary-replies", json={"expected_decision_on": "2027-01-15"}, headers=auth()
    )
    await client.post(
        f"{path}/nav-outcome", json=outcome_body("upheld"), headers={**auth(), "If-Match": '"3"'}
    )
    await client.post(f"{path}/withdrawal", headers=auth())

    events = await events_of(session, appeal["id"])
    assert [e.type for e in events] == [
        "appeal.received",
        "appeal.status_changed",
        "appeal.preliminary_reply",
        "appeal.nav_outcome_recorded",
        "appeal.withdrawn",
        "appeal.status_changed",
    ]
    for event in events:
        for column in Event.__table__.columns:
            assert NATIONAL_ID not in str(getattr(event, column.key)), column.key


# -- refusals --------------------------------------------------------------------------------

STEPS: list[tuple[str, dict[str, Any] | None, dict[str, str]]] = [
    ("nav-review", None, {}),
    ("nav-outcome", outcome_body("upheld"), {"If-Match": '"1"'}),
    ("withdrawal", None, {}),
    ("preliminary-replies", {"expected_decision_on": "2027-01-15"}, {}),
]
STEP_IDS = [path for path, _, _ in STEPS]


@dataclass(frozen=True)
class Caller:
    """Who takes a step on a new appeal of NAV Stavanger's, and the refusal it gets."""

    token: dict[str, str]
    """The keyword arguments of the caller's token (`auth`)."""
    status: int
    code: str
    unknown: bool = False
    """The step is sent to an appeal id that does not exist."""


CALLERS = {
    "on an unknown appeal": Caller({}, 404, "appeal_not_found", unknown=True),
    "by another office": Caller({"org": NAV_OSLO_ORG}, 404, "appeal_not_found"),
    "by another organisation": Caller({"org": OTHER_ORG}, 404, "appeal_not_found"),
    "by the statsforvalter before forwarding": Caller(
        {"org": SF_ROGALAND_ORG}, 404, "appeal_not_found"
    ),
    "with a read-only token": Caller({"scope": READ_ONLY}, 403, "insufficient_scope"),
}


@pytest.mark.parametrize(("path", "body", "headers"), STEPS, ids=STEP_IDS)
@pytest.mark.parametrize("caller", CALLERS.values(), ids=CALLERS.keys())
async def test_a_step_the_caller_may_not_take_is_refused(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    caller: Caller,
) -> None:
    appeal = await register(client, auth)
    before = await snapshot(session, uuid.UUID(appeal["id"]))
    appeal_id = uuid.uuid4() if caller.unknown else appeal["id"]

    response = await client.post(
        f"/v1/appeals/{appeal_id}/{path}", json=body, headers={**auth(**caller.token), **headers}
    )

    assert response.status_code == caller.status
    assert response.json()["code"] == caller.code
    assert await snapshot(session, uuid.UUID(appeal["id"])) == before


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [step for step in STEPS if step[0] != "preliminary-replies"],
    ids=[path for path in STEP_IDS if path != "preliminary-replies"],
)
async def test_statsforvalter_may_not_take_navs_steps_on_an_appeal_forwarded_to_it(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    session: AsyncSession,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
) -> None:
    appeal = await stored_appeal(session, S.forwarded)

    response = await refused_step(
        client,
        session,
        appeal.id,
        path,
        json=body,
        headers={**auth(org=SF_ROGALAND_ORG), **headers},
    )

    assert response.status_code == 403
    assert response.json()["code"] == "not_permitted_for_role"


async def test_starting_the_review_twice_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await under_review(client, auth)

    response = await refused_step(client, session, appeal["id"], "nav-review", headers=auth())

    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "transition_not_allowed"
    assert problem["current_status"] == "under_nav_review"
    assert problem["allowed_actions"] == [
        "close_by_nav",
        "forward",
        "preliminary_reply",
        "record_nav_outcome",
        "withdraw",
    ]


async def test_starting_the_review_of_a_forwarded_appeal_is_refused_with_409(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await stored_appeal(session, S.forwarded)

    response = await refused_step(client, session, appeal.id, "nav-review", headers=auth())

    assert response.status_code == 409
    assert response.json()["current_status"] == "forwarded"


# -- occurred_at -----------------------------------------------------------------------------


async def test_a_step_reported_late_keeps_when_it_happened_and_when_it_was_recorded(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    happened = NOW - dt.timedelta(days=3, hours=2)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-review",
        json={"occurred_at": happened.isoformat()},
        headers=auth(),
    )

    assert response.status_code == 200, response.text
    assert dt.datetime.fromisoformat(response.json()["status_changed_at"]) == happened
    step = (await history_of(session, appeal["id"]))[-1]
    assert (step.occurred_at, step.recorded_at) == (happened, NOW)
    event = (await events_of(session, appeal["id"]))[-1]
    assert (event.occurred_at, event.recorded_at) == (happened, NOW)


async def test_a_step_at_the_same_moment_as_the_previous_one_is_accepted(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal = await register(client, auth)

    response = await client.post(
        f"/v1/appeals/{appeal['id']}/nav-review",
        json={"occurred_at": EARLIER.isoformat()},
        headers=auth(),
    )

    assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Invalid:
    """A step whose body is refused with 422, naming one field (and why, where given)."""

    path: str
    body: dict[str, Any]
    field: str
    type: str | None = None
    code: str | None = None
    reviewed: bool = False
    """Taken on an appeal under NAV's review (If-Match "2"), not on a received one."""


INVALID = {
    "an outcome not in the enum": Invalid(
        "nav-outcome", outcome_body("MEDHOLD"), "outcome", code="validation_failed", reviewed=True
    ),
    "an outcome decided in the future": Invalid(
        "nav-outcome",
        outcome_body("full_reversal", decided_on="2026-11-03"),
        "decided_on",
        "date_in_future",
        reviewed=True,
    ),
    "a step in the future": Invalid(
        "nav-review",
        {"occurred_at": (NOW + dt.timedelta(minutes=1)).isoformat()},
        "occurred_at",
        "in_future",
    ),
    "a step before the previous step": Invalid(
        "withdrawal",
        {"occurred_at": (EARLIER - dt.timedelta(seconds=1)).isoformat()},
        "occurred_at",
        "before_previous_step",
    ),
    "occurred_at without a timezone": Invalid(
        "nav-review", {"occurred_at": "2026-11-01T10:00:00"}, "occurred_at"
    ),
}


@pytest.mark.parametrize("invalid", INVALID.values(), ids=INVALID.keys())
async def test_an_invalid_step_is_refused_with_422(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, invalid: Invalid
) -> None:
    if invalid.reviewed:
        appeal, headers = await under_review(client, auth), {**auth(), "If-Match": '"2"'}
    else:
        appeal, headers = await register(client, auth), auth()

    response = await refused_step(
        client, session, appeal["id"], invalid.path, json=invalid.body, headers=headers
    )

    assert response.status_code == 422
    problem = response.json()
    if invalid.code is not None:
        assert problem["code"] == invalid.code
    [error] = problem["errors"]
    assert error["field"] == invalid.field
    if invalid.type is not None:
        assert error["type"] == invalid.type


async def test_a_step_further_back_than_the_backdating_limit_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession, clock: FixedClock
) -> None:
    # As in production (KLAGEAPI_BACKDATING_LIMIT_DAYS, 30 by default).
    clock.backdating_limit = dt.timedelta(days=30)
    appeals_before = await count(session, Appeal)

    too_old = await client.post(
        "/v1/appeals",
        json=appeal_body(occurred_at=(NOW - dt.timedelta(days=30, seconds=1)).isoformat()),
        headers=auth(),
    )
    just_in_time = await client.post(
        "/v1/appeals",
        json=appeal_body(occurred_at=(NOW - dt.timedelta(days=29)).isoformat()),
        headers=auth(),
    )

    assert too_old.status_code == 422
    assert [(e["field"], e["type"]) for e in too_old.json()["errors"]] == [
        ("occurred_at", "too_far_back")
    ]
    assert just_in_time.status_code == 201, just_in_time.text
    assert await count(session, Appeal) == appeals_before + 1


async def test_an_outcome_before_the_review_started_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await register(client, auth)
    started = NOW - dt.timedelta(days=2)
    await client.post(
        f"/v1/appeals/{appeal['id']}/nav-review",
        json={"occurred_at": started.isoformat()},
        headers=auth(),
    )

    response = await refused_step(
        client,
        session,
        appeal["id"],
        "nav-outcome",
        json=outcome_body(
            "full_reversal", occurred_at=(started - dt.timedelta(hours=1)).isoformat()
        ),
        headers={**auth(), "If-Match": '"2"'},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "before_previous_step"


# -- transactions ----------------------------------------------------------------------------


class _Abort(Exception):
    pass


async def test_a_rolled_back_change_leaves_no_event_history_or_status_change(
    session: AsyncSession, clock: FixedClock
) -> None:
    appeal_id = (await stored_appeal(session, S.received)).id
    before = await snapshot(session, appeal_id)
    actor = Organisation(NAV_STAVANGER_ORG, frozenset({"klageapi:write"}))

    with pytest.raises(_Abort):
        async with session.begin_nested():
            step = lifecycle.Step(lifecycle.Action.start_nav_review)
            changed = await lifecycle.apply(session, appeal_id, step, actor=actor, clock=clock)
            assert changed.status is S.under_nav_review
            # apply has flushed: the event is in the database, inside the savepoint.
            assert [e.type for e in await events_of(session, appeal_id)] == [
                "appeal.status_changed"
            ]
            raise _Abort

    assert await snapshot(session, appeal_id) == before
    assert await events_of(session, appeal_id) == []


async def test_apply_refuses_with_nothing_written(session: AsyncSession, clock: FixedClock) -> None:
    appeal = await stored_appeal(session, S.withdrawn)
    before = await snapshot(session, appeal.id)
    actor = Organisation(NAV_STAVANGER_ORG, frozenset({"klageapi:write"}))

    with pytest.raises(TransitionNotAllowed):
        step = lifecycle.Step(lifecycle.Action.withdraw)
        await lifecycle.apply(session, appeal.id, step, actor=actor, clock=clock)

    assert await snapshot(session, appeal.id) == before


# -- concurrency -----------------------------------------------------------------------------


async def _register_committed(race_track: CommittedApp, auth: AuthHeaders) -> str:
    response = await race_track.client.post(
        "/v1/appeals", json=appeal_body(occurred_at=EARLIER.isoformat()), headers=auth()
    )
    assert response.status_code == 201, response.text
    appeal_id: str = response.json()["id"]
    return appeal_id


async def _committed_history(race_track: CommittedApp, appeal_id: str) -> list[str]:
    async with AsyncSession(race_track.engine) as session:
        return [entry.action for entry in await history_of(session, appeal_id)]


async def _at_once(
    race_track: CommittedApp, appeal_id: str, *requests: Callable[[], Any]
) -> list[httpx.Response]:
    """Send the requests while another transaction holds the appeal's row, and let go only
    once every one of them waits for it: however the service reads and writes, they all start
    from the same committed state, so a check made without a lock would let both through."""
    async with race_track.engine.connect() as holder:
        transaction = await holder.begin()
        await holder.execute(
            select(Appeal.id).where(Appeal.id == uuid.UUID(appeal_id)).with_for_update()
        )
        tasks = [asyncio.create_task(request()) for request in requests]
        await _until_waiting_for_locks(race_track, len(requests), tasks)
        await transaction.rollback()
    return list(await asyncio.gather(*tasks))


async def _until_waiting_for_locks(
    race_track: CommittedApp, expected: int, tasks: list[asyncio.Task[Any]]
) -> None:
    waiting_query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = asyncio.get_running_loop().time() + 10
    async with race_track.engine.connect() as observer:
        while asyncio.get_running_loop().time() < deadline:
            waiting = await observer.scalar(waiting_query)
            # pg_stat_activity is a snapshot taken once per transaction: end it to look again.
            await observer.rollback()
            if waiting == expected:
                return
            done = [task for task in tasks if task.done()]
            assert not done, [task.result().text for task in done]  # answered without waiting
            await asyncio.sleep(0.01)
    raise AssertionError("the requests never all waited for the appeal's row lock")


async def test_two_concurrent_review_starts_take_turns_and_one_is_refused(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    appeal_id = await _register_committed(race_track, auth)
    path = f"/v1/appeals/{appeal_id}/nav-review"

    responses = await _at_once(
        race_track,
        appeal_id,
        lambda: race_track.client.post(path, headers=auth()),
        lambda: race_track.client.post(path, headers=auth()),
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["current_status"] == "under_nav_review"
    assert await _committed_history(race_track, appeal_id) == ["register", "start_nav_review"]
    async with AsyncSession(race_track.engine) as session:
        version = await session.scalar(
            select(Appeal.version).where(Appeal.id == uuid.UUID(appeal_id))
        )
        events = await events_of(session, appeal_id)
    assert version == 2
    assert [e.type for e in events] == ["appeal.received", "appeal.status_changed"]


async def test_a_step_that_waited_for_the_lock_is_judged_against_the_step_committed_meanwhile(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    # The previous step's time is read from the locked row: a check made on what was committed
    # when the request began would let a step dated before the one that got in first through.
    appeal_id = await _register_committed(race_track, auth)
    meanwhile = NOW - dt.timedelta(hours=1)
    async with race_track.engine.connect() as holder:
        transaction = await holder.begin()
        await holder.execute(
            select(Appeal.id).where(Appeal.id == uuid.UUID(appeal_id)).with_for_update()
        )
        await holder.execute(
            insert(AppealHistory).values(
                appeal_id=uuid.UUID(appeal_id),
                action="note",
                from_status=AppealStatus.received,
                to_status=AppealStatus.received,
                actor_organisation="0192:977777771",
                occurred_at=meanwhile,
                recorded_at=NOW,
            )
        )
        earlier = (meanwhile - dt.timedelta(minutes=1)).isoformat()
        task = asyncio.create_task(
            race_track.client.post(
                f"/v1/appeals/{appeal_id}/nav-review",
                json={"occurred_at": earlier},
                headers=auth(),
            )
        )
        await _until_waiting_for_locks(race_track, 1, [task])
        await transaction.commit()
    response = await task

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == "before_previous_step"
    assert await _committed_history(race_track, appeal_id) == ["register", "note"]


async def test_two_concurrent_outcomes_on_the_same_etag_let_only_one_through(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    appeal_id = await _register_committed(race_track, auth)
    started = await race_track.client.post(f"/v1/appeals/{appeal_id}/nav-review", headers=auth())
    assert started.status_code == 200
    path = f"/v1/appeals/{appeal_id}/nav-outcome"
    headers = {**auth(), "If-Match": started.headers["etag"]}

    responses = await _at_once(
        race_track,
        appeal_id,
        lambda: race_track.client.post(path, json=outcome_body("upheld"), headers=headers),
        lambda: race_track.client.post(path, json=outcome_body("upheld"), headers=headers),
    )

    codes = sorted(r.status_code for r in responses)
    assert codes in ([200, 409], [200, 412]), [r.text for r in responses]
    actions = await _committed_history(race_track, appeal_id)
    assert actions == ["register", "start_nav_review", "record_nav_outcome"]
    async with AsyncSession(race_track.engine) as session:
        version = await session.scalar(
            select(Appeal.version).where(Appeal.id == uuid.UUID(appeal_id))
        )
    assert version == 3


async def test_a_withdrawal_racing_a_closing_outcome_leaves_one_final_state(
    race_track: CommittedApp, auth: AuthHeaders
) -> None:
    appeal_id = await _register_committed(race_track, auth)
    started = await race_track.client.post(f"/v1/appeals/{appeal_id}/nav-review", headers=auth())
    assert started.status_code == 200
    base = f"/v1/appeals/{appeal_id}"

    responses = await _at_once(
        race_track,
        appeal_id,
        lambda: race_track.client.post(
            f"{base}/nav-outcome",
            json=outcome_body("full_reversal"),
            headers={**auth(), "If-Match": '"2"'},
        ),
        lambda: race_track.client.post(f"{base}/withdrawal", headers=auth()),
    )

    # The loser is judged on the state the winner left: a closed appeal (409), or a changed
    # version (412) for the outcome, whose If-Match is checked first.
    codes = sorted(r.status_code for r in responses)
    assert codes in ([200, 409], [200, 412]), [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    actions = await _committed_history(race_track, appeal_id)
    assert len(actions) == 3
    async with AsyncSession(race_track.engine) as session:
        status = await session.scalar(
            select(Appeal.status).where(Appeal.id == uuid.UUID(appeal_id))
        )
    assert status == winner["status"]
