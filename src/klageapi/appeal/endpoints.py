"""HTTP endpoints for appeals."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from klageapi.api.routing import JsonRoute
from klageapi.appeal import service
from klageapi.appeal.schemas import AppealCreate, AppealRead, appeal_read
from klageapi.core.auth import ReaderDep, WriterDep
from klageapi.core.clock import ClockDep
from klageapi.core.db import SessionDep
from klageapi.core.schemas import problem_responses
from klageapi.models import Appeal

__all__ = ["router"]

# The route class is the router's own: an including router's route_class does not reach routes
# that were declared before.
router = APIRouter(
    prefix="/appeals",
    tags=["appeals"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)


def _etag(appeal: Appeal) -> str:
    return f'"{appeal.version}"'


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
    response.headers["ETag"] = _etag(appeal)
    return appeal_read(appeal)


@router.get(
    "/{appeal_id}",
    operation_id="get_appeal",
    response_model=AppealRead,
    responses=problem_responses(404, 422),
)
async def get_appeal(
    session: SessionDep,
    organisation: ReaderDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
) -> AppealRead:
    """One appeal, with its version as `ETag`."""
    appeal = await service.get(session, appeal_id, organisation=organisation, clock=clock)
    response.headers["ETag"] = _etag(appeal)
    return appeal_read(appeal)
