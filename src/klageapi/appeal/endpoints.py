"""HTTP endpoints for appeals: registration, reading, history, and the steps of NAV and the
Statsforvalter on an appeal."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Annotated, Protocol, TypeVar

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import repository, service
from klageapi.appeal.lifecycle import Action
from klageapi.appeal.preconditions import answer, etag, expected_versions
from klageapi.appeal.schemas import (
    AppealCreate,
    AppealDeadlineRead,
    AppealHistoryRead,
    AppealPage,
    AppealRead,
    DecisionCreate,
    HistoryEntryRead,
    NavOutcomeCreate,
    PreliminaryReplyCreate,
    StateDurationRead,
    StepCreate,
    appeal_read,
)
from klageapi.core.auth import Organisation, ReaderDep, WriterDep
from klageapi.core.clock import Clock, ClockDep
from klageapi.core.conditional import none_match
from klageapi.core.db import SessionDep, TransactionsDep
from klageapi.core.errors import raised_by, raises
from klageapi.core.idempotency import IdempotencyKeyHeader, IdempotentReplay, claim_json
from klageapi.core.pagination import PageParamsDep
from klageapi.core.queue_order import AppealOrder
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import Schema, problem_responses
from klageapi.core.validation import DateTime
from klageapi.models import Appeal, AppealStatus

__all__ = ["deadlines_router", "router"]

# The route class is the router's own: an including router's route_class does not reach routes
# that were declared before.
router = APIRouter(
    prefix="/appeals",
    tags=["appeals"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)

# The appeal deadline has no appeal: a path of its own, with the appeal's code.
deadlines_router = APIRouter(
    prefix="/appeal-deadlines",
    tags=["appeals"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)


@deadlines_router.get(
    "",
    operation_id="get_appeal_deadline",
    response_model=AppealDeadlineRead,
    responses=problem_responses(422),
)
async def get_appeal_deadline(
    _organisation: ReaderDep,
    clock: ClockDep,
    notified_on: Annotated[dt.date, Query(description="When the decision was notified.")],
) -> AppealDeadlineRead:
    """The appeal deadline for a decision notified on `notified_on` (from 2000 to a year
    ahead), for NAV's decision letters. No personal data."""
    three_weeks_on, deadline = service.appeal_deadline_for(notified_on, clock=clock)
    return AppealDeadlineRead(
        notified_on=notified_on, three_weeks_on=three_weeks_on, appeal_deadline_on=deadline
    )


IfMatch = Annotated[
    str | None,
    Header(description='The appeal\'s ETag as last read, e.g. "3"; a stale one is refused (412).'),
]
IfNoneMatch = Annotated[str | None, Header(description="An ETag; 304 when it is current.")]


@raises(*raised_by(claim_json))
async def _claim_audited(
    request: Request,
    session: SessionDep,
    transactions: TransactionsDep,
    organisation: WriterDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> str | None:
    """The Idempotency-Key of a request answered with an appeal: a replay shows the national id
    again, so it is written to the audit log as the first answer was."""
    try:
        return await claim_json(
            request, session, transactions, organisation, clock, idempotency_key
        )
    except IdempotentReplay as replay:
        replay.audit_entries.append(
            service.replay_audit_entry(replay.response_body, organisation=organisation, clock=clock)
        )
        raise


AuditedIdempotencyKeyDep = Annotated[str | None, Depends(_claim_audited, scope="function")]

_STEP_RESPONSES = problem_responses(400, 404, 409, 412, 413, 415, 422)
BodyT = TypeVar("BodyT", bound=Schema)
BodyT_contra = TypeVar("BodyT_contra", bound=Schema, contravariant=True)


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
    _idempotency: AuditedIdempotencyKeyDep,
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
    updated_after: Annotated[DateTime | None, Query()] = None,
    late: bool | None = None,
    order: Annotated[
        AppealOrder,
        Query(
            description="`updated` (the oldest change first), `forwarded` (by the"
            " Statsforvalter's receipt, then by forwarding), `urgent_first` (urgent first, then"
            " as `forwarded`), `citizen_wait` (by NAV's receipt: the longest wait first) or"
            " `urgent_then_citizen_wait`. A cursor keeps its order."
        ),
    ] = AppealOrder.updated,
) -> AppealPage:
    """The appeals the caller may see, oldest change first (`updated_at`, then id), or in the
    Statsforvalter's queue orders."""
    where = repository.AppealFilter(
        statuses=status_ or (),
        nav_office=nav_office,
        statsforvalter_office=statsforvalter_office,
        updated_after=updated_after,
        late=late,
    )
    appeals, cursor = await service.list_appeals(
        session, where, page, order=order, organisation=organisation, clock=clock
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


# The steps on an appeal: each a POST answered with the appeal and its new ETag, under an
# optional If-Match (required where a stale read would do harm), retried safely with an
# Idempotency-Key. They differ in their body, their service and their words, so they are
# declared from one table.


class _TakeStep(Protocol[BodyT_contra]):
    async def __call__(
        self,
        session: AsyncSession,
        appeal_id: uuid.UUID,
        body: BodyT_contra,
        /,
        *,
        organisation: Organisation,
        clock: Clock,
        expected_versions: frozenset[int] | None,
    ) -> Appeal: ...


def _step(
    path: str,
    take: _TakeStep[BodyT],
    body_type: type[BodyT],
    *,
    operation_id: str,
    description: str,
    if_match_required: bool = False,
) -> None:
    async def take_step(
        session: SessionDep,
        organisation: WriterDep,
        clock: ClockDep,
        appeal_id: uuid.UUID,
        body: BodyT,
        response: Response,
        _idempotency: AuditedIdempotencyKeyDep,
        if_match: IfMatch = None,
    ) -> AppealRead:
        appeal = await take(
            session,
            appeal_id,
            body,
            organisation=organisation,
            clock=clock,
            expected_versions=expected_versions(if_match, required=if_match_required),
        )
        return answer(appeal, response)

    # FastAPI reads the body's type from the annotation: the step's own. A step whose body is
    # only `occurred_at` may be sent without a body.
    take_step.__annotations__["body"] = (
        Annotated[body_type, Body(default_factory=body_type)]
        if body_type is StepCreate
        else body_type
    )
    router.add_api_route(
        path,
        take_step,
        methods=["POST"],
        name=operation_id,
        operation_id=operation_id,
        description=description,
        response_model=AppealRead,
        responses={**_STEP_RESPONSES, **(problem_responses(428) if if_match_required else {})},
    )


_step(
    "/{appeal_id}/nav-review",
    functools.partial(service.take_step, action=Action.start_nav_review),
    StepCreate,
    operation_id="start_nav_review",
    description="NAV starts its preparatory review: received → under_nav_review.",
)
_step(
    "/{appeal_id}/nav-outcome",
    service.record_nav_outcome,
    NavOutcomeCreate,
    operation_id="record_nav_outcome",
    description="NAV's outcome of its review. `full_reversal` and `dismissed` → closed_by_nav;"
    " `upheld` and `partial_reversal` keep the appeal under NAV's review, ready to be"
    " forwarded. `If-Match` is required.",
    if_match_required=True,
)
_step(
    "/{appeal_id}/withdrawal",
    functools.partial(service.take_step, action=Action.withdraw),
    StepCreate,
    operation_id="withdraw_appeal",
    description="The citizen withdrew the appeal: any state before a decision → withdrawn.",
)
_step(
    "/{appeal_id}/preliminary-replies",
    service.add_preliminary_reply,
    PreliminaryReplyCreate,
    operation_id="add_preliminary_reply",
    description="A preliminary reply (foreløpig svar) was sent with the expected decision date;"
    " the status does not change.",
)
_step(
    "/{appeal_id}/statsforvalter-review",
    functools.partial(service.take_step, action=Action.start_statsforvalter_review),
    StepCreate,
    operation_id="start_statsforvalter_review",
    description="Work has started at the Statsforvalter (→ under_statsforvalter_review).",
)
_step(
    "/{appeal_id}/decision",
    service.decide,
    DecisionCreate,
    operation_id="decide_appeal",
    description="The Statsforvalter's decision (→ decided), with its uploaded"
    " statsforvalter_decision document. `If-Match` is required.",
    if_match_required=True,
)
