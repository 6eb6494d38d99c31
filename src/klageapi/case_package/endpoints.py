"""HTTP endpoints for packages (forwarding, the pull feed, receipt and rejection) and for
documentation requests, which NAV answers with a supplementary package."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from klageapi.appeal.preconditions import expected_versions
from klageapi.case_package import archive, bundle, service
from klageapi.case_package.schemas import (
    DocumentationRequestCreate,
    DocumentationRequestList,
    DocumentationRequestRead,
    FulfilmentCreate,
    PackageCreate,
    PackagePage,
    PackageRead,
    PackageSummary,
    ReceiptCreate,
    RejectionCreate,
)
from klageapi.core import queue_order
from klageapi.core.auth import ReaderDep, WriterDep
from klageapi.core.clock import Clock, ClockDep
from klageapi.core.config import Settings
from klageapi.core.db import SessionDep
from klageapi.core.downloads import DOWNLOAD_HEADERS
from klageapi.core.idempotency import IdempotencyKeyDep
from klageapi.core.pagination import InvalidCursor, PageParams, PageParamsDep
from klageapi.core.queue_order import FeedOrder
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses
from klageapi.models import (
    CasePackage,
    DocumentationRequest,
    DocumentationRequestStatus,
    PackageStatus,
)

__all__ = ["router"]

router = APIRouter(tags=["packages"], responses=problem_responses(401, 403), route_class=JsonRoute)

IfMatch = Annotated[str | None, Header(description='The appeal\'s ETag, e.g. "5".')]
_WRITE = problem_responses(400, 404, 409, 412, 413, 415, 422)


def _overdue_threshold(clock: Clock, settings: Settings) -> dt.datetime:
    return service.overdue_threshold(clock, settings.package_receipt_overdue_working_days)


def _summary_fields(
    package: CasePackage, clock: Clock, overdue_threshold: dt.datetime
) -> dict[str, object]:
    return {
        "id": package.id,
        "appeal_id": package.appeal_id,
        "kind": package.kind,
        "status": package.status,
        "statsforvalter_office_id": package.statsforvalter_office_id,
        "frozen_at": package.frozen_at,
        "recorded_at": package.recorded_at,
        "waited_working_days": service.waited_working_days(package, clock),
        "overdue": package.status is PackageStatus.awaiting_receipt
        and package.frozen_at < overdue_threshold,
        "received_at": package.received_at,
        "statsforvalter_case_number": package.statsforvalter_case_number,
        "urgent": package.urgent,
        "urgent_reason": package.urgent_reason,
        "first_downloaded_at": package.first_downloaded_at,
        "first_downloaded_by": package.first_downloaded_by,
    }


def _read(package: CasePackage, clock: Clock, settings: Settings) -> PackageRead:
    return PackageRead(
        **_summary_fields(package, clock, _overdue_threshold(clock, settings)),
        manifest=package.manifest,
        rejection_reason=package.rejection_reason,
        rejection_description=package.rejection_description,
    )


def _feed_position(page: PageParams, order: FeedOrder) -> list[Any] | None:
    """Where the previous page ended, in `order` (a cursor of another order is refused)."""
    position = page.position("packages")
    if position is None:
        return None
    try:
        return queue_order.feed_position(order, position)
    except queue_order.InvalidPosition as error:
        raise InvalidCursor() from error


def _request_read(request: DocumentationRequest, clock: Clock) -> DocumentationRequestRead:
    return DocumentationRequestRead(
        id=request.id,
        appeal_id=request.appeal_id,
        description=request.description,
        categories=request.categories,
        due_on=request.due_on,
        status=request.status,
        overdue=request.status is DocumentationRequestStatus.open
        and request.due_on < clock.today(),
        requested_at=request.requested_at,
        requested_by_organisation=request.requested_by_organisation,
        fulfilled_at=request.fulfilled_at,
    )


@router.post(
    "/appeals/{appeal_id}/packages",
    operation_id="forward_appeal",
    status_code=status.HTTP_201_CREATED,
    response_model=PackageRead,
    responses=_WRITE,
)
async def forward_appeal(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
    _idempotency: IdempotencyKeyDep,
    body: Annotated[PackageCreate, Body(default_factory=PackageCreate)],
    if_match: IfMatch = None,
) -> PackageRead:
    """Freeze the appeal, NAV's assessment and the documents into a package for the
    Statsforvalter (→ forwarded). Needs NAV's outcome upheld or partial_reversal and documents
    of the categories appeal, decision and forwarding_letter."""
    package = await service.forward(
        session,
        appeal_id,
        body,
        organisation=organisation,
        clock=clock,
        expected_versions=expected_versions(if_match, required=False),
    )
    response.headers["Location"] = f"/v1/packages/{package.id}"
    return _read(package, clock, request.app.state.settings)


@router.get(
    "/packages",
    operation_id="list_packages",
    response_model=PackagePage,
    responses=problem_responses(400, 422),
)
async def list_packages(
    request: Request,
    session: SessionDep,
    organisation: ReaderDep,
    clock: ClockDep,
    page: PageParamsDep,
    status_: Annotated[PackageStatus | None, Query(alias="status")] = None,
    overdue: Annotated[bool, Query(description="Only packages waiting too long.")] = False,
    order: Annotated[
        FeedOrder,
        Query(
            description="`urgent_first` (then by forwarding), `forwarded`, `citizen_wait` (by"
            " NAV's receipt: the longest wait first) or `urgent_then_citizen_wait`."
        ),
    ] = FeedOrder.urgent_first,
) -> PackagePage:
    """The pull feed of the caller's Statsforvalter offices, urgent packages first (or in the
    order asked for)."""
    settings: Settings = request.app.state.settings
    after = _feed_position(page, order)
    threshold = _overdue_threshold(clock, settings)
    rows = await service.feed(
        session,
        organisation=organisation,
        status=status_,
        overdue_before=threshold if overdue else None,
        order=order,
        after=after,
        limit=page.limit + 1,
    )
    items, cursor = page.page(
        "packages", rows, lambda item: queue_order.FEED[order].encode(item.key)
    )
    return PackagePage(
        items=[PackageSummary(**_summary_fields(i.package, clock, threshold)) for i in items],
        next_cursor=cursor,
    )


@router.get(
    "/packages/{package_id}",
    operation_id="get_package",
    response_model=PackageRead,
    responses=problem_responses(404, 422),
)
async def get_package(
    request: Request,
    session: SessionDep,
    organisation: ReaderDep,
    clock: ClockDep,
    package_id: uuid.UUID,
) -> PackageRead:
    """The frozen manifest: appeal snapshot, NAV's assessment, documents with sha256."""
    package = await service.read_manifest(
        session, package_id, organisation=organisation, clock=clock
    )
    return _read(package, clock, request.app.state.settings)


@router.get(
    "/packages/{package_id}/bundle",
    operation_id="get_package_bundle",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The ZIP", "content": {"application/zip": {}}},
        **problem_responses(404, 410, 422),
    },
)
async def get_package_bundle(
    request: Request,
    session: SessionDep,
    organisation: ReaderDep,
    clock: ClockDep,
    package_id: uuid.UUID,
) -> StreamingResponse:
    """One streamed ZIP: `manifest.json`, `arkivmelding.xml` and `sbd.json` (eFormidling's
    archive message and its envelope, which name the documents as the ZIP does) and every
    document, each checked against its sha256 on the way out."""
    package, files = await service.open_bundle(
        session, package_id, organisation=organisation, clock=clock
    )
    settings: Settings = request.app.state.settings
    context = await archive.context_for(
        session,
        package,
        receipt_overdue_working_days=settings.package_receipt_overdue_working_days,
    )
    return StreamingResponse(
        bundle.bundle(package, files, request.app.state.blob_store, context=context),
        media_type="application/zip",
        headers={
            **DOWNLOAD_HEADERS,
            "Content-Disposition": f'attachment; filename="package-{package.id}.zip"',
            # Known up front; it also spares the server chunked encoding's copy of every piece.
            "Content-Length": str(bundle.bundle_size(package, files, context=context)),
        },
    )


@router.post(
    "/packages/{package_id}/receipt",
    operation_id="acknowledge_package",
    response_model=PackageRead,
    responses=_WRITE,
)
async def acknowledge_package(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    package_id: uuid.UUID,
    body: ReceiptCreate,
    _idempotency: IdempotencyKeyDep,
) -> PackageRead:
    """Registered under the Statsforvalter's own case number (→ received_by_statsforvalter).
    The same number again answers the same; another number is 409."""
    package = await service.acknowledge(
        session, package_id, body, organisation=organisation, clock=clock
    )
    return _read(package, clock, request.app.state.settings)


@router.post(
    "/packages/{package_id}/rejection",
    operation_id="reject_package",
    response_model=PackageRead,
    responses=_WRITE,
)
async def reject_package(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    package_id: uuid.UUID,
    body: RejectionCreate,
    _idempotency: IdempotencyKeyDep,
) -> PackageRead:
    """`not_ours`: re-routed to the office named, where it waits for receipt. `incomplete`: the
    appeal goes back to NAV (→ under_nav_review), which forwards a new package."""
    package = await service.reject(
        session, package_id, body, organisation=organisation, clock=clock
    )
    return _read(package, clock, request.app.state.settings)


@router.post(
    "/appeals/{appeal_id}/documentation-requests",
    operation_id="request_documentation",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentationRequestRead,
    responses=_WRITE,
)
async def request_documentation(
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    body: DocumentationRequestCreate,
    response: Response,
    _idempotency: IdempotencyKeyDep,
) -> DocumentationRequestRead:
    """Ask NAV for more documentation by a due date (→ awaiting_documentation)."""
    documentation_request = await service.request_documentation(
        session, appeal_id, body, organisation=organisation, clock=clock
    )
    response.headers["Location"] = f"/v1/appeals/{appeal_id}/documentation-requests"
    return _request_read(documentation_request, clock)


@router.get(
    "/appeals/{appeal_id}/documentation-requests",
    operation_id="list_documentation_requests",
    response_model=DocumentationRequestList,
    responses=problem_responses(400, 404, 422),
)
async def list_documentation_requests(
    session: SessionDep,
    organisation: ReaderDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    page: PageParamsDep,
) -> DocumentationRequestList:
    """The appeal's documentation requests, oldest first, with `overdue` for open ones past
    their due date."""
    requests, cursor = await service.documentation_requests(
        session, appeal_id, page, organisation=organisation
    )
    return DocumentationRequestList(
        items=[_request_read(r, clock) for r in requests], next_cursor=cursor
    )


@router.post(
    "/documentation-requests/{request_id}/fulfilment",
    operation_id="fulfil_documentation_request",
    status_code=status.HTTP_201_CREATED,
    response_model=PackageRead,
    responses=_WRITE,
)
async def fulfil_documentation_request(
    request: Request,
    session: SessionDep,
    organisation: WriterDep,
    clock: ClockDep,
    request_id: uuid.UUID,
    body: FulfilmentCreate,
    response: Response,
    _idempotency: IdempotencyKeyDep,
) -> PackageRead:
    """NAV answers with documents uploaded since the request: a supplementary package is
    frozen for the Statsforvalter's feed, and the appeal returns to its review."""
    package = await service.fulfil(
        session, request_id, body, organisation=organisation, clock=clock
    )
    response.headers["Location"] = f"/v1/packages/{package.id}"
    return _read(package, clock, request.app.state.settings)
