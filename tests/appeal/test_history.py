"""GET /v1/appeals/{id}/history: the steps with actor and time, and the time spent in each state
in calendar and Norwegian working days."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal.timeline import time_in_states, working_days_between
from klageapi.core.clock import NORWAY, FixedClock
from klageapi.models import AppealHistory, AppealStatus
from tests.conftest import NAV_OSLO_ORG, NOW, SF_ROGALAND_ORG
from tests.factories import NATIONAL_ID, appeal_body, make_appeal

AuthHeaders = Callable[..., dict[str, str]]

S = AppealStatus
STAVANGER = "0192:977777771"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NORWAY)


async def register(
    client: httpx.AsyncClient, auth: AuthHeaders, at: dt.datetime, **overrides: Any
) -> str:
    response = await client.post(
        "/v1/appeals",
        json=appeal_body(occurred_at=at.isoformat(), **overrides),
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    appeal_id: str = response.json()["id"]
    return appeal_id


async def step(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    appeal_id: str,
    path: str,
    at: dt.datetime,
    **body: Any,
) -> dict[str, Any]:
    current = await client.get(f"/v1/appeals/{appeal_id}", headers=auth())
    response = await client.post(
        f"/v1/appeals/{appeal_id}/{path}",
        json={"occurred_at": at.isoformat(), **body},
        headers={**auth(), "If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    appeal: dict[str, Any] = response.json()
    return appeal


async def get_history(
    client: httpx.AsyncClient, auth: AuthHeaders, appeal_id: str, **token: Any
) -> dict[str, Any]:
    token.setdefault("scope", "klageapi:read")
    response = await client.get(f"/v1/appeals/{appeal_id}/history", headers=auth(**token))
    assert response.status_code == 200, response.text
    history: dict[str, Any] = response.json()
    return history


def spans(history: dict[str, Any]) -> list[tuple[str, str, str | None, float, int]]:
    return [
        (
            span["status"],
            span["entered_at"],
            span["left_at"],
            span["calendar_days"],
            span["working_days"],
        )
        for span in history["time_in_states"]
    ]


def iso(at: dt.datetime) -> str:
    """As the API writes a time: in UTC."""
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# Easter 2026: Maundy Thursday 2 April, Good Friday 3 April, Easter Monday 6 April.
EASTER_DECISION = {"reference": "V-PASKE", "decided_on": "2026-03-10", "notified_on": "2026-03-12"}
RECEIVED_MAUNDY_THURSDAY = oslo(2026, 4, 2, 10, 0)
REVIEW_AFTER_EASTER = oslo(2026, 4, 7, 9, 0)  # Tuesday
WITHDRAWN = oslo(2026, 4, 20, 14, 0)  # Monday


async def easter_appeal(client: httpx.AsyncClient, auth: AuthHeaders) -> str:
    appeal_id = await register(
        client,
        auth,
        RECEIVED_MAUNDY_THURSDAY,
        decision=EASTER_DECISION,
        received_on="2026-04-02",
    )
    await step(client, auth, appeal_id, "nav-review", REVIEW_AFTER_EASTER)
    await step(client, auth, appeal_id, "withdrawal", WITHDRAWN)
    return appeal_id


# -- entries ---------------------------------------------------------------------------------


async def test_history_lists_every_step_in_order_with_actor_and_times(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal_id = await register(client, auth, utc(2026, 10, 29, 9, 30))
    await step(client, auth, appeal_id, "nav-review", utc(2026, 10, 30, 9, 30))
    await step(
        client,
        auth,
        appeal_id,
        "preliminary-replies",
        utc(2026, 10, 31, 10, 0),
        expected_decision_on="2027-01-15",
    )
    await step(
        client,
        auth,
        appeal_id,
        "nav-outcome",
        utc(2026, 11, 1, 8, 0),
        outcome="upheld",
        decided_on="2026-11-01",
        reasoning="Vedtaket står.",
    )

    history = await get_history(client, auth, appeal_id)

    assert history["appeal_id"] == appeal_id
    entries = history["entries"]
    assert [(e["action"], e["from_status"], e["to_status"]) for e in entries] == [
        ("register", None, "received"),
        ("start_nav_review", "received", "under_nav_review"),
        ("preliminary_reply", "under_nav_review", "under_nav_review"),
        ("record_nav_outcome", "under_nav_review", "under_nav_review"),
    ]
    assert [when(e["occurred_at"]) for e in entries] == [
        utc(2026, 10, 29, 9, 30),
        utc(2026, 10, 30, 9, 30),
        utc(2026, 10, 31, 10, 0),
        utc(2026, 11, 1, 8, 0),
    ]
    assert {when(e["recorded_at"]) for e in entries} == {NOW}
    assert {(e["actor_organisation"], e["actor_supplier"]) for e in entries} == {(STAVANGER, None)}
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert entries[2]["details"] == {"expected_decision_on": "2027-01-15"}
    assert entries[3]["details"] == {"outcome": "upheld", "decided_on": "2026-11-01"}


async def test_history_carries_no_national_id(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    appeal_id = await register(client, auth, utc(2026, 10, 29, 9, 30))

    response = await client.get(f"/v1/appeals/{appeal_id}/history", headers=auth())

    assert response.status_code == 200
    assert NATIONAL_ID not in response.text


# -- time in states --------------------------------------------------------------------------


async def test_working_days_skip_the_easter_holidays_and_the_weekend(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal_id = await easter_appeal(client, auth)

    history = await get_history(client, auth, appeal_id)

    received, review, _ = history["time_in_states"]
    # Received Maundy Thursday 10:00, review started Tuesday 09:00: of Good Friday, the
    # weekend, Easter Monday and Tuesday only Tuesday is a working day.
    assert received == {
        "status": "received",
        "entered_at": iso(RECEIVED_MAUNDY_THURSDAY),
        "left_at": iso(REVIEW_AFTER_EASTER),
        "calendar_days": 4.96,
        "working_days": 1,
    }
    # Tuesday 7 to Monday 20 April: 8, 9, 10, 13-17 and 20 April.
    assert (review["status"], review["calendar_days"], review["working_days"]) == (
        "under_nav_review",
        13.21,
        9,
    )
    assert (review["entered_at"], review["left_at"]) == (iso(REVIEW_AFTER_EASTER), iso(WITHDRAWN))


async def test_a_withdrawn_appeals_last_span_is_empty(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal_id = await easter_appeal(client, auth)

    history = await get_history(client, auth, appeal_id)

    assert spans(history)[-1] == ("withdrawn", iso(WITHDRAWN), None, 0.0, 0)


async def test_an_appeal_closed_by_nav_stops_the_clock(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal_id = await register(client, auth, utc(2026, 10, 26, 9, 30))
    await step(client, auth, appeal_id, "nav-review", utc(2026, 10, 27, 9, 30))
    await step(
        client,
        auth,
        appeal_id,
        "nav-outcome",
        utc(2026, 10, 28, 9, 30),
        outcome="full_reversal",
        decided_on="2026-10-28",
        reasoning="Klagen tas til følge.",
    )

    history = await get_history(client, auth, appeal_id)

    assert spans(history) == [
        ("received", iso(utc(2026, 10, 26, 9, 30)), iso(utc(2026, 10, 27, 9, 30)), 1.0, 1),
        ("under_nav_review", iso(utc(2026, 10, 27, 9, 30)), iso(utc(2026, 10, 28, 9, 30)), 1.0, 1),
        ("closed_by_nav", iso(utc(2026, 10, 28, 9, 30)), None, 0.0, 0),
    ]


async def test_an_open_appeals_last_span_runs_until_now(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    # Thursday, Friday, then nothing until the clock's Monday 09:30.
    appeal_id = await register(client, auth, utc(2026, 10, 29, 9, 30))
    await step(client, auth, appeal_id, "nav-review", utc(2026, 10, 30, 9, 30))

    history = await get_history(client, auth, appeal_id)

    assert spans(history) == [
        ("received", iso(utc(2026, 10, 29, 9, 30)), iso(utc(2026, 10, 30, 9, 30)), 1.0, 1),
        # Saturday, Sunday (1 November is no holiday in Norway), Monday.
        ("under_nav_review", iso(utc(2026, 10, 30, 9, 30)), None, 3.0, 1),
    ]


async def test_an_open_span_grows_with_the_clock(
    client: httpx.AsyncClient, auth: AuthHeaders, clock: FixedClock
) -> None:
    appeal_id = await register(client, auth, utc(2026, 10, 30, 9, 30))
    clock.advance(dt.timedelta(days=1, hours=6))  # Tuesday 3 November, 15:30

    history = await get_history(client, auth, appeal_id)

    # Saturday, Sunday, Monday, Tuesday.
    assert spans(history) == [("received", iso(utc(2026, 10, 30, 9, 30)), None, 4.25, 2)]


async def test_an_appeal_registered_just_now_has_one_empty_open_span(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.post("/v1/appeals", json=appeal_body(), headers=auth())

    history = await get_history(client, auth, response.json()["id"])

    assert spans(history) == [("received", iso(NOW), None, 0.0, 0)]


async def test_steps_that_change_no_status_do_not_split_a_span(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    appeal_id = await register(client, auth, utc(2026, 10, 29, 9, 30))
    await step(client, auth, appeal_id, "nav-review", utc(2026, 10, 30, 9, 30))
    await step(
        client,
        auth,
        appeal_id,
        "preliminary-replies",
        utc(2026, 10, 31, 12, 0),
        expected_decision_on="2027-01-15",
    )
    await step(
        client,
        auth,
        appeal_id,
        "nav-outcome",
        utc(2026, 11, 1, 12, 0),
        outcome="partial_reversal",
        decided_on="2026-11-01",
        reasoning="Delvis medhold.",
    )

    history = await get_history(client, auth, appeal_id)

    assert len(history["entries"]) == 4
    assert spans(history) == [
        ("received", iso(utc(2026, 10, 29, 9, 30)), iso(utc(2026, 10, 30, 9, 30)), 1.0, 1),
        ("under_nav_review", iso(utc(2026, 10, 30, 9, 30)), None, 3.0, 1),
    ]


async def test_calendar_days_count_hours_across_the_change_to_summer_time(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    # Norway moved its clocks on 29 March 2026: Saturday 12:00 to Monday 12:00 local is 47 hours.
    decision = {"reference": "V-SOMMERTID", "decided_on": "2026-03-02", "notified_on": "2026-03-03"}
    appeal_id = await register(
        client, auth, oslo(2026, 3, 28, 12, 0), decision=decision, received_on="2026-03-20"
    )
    await step(client, auth, appeal_id, "nav-review", oslo(2026, 3, 30, 12, 0))

    history = await get_history(client, auth, appeal_id)

    received = history["time_in_states"][0]
    assert (received["calendar_days"], received["working_days"]) == (1.96, 1)


# -- who sees it -----------------------------------------------------------------------------


async def test_statsforvalter_sees_the_history_of_an_appeal_forwarded_to_it(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session, status=S.forwarded, forwarded_at=NOW)
    await session.execute(
        update(AppealHistory)
        .where(AppealHistory.appeal_id == appeal.id)
        .values(occurred_at=NOW, recorded_at=NOW)
    )

    history = await get_history(client, auth, str(appeal.id), org=SF_ROGALAND_ORG)

    assert [e["action"] for e in history["entries"]] == ["register"]
    assert spans(history) == [("forwarded", iso(NOW), None, 0.0, 0)]


@pytest.mark.parametrize("org", [NAV_OSLO_ORG, SF_ROGALAND_ORG])
async def test_history_of_an_appeal_the_caller_may_not_see_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders, org: str
) -> None:
    appeal_id = await register(client, auth, utc(2026, 10, 29, 9, 30))

    response = await client.get(f"/v1/appeals/{appeal_id}/history", headers=auth(org=org))

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"
    assert "received" not in response.text


async def test_history_of_an_unknown_appeal_is_not_found(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get(f"/v1/appeals/{uuid.uuid4()}/history", headers=auth())

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"


async def test_history_needs_the_read_scope(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    appeal_id = await register(client, auth, utc(2026, 10, 29, 9, 30))

    response = await client.get(
        f"/v1/appeals/{appeal_id}/history", headers=auth(scope="klageapi:write")
    )

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


# -- time_in_states, directly ----------------------------------------------------------------


def _entry(
    from_status: AppealStatus | None, to_status: AppealStatus, at: dt.datetime
) -> AppealHistory:
    return AppealHistory(
        action="step",
        from_status=from_status,
        to_status=to_status,
        actor_organisation=STAVANGER,
        occurred_at=at,
        recorded_at=at,
        details={},
    )


def test_a_state_entered_twice_has_two_spans() -> None:
    # Forwarded, then the package was rejected back to NAV.
    entries = [
        _entry(None, S.received, utc(2026, 10, 19, 8)),
        _entry(S.received, S.under_nav_review, utc(2026, 10, 20, 8)),
        _entry(S.under_nav_review, S.forwarded, utc(2026, 10, 22, 8)),
        _entry(S.forwarded, S.under_nav_review, utc(2026, 10, 26, 8)),
    ]

    result = time_in_states(entries, now=utc(2026, 10, 27, 8))

    assert [(s.status, s.calendar_days, s.working_days) for s in result] == [
        (S.received, 1.0, 1),
        (S.under_nav_review, 2.0, 2),
        (S.forwarded, 4.0, 2),
        (S.under_nav_review, 1.0, 1),
    ]
    assert result[-1].left_at is None


def test_an_open_span_never_runs_backwards_when_now_is_before_the_last_step() -> None:
    entries = [_entry(None, S.received, utc(2026, 10, 20, 8))]

    [span] = time_in_states(entries, now=utc(2026, 10, 19, 8))

    assert (span.calendar_days, span.working_days) == (0.0, 0)


def test_no_entries_no_spans() -> None:
    assert time_in_states([], now=NOW) == []


# -- working_days_between --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(utc(2026, 3, 4, 8), utc(2026, 3, 4, 15), 0, id="same day"),
        pytest.param(utc(2026, 3, 4, 8), utc(2026, 3, 5, 8), 1, id="next day"),
        pytest.param(utc(2026, 3, 5, 8), utc(2026, 3, 4, 8), 0, id="end before start"),
        pytest.param(utc(2026, 3, 2, 8), utc(2026, 3, 9, 8), 5, id="a week"),
        pytest.param(utc(2026, 3, 6, 8), utc(2026, 3, 9, 8), 1, id="friday to monday"),
        pytest.param(utc(2026, 3, 6, 8), utc(2026, 3, 8, 8), 0, id="friday to sunday"),
        pytest.param(utc(2026, 3, 31, 8), utc(2026, 4, 7, 8), 2, id="easter week"),
        pytest.param(utc(2026, 4, 1, 8), utc(2026, 4, 6, 8), 0, id="all of easter"),
        pytest.param(utc(2026, 4, 30, 8), utc(2026, 5, 4, 8), 1, id="first of may"),
        pytest.param(utc(2026, 5, 13, 8), utc(2026, 5, 15, 8), 1, id="ascension day"),
        pytest.param(utc(2026, 5, 22, 8), utc(2026, 5, 26, 8), 1, id="whit monday"),
        pytest.param(utc(2026, 12, 23, 8), utc(2026, 12, 28, 8), 2, id="christmas"),
        pytest.param(utc(2026, 12, 31, 8), utc(2027, 1, 4, 8), 1, id="new year"),
    ],
)
def test_working_days_between(start: dt.datetime, end: dt.datetime, expected: int) -> None:
    assert working_days_between(start, end) == expected


def test_working_days_count_norwegian_dates_not_utc_dates_at_the_start() -> None:
    # 23:30 UTC on Tuesday is 00:30 on Wednesday in Oslo: the span starts on Wednesday.
    assert working_days_between(utc(2026, 3, 3, 23, 30), utc(2026, 3, 4, 12)) == 0


def test_working_days_count_norwegian_dates_not_utc_dates_at_the_end() -> None:
    # 22:30 UTC on Wednesday in summer is 00:30 on Thursday in Oslo: Thursday counts.
    assert working_days_between(utc(2026, 6, 3, 8), utc(2026, 6, 3, 22, 30)) == 1
