"""Mounts every v1 router under `/v1`."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from klageapi.appeal.endpoints import deadlines_router as appeal_deadlines_router
from klageapi.appeal.endpoints import router as appeal_router
from klageapi.audit.endpoints import router as audit_router
from klageapi.case_package.endpoints import router as case_package_router
from klageapi.citizen.endpoints import router as citizen_router
from klageapi.core.limits import limit_organisation
from klageapi.core.schemas import problem_responses
from klageapi.document.endpoints import router as document_router
from klageapi.event.endpoints import router as event_router
from klageapi.registry.endpoints import router as registry_router
from klageapi.report.endpoints import router as report_router
from klageapi.statistics.endpoints import router as statistics_router
from klageapi.webhook.endpoints import router as webhook_router

__all__ = ["router"]

# Each domain router declares route_class=JsonRoute itself: a route class set here would not
# reach routes that were declared on the included routers.
# Any operation may meet the database or the document store away (503 with Retry-After), and
# every request of an organisation is counted against its limits (429 `rate_limited`).
router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(limit_organisation)],
    responses=problem_responses(429, 503),
)
router.include_router(appeal_router)
router.include_router(appeal_deadlines_router)
router.include_router(registry_router)
router.include_router(audit_router)
router.include_router(document_router)
router.include_router(case_package_router)
router.include_router(event_router)
router.include_router(webhook_router)
router.include_router(citizen_router)
router.include_router(statistics_router)
router.include_router(report_router)
