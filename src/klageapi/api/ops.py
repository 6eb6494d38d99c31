"""Endpoints for operators: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from klageapi.core.db import current_revision
from klageapi.core.errors import ServiceUnavailable
from klageapi.core.metrics import Metrics
from klageapi.core.migrations import head_revision
from klageapi.core.schemas import problem_responses
from klageapi.statistics import backlog

__all__ = ["router"]

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    schema_revision: str


@router.get("/healthz", operation_id="healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=Readiness,
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Readiness:
    """The database answers and its schema is at the newest migration."""
    try:
        revision = await current_revision(request.app.state.engine)
    except (SQLAlchemyError, OSError) as error:
        raise ServiceUnavailable(
            "The database cannot be reached.", code="database_unreachable"
        ) from error
    head = head_revision()
    if revision != head:
        raise ServiceUnavailable(
            f"The database schema is at {revision or 'nothing'}, not {head}; "
            "run `klageapi migrate`.",
            code="schema_behind",
            schema_revision=revision,
            expected_revision=head,
        )
    return Readiness(status="ready", schema_revision=revision)


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus metrics"}},
)
async def metrics(request: Request) -> Response:
    """This process's metrics (every worker's, under `serve --workers N`) and the backlog
    figures read from the database for this scrape."""
    registry: Metrics = request.app.state.metrics
    extra = []
    if request.app.state.scrape_engine is not None:
        extra = await backlog.scrape(
            request.app.state.scrape_engine,
            clock=request.app.state.clock,
            working_days=request.app.state.settings.package_receipt_overdue_working_days,
        )
    return Response(registry.exposition(extra), media_type=CONTENT_TYPE_LATEST)
