"""HTTP endpoints for appeals: registration, reading, NAV's steps, history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response, status
from pydantic import AwareDatetime

from klageapi.api.routing import JsonRoute
from klageapi.appeal import repository, service
from klageapi.appeal.preconditions import answer, etag, expected_versions
from klageapi.appeal.schemas import (
    AppealCreate,
    AppealHistoryRead,
    AppealPage,
    AppealRead,
    HistoryEntryRead,
    NavOutcomeCreate,
    PreliminaryReplyCreate,
    StateDurationRead,
    StepCreate,
    appeal_read,
)
from klageapi.core.auth import ReaderDep, WriterDep
from klageapi.core.clock import ClockDep
from klageapi.core.conditional import none_match
from klageapi.core.db import SessionDep
from klageapi.core.idempotency import IdempotencyKeyDep
from klageapi.core.pagination import PageParamsDep
from klageapi.core.schemas import problem_responses
from klageapi.models import AppealStatus

__all__ = ["router"]

# The route class is the router's own: an including router's route_class does not reach routes
# that were declared before.
router = APIRouter(
    prefix="/appeals",
    tags=["appeals"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)

IfMatch = Annotated[
    str | None,
    Header(description='The appeal\'s ETag as last read, e.g. "3"; a stale one is refused (412).'),
]
IfNoneMatch = Annotated[str | None, Header(description="An ETag; 304 when it is current.")]

_STEP_RESPONSES = {
    **problem_responses(400, 404, 409, 412, 413, 415, 422),
}


@router.post(
    "",
    operation_id="register_appeal",
    status_code=status.HTTP_201_CREATED,
    response_model=AppealRead,
    responses={
        200: {"description": "Already registered with the same content", "model": AppealRead},
        **problem_responses(400, 404, 409, 413, 415, 422),
    },
)
async def register_appeal(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    body: AppealCreate,
    response: Response,
    _idempotency: IdempotencyKeyDep,
) -> AppealRead:
    """Register an appeal received by a NAV office.

    The Statsforvalter office is routed from the municipality; the appeal deadline is three
    weeks after notification (moved to the next working day), and `late` flags an appeal
    received after it. Sending the same `external_reference` with the same content again
    answers 200 with the appeal already registered.
    """
    appeal, created = await service.register(session, body, organisation=organisation, clock=clock)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/v1/appeals/{appeal.id}"
    return answer(appeal, response)


@router.get(
    "",
    operation_id="list_appeals",
    response_model=AppealPage,
    responses=problem_responses(400, 422),
)
async def list_appeals(
    session: SessionDep,
    organisation: ReaderDep,
    clock: ClockDep,
    page: PageParamsDep,
    status_: Annotated[
        list[AppealStatus] | None, Query(alias="status", description="Repeatable.")
    ] = None,
    nav_office: Annotated[str | None, Query(pattern=r"^[0-9]{4}$")] = None,
    statsforvalter_office: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{2,64}$")] = None,
    # Aware only: a time without an offset would be read as UTC, and a client meaning Oslo
    # time would miss the changes of the hour or two in between.
    updated_after: Annotated[AwareDatetime | None, Query()] = None,
    late: bool | None = None,
) -> AppealPage:
    """The appeals the caller may see, oldest change first (`updated_at`, then id)."""
    where = repository.AppealFilter(
        statuses=status_ or (),
        nav_office=nav_office,
        statsforvalter_office=statsforvalter_office,
        updated_after=updated_after,
        late=late,
    )
    appeals, cursor = await service.list_appeals(
        session, where, page, organisation=organisation, clock=clock
    )
    return AppealPage(items=[appeal_read(a) for a in appeals], next_cursor=cursor)


@router.get(
    "/{appeal_id}",
    operation_id="get_appeal",
    response_model=AppealRead,
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_appeal(
    session: SessionDep,
    organisation: ReaderDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> AppealRead | Response:
    """One appeal, with its version as `ETag`; `If-None-Match` with the current one → 304."""
    appeal = await service.get(session, appeal_id, organisation=organisation, clock=clock)
    if none_match(if_none_match, etag(appeal)):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(appeal)})
    return answer(appeal, response)


@router.get(
    "/{appeal_id}/history",
    operation_id="get_appeal_history",
    response_model=AppealHistoryRead,
    responses=problem_responses(404, 422),
)
async def get_appeal_history(
    session: SessionDep, organisation: ReaderDep, clock: ClockDep, appeal_id: uuid.UUID
) -> AppealHistoryRead:
    """Every step with actor and time, and the time spent in each state (calendar and
    Norwegian working days)."""
    entries, spans = await service.history(
        session, appeal_id, organisation=organisation, clock=clock
    )
    return AppealHistoryRead(
        appeal_id=appeal_id,
        entries=[HistoryEntryRead.model_validate(entry) for entry in entries],
        time_in_states=[StateDurationRead.model_validate(span) for span in spans],
    )


@router.post(
    "/{appeal_id}/nav-review",
    operation_id="start_nav_review",
    response_model=AppealRead,
    responses=_STEP_RESPONSES,
)
async def start_nav_review(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
    _idempotency: IdempotencyKeyDep,
    body: Annotated[StepCreate, Body(default_factory=StepCreate)],
    if_match: IfMatch = None,
) -> AppealRead:
    """NAV starts its preparatory review: received → under_nav_review."""
    appeal = await service.start_nav_review(
        session,
        appeal_id,
        body,
        organisation=organisation,
        clock=clock,
        expected_versions=expected_versions(if_match, required=False),
    )
    return answer(appeal, response)


@router.post(
    "/{appeal_id}/nav-outcome",
    operation_id="record_nav_outcome",
    response_model=AppealRead,
    responses={**_STEP_RESPONSES, **problem_responses(428)},
)
async def record_nav_outcome(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    body: NavOutcomeCreate,
    response: Response,
    _idempotency: IdempotencyKeyDep,
    if_match: IfMatch = None,
) -> AppealRead:
    """NAV's outcome of its review. `full_reversal` and `dismissed` → closed_by_nav;
    `upheld` and `partial_reversal` keep the appeal under NAV's review, ready to be forwarded.
    `If-Match` is required."""
    appeal = await service.record_nav_outcome(
        session,
        appeal_id,
        body,
        organisation=organisation,
        clock=clock,
        expected_versions=expected_versions(if_match, required=True),
    )
    return answer(appeal, response)


@router.post(
    "/{appeal_id}/withdrawal",
    operation_id="withdraw_appeal",
    response_model=AppealRead,
    responses=_STEP_RESPONSES,
)
async def withdraw_appeal(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
    _idempotency: IdempotencyKeyDep,
    body: Annotated[StepCreate, Body(default_factory=StepCreate)],
    if_match: IfMatch = None,
) -> AppealRead:
    """The citizen withdrew the appeal: any state before a decision → withdrawn."""
    appeal = await service.withdraw(
        session,
        appeal_id,
        body,
        organisation=organisation,
        clock=clock,
        expected_versions=expected_versions(if_match, required=False),
    )
    return answer(appeal, response)


@router.post(
    "/{appeal_id}/preliminary-replies",
    operation_id="add_preliminary_reply",
    response_model=AppealRead,
    responses=_STEP_RESPONSES,
)
async def add_preliminary_reply(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    body: PreliminaryReplyCreate,
    response: Response,
    _idempotency: IdempotencyKeyDep,
    if_match: IfMatch = None,
) -> AppealRead:
    """A preliminary reply (foreløpig svar) was sent with the expected decision date; the
    status does not change."""
    appeal = await service.add_preliminary_reply(
        session,
        appeal_id,
        body,
        organisation=organisation,
        clock=clock,
        expected_versions=expected_versions(if_match, required=False),
    )
    return answer(appeal, response)
