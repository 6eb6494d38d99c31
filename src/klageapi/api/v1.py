"""Mounts every v1 router under `/v1`."""

from __future__ import annotations

from fastapi import APIRouter

from klageapi.api.routing import JsonRoute
from klageapi.appeal.endpoints import router as appeal_router
from klageapi.registry.endpoints import router as registry_router

__all__ = ["router"]

router = APIRouter(prefix="/v1", route_class=JsonRoute)
router.include_router(appeal_router)
router.include_router(registry_router)
