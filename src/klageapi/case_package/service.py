"""Forwarding appeals as frozen packages, the Statsforvalter's receipt and rejection of them, and
documentation requests, whose answers travel as supplementary packages."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import lifecycle
from klageapi.appeal import service as appeals
from klageapi.appeal.deadline import is_working_day
from klageapi.appeal.errors import AppealNotFound
from klageapi.appeal.lifecycle import Action, Step
from klageapi.appeal.timeline import working_days_between
from klageapi.audit import service as audit
from klageapi.case_package import repository
from klageapi.case_package.checklist import missing_documents
from klageapi.case_package.errors import (
    DocumentationRequestNotFound,
    DocumentationRequestNotOpen,
    DocumentsNotEligible,
    NavOutcomeRequired,
    PackageErased,
    PackageNotAwaitingReceipt,
    PackageNotFound,
    PackageWithdrawn,
    ReceiptConflict,
    RequiredDocumentsMissing,
    UnknownStatsforvalterOffice,
)
from klageapi.case_package.schemas import (
    DocumentationRequestCreate,
    FulfilmentCreate,
    PackageCreate,
    ReceiptCreate,
    RejectionCreate,
    RejectionReason,
)
from klageapi.core.auth import Organisation
from klageapi.core.clock import NORWAY, Clock
from klageapi.core.errors import KlageError
from klageapi.core.pagination import PageParams
from klageapi.core.queue_order import FeedOrder
from klageapi.core.validation import check_dates_against_today
from klageapi.document import service as documents
from klageapi.event import outbox
from klageapi.models import (
    Appeal,
    CasePackage,
    Document,
    DocumentationRequest,
    DocumentationRequestStatus,
    NavOutcome,
    PackageDocument,
    PackageKind,
    PackageStatus,
)
from klageapi.registry import access
from klageapi.registry import service as registry
from klageapi.registry.access import Role

__all__ = [
    "acknowledge",
    "comment_deadline",
    "documentation_request_of",
    "feed",
    "forward",
    "forward_from_appellant",
    "fulfil",
    "get_visible",
    "open_bundle",
    "overdue_threshold",
    "reject",
    "request_documentation",
    "waited_working_days",
]

_FORWARDABLE_OUTCOMES = frozenset({NavOutcome.upheld, NavOutcome.partial_reversal})


def _manifest(
    package_id: uuid.UUID,
    kind: PackageKind,
    appeal: Appeal,
    files: Sequence[Document],
    frozen_at: dt.datetime,
    request: DocumentationRequest | None,
    forwarding: dict[str, object] | None,
    sent_by: str,
) -> dict[str, object]:
    """What the package says, frozen: later changes to the appeal never reach it."""
    return {
        "package_id": str(package_id),
        "kind": kind.value,
        "sent_by": sent_by,
        "frozen_at": frozen_at.isoformat(),
        "urgent": appeal.urgent,
        "urgent_reason": appeal.urgent_reason.value if appeal.urgent_reason else None,
        "forwarding": forwarding,
        "appeal": {
            "id": str(appeal.id),
            "national_id": appeal.national_id,
            "nav_office_unit_number": appeal.nav_office_unit_number,
            "municipality_number": appeal.municipality_number,
            "statsforvalter_office_id": appeal.statsforvalter_office_id,
            "external_reference": appeal.external_reference,
            "decision": {
                "reference": appeal.decision_reference,
                "decided_on": appeal.decision_decided_on.isoformat(),
                "notified_on": appeal.decision_notified_on.isoformat(),
                "legal_basis": appeal.legal_basis.value,
            },
            "received_on": appeal.received_on.isoformat(),
            "channel": appeal.channel.value,
            "grounds": appeal.grounds,
            "appeal_deadline_on": appeal.appeal_deadline_on.isoformat(),
            "late": appeal.late,
        },
        "nav_assessment": {
            "outcome": appeal.nav_outcome.value if appeal.nav_outcome else None,
            "decided_on": appeal.nav_outcome_on.isoformat() if appeal.nav_outcome_on else None,
            "reasoning": appeal.nav_reasoning,
        },
        "documentation_request": None
        if request is None
        else {"id": str(request.id), "description": request.description},
        "documents": [
            {
                "id": str(document.id),
                "category": document.category.value,
                "title": document.title,
                "file_name": document.file_name,
                "media_type": document.media_type,
                "size": document.size,
                "sha256": document.sha256,
            }
            for document in files
        ],
    }


def _freeze(
    session: AsyncSession,
    package_id: uuid.UUID,
    kind: PackageKind,
    appeal: Appeal,
    files: Sequence[Document],
    *,
    clock: Clock,
    request: DocumentationRequest | None = None,
    forwarding: dict[str, object] | None = None,
    sent_by: str = "nav",
) -> CasePackage:
    """The package of the step just taken on `appeal`, frozen when that step happened."""
    frozen_at = _step_time(appeal)
    package = CasePackage(
        id=package_id,
        appeal_id=appeal.id,
        kind=kind,
        status=PackageStatus.awaiting_receipt,
        statsforvalter_office_id=appeal.statsforvalter_office_id,
        manifest=_manifest(
            package_id, kind, appeal, files, frozen_at, request, forwarding, sent_by
        ),
        urgent=appeal.urgent,
        urgent_reason=appeal.urgent_reason,
        frozen_at=frozen_at,
        recorded_at=clock.now(),
        documentation_request_id=request.id if request else None,
    )
    session.add(package)
    for position, document in enumerate(files):
        session.add(
            PackageDocument(package_id=package_id, document_id=document.id, position=position)
        )
    return package


def _step_time(appeal: Appeal) -> dt.datetime:
    """When the step just taken on the appeal happened (business time): the package's times
    are the steps' times, as the history and the statistics have them."""
    if appeal.last_step_at is None:
        raise RuntimeError("a step was taken without a time")
    return appeal.last_step_at


async def forward(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    body: PackageCreate,
    *,
    organisation: Organisation,
    clock: Clock,
    expected_versions: frozenset[int] | None,
) -> CasePackage:
    """Freeze the appeal and its documents into a package for the Statsforvalter, with what
    the offices' forwarding forms ask (urgency, deferred enforcement, the case presentation,
    children)."""
    package_id = uuid.uuid4()
    step = Step(
        Action.forward,
        occurred_at=body.occurred_at,
        expected_versions=expected_versions,
        sets={"urgent": body.urgent, "urgent_reason": body.urgent_reason},
        details={
            "package_id": str(package_id),
            "kind": PackageKind.initial.value,
            "urgent": body.urgent,
        },
    )
    appeal = await lifecycle.apply(session, appeal_id, step, actor=organisation, clock=clock)
    # Judged on the locked appeal; a refusal rolls the step back with the transaction.
    if appeal.nav_outcome not in _FORWARDABLE_OUTCOMES:
        raise NavOutcomeRequired()
    files = await documents.of_appeal(session, appeal.id)
    missing = missing_documents(appeal.legal_basis, {document.category for document in files})
    if missing:
        raise RequiredDocumentsMissing(missing)
    package = _freeze(
        session,
        package_id,
        PackageKind.initial,
        appeal,
        files,
        clock=clock,
        forwarding=body.facts(),
    )
    await session.flush()
    return package


def forward_from_appellant(
    session: AsyncSession,
    package_id: uuid.UUID,
    appeal: Appeal,
    files: Sequence[Document],
    *,
    clock: Clock,
    request: DocumentationRequest | None = None,
) -> CasePackage:
    """What the appellant sent, after the step that announced it was taken on `appeal`: a
    supplementary package into the Statsforvalter office's feed, behind NAV's."""
    return _freeze(
        session,
        package_id,
        PackageKind.supplementary,
        appeal,
        files,
        clock=clock,
        request=request,
        sent_by=lifecycle.APPELLANT,
    )


def overdue_threshold(clock: Clock, working_days: int) -> dt.datetime:
    """Packages forwarded before this moment have waited more than `working_days`."""
    day = clock.today()
    counted = 0
    while counted < working_days:
        day -= dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return dt.datetime.combine(day, dt.time(), tzinfo=NORWAY)


def waited_working_days(package: CasePackage, clock: Clock) -> int:
    until = package.received_at or package.rejected_at or clock.now()
    return working_days_between(package.frozen_at, until)


async def feed(
    session: AsyncSession,
    *,
    organisation: Organisation,
    status: PackageStatus | None,
    overdue_before: dt.datetime | None,
    order: FeedOrder,
    after: Sequence[Any] | None,
    limit: int,
) -> list[repository.FeedItem]:
    """The pull feed of the Statsforvalter offices the caller acts for, in `order`."""
    offices = await access.offices_of(session, organisation)
    if not offices.statsforvalter:
        return []
    if overdue_before is not None:
        status = PackageStatus.awaiting_receipt
    return await repository.feed(
        session,
        offices=offices,
        status=status,
        frozen_before=overdue_before,
        order=order,
        after=after,
        limit=limit,
    )


async def _roles_in(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    *,
    organisation: Organisation,
    or_else: KlageError,
) -> tuple[frozenset[Role], access.Offices]:
    """The parts the caller plays in the appeal of a package or request, and the offices it
    acts for; `or_else` (that thing's not-found) when it may not see the appeal."""
    try:
        _, roles, offices = await appeals.visible_with_roles(
            session, appeal_id, organisation=organisation
        )
    except AppealNotFound as error:
        raise or_else from error
    return roles, offices


async def get_visible(
    session: AsyncSession,
    package_id: uuid.UUID,
    *,
    organisation: Organisation,
    for_update: bool = False,
) -> tuple[CasePackage, frozenset[Role]]:
    """A package of the caller's NAV office, or one waiting at (or received by) the caller's
    Statsforvalter office; anything else does not exist. With the caller's roles in it."""
    package = await repository.get(session, package_id, for_update=for_update)
    if package is None:
        raise PackageNotFound(package_id)
    roles, offices = await _roles_in(
        session, package.appeal_id, organisation=organisation, or_else=PackageNotFound(package_id)
    )
    roles = access.roles_in_package(
        roles, offices, statsforvalter_office=package.statsforvalter_office_id
    )
    if not roles:
        raise PackageNotFound(package_id)
    return package, roles


async def read_manifest(
    session: AsyncSession, package_id: uuid.UUID, *, organisation: Organisation, clock: Clock
) -> CasePackage:
    """A visible package, its read audited (the manifest carries the national id)."""
    package, _ = await _read(session, package_id, organisation=organisation, clock=clock)
    return package


async def _read(
    session: AsyncSession, package_id: uuid.UUID, *, organisation: Organisation, clock: Clock
) -> tuple[CasePackage, frozenset[Role]]:
    package, roles = await get_visible(session, package_id, organisation=organisation)
    await audit.record(
        session,
        principal=organisation,
        action="package.read",
        appeal_id=package.appeal_id,
        purpose="case processing",
        clock=clock,
    )
    return package, roles


async def _urgent(session: AsyncSession, appeal_id: uuid.UUID) -> bool:
    """Whether NAV marked the appeal urgent (from the appeal the caller's access check read)."""
    appeal = await session.get(Appeal, appeal_id)
    return bool(appeal and appeal.urgent)


def _refuse_unless_waiting(package: CasePackage) -> None:
    if package.status is PackageStatus.withdrawn:
        raise PackageWithdrawn()
    if package.status is not PackageStatus.awaiting_receipt:
        raise PackageNotAwaitingReceipt(package.status.value)


async def open_bundle(
    session: AsyncSession, package_id: uuid.UUID, *, organisation: Organisation, clock: Clock
) -> tuple[CasePackage, Sequence[Document]]:
    """A visible package to download, its read audited, with its documents. The first
    download by the Statsforvalter's side is kept on the package and announced, once: it has
    begun when this returns (the bundle is sent after the transaction commits)."""
    package, roles = await _read(session, package_id, organisation=organisation, clock=clock)
    if package.manifest.get("personal_data_erased"):
        raise PackageErased()
    if Role.statsforvalter in roles and package.first_downloaded_at is None:
        await _record_first_download(session, package, organisation=organisation, clock=clock)
    return package, await repository.package_documents(session, package.id)


async def _record_first_download(
    session: AsyncSession, package: CasePackage, *, organisation: Organisation, clock: Clock
) -> None:
    now = clock.now()
    if not await repository.mark_first_download(session, package.id, organisation.actor, now):
        return  # a concurrent download was first
    package.first_downloaded_at, package.first_downloaded_by = now, organisation.actor
    appeal = await session.get(Appeal, package.appeal_id)  # read with the package's visibility
    if appeal is None:
        raise RuntimeError("a visible package without its appeal")
    outbox.write(
        session,
        appeal,
        type_="package.downloaded",
        occurred_at=now,
        recorded_at=now,
        data={"package_id": str(package.id)},
        statsforvalter_office_id=package.statsforvalter_office_id,
    )
    await session.flush()


async def acknowledge(
    session: AsyncSession,
    package_id: uuid.UUID,
    body: ReceiptCreate,
    *,
    organisation: Organisation,
    clock: Clock,
) -> CasePackage:
    """The Statsforvalter registered the package under its own case number. Again with the
    same number is a no-op; with another, a conflict."""
    package, roles = await get_visible(
        session, package_id, organisation=organisation, for_update=True
    )
    if Role.statsforvalter not in roles:
        raise PackageNotFound(package_id)
    if package.status is PackageStatus.received:
        if package.statsforvalter_case_number != body.statsforvalter_case_number:
            raise ReceiptConflict(package.statsforvalter_case_number or "")
        return package
    _refuse_unless_waiting(package)
    initial = package.kind is PackageKind.initial
    step = Step(
        Action.acknowledge_receipt if initial else Action.acknowledge_supplementary,
        occurred_at=body.occurred_at,
        # The appeal keeps the case number its first package was received under.
        sets={"statsforvalter_case_number": body.statsforvalter_case_number} if initial else {},
        details={"package_id": str(package.id)},
    )
    appeal = await lifecycle.apply(
        session, package.appeal_id, step, actor=organisation, clock=clock
    )
    package.status = PackageStatus.received
    package.received_at = _step_time(appeal)
    package.statsforvalter_case_number = body.statsforvalter_case_number
    await session.flush()
    return package


async def reject(
    session: AsyncSession,
    package_id: uuid.UUID,
    body: RejectionCreate,
    *,
    organisation: Organisation,
    clock: Clock,
) -> CasePackage:
    """Not ours: re-route to the office named. Incomplete: back to NAV, which forwards anew."""
    package, roles = await get_visible(
        session, package_id, organisation=organisation, for_update=True
    )
    if Role.statsforvalter not in roles:
        raise PackageNotFound(package_id)
    _refuse_unless_waiting(package)
    if package.kind is not PackageKind.initial:
        raise PackageNotAwaitingReceipt(package.status.value)
    details: dict[str, object] = {"package_id": str(package.id), "reason": body.reason.value}
    package.rejection_reason = body.reason.value
    if body.reason is RejectionReason.not_ours:
        target = body.statsforvalter_office_id or ""
        known = await registry.statsforvalter_office_exists(session, target)
        if not known or target == package.statsforvalter_office_id:
            raise UnknownStatsforvalterOffice(target)
        package.statsforvalter_office_id = target
        step = Step(
            Action.reroute_package,
            occurred_at=body.occurred_at,
            sets={"statsforvalter_office_id": target},
            details={
                **details,
                "rerouted_to": target,
                "kind": "rerouted",
                "urgent": package.urgent,
            },
        )
    else:
        package.status = PackageStatus.rejected
        package.rejection_description = body.description
        step = Step(Action.reject_package, occurred_at=body.occurred_at, details=details)
    # Settled before the step, which then moves or withdraws whatever else of the appeal waits.
    await session.flush()
    appeal = await lifecycle.apply(
        session, package.appeal_id, step, actor=organisation, clock=clock
    )
    if package.status is PackageStatus.rejected:
        package.rejected_at = _step_time(appeal)
    await session.flush()
    return package


async def request_documentation(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    body: DocumentationRequestCreate,
    *,
    organisation: Organisation,
    clock: Clock,
) -> DocumentationRequest:
    """Ask NAV for more, by a due date; the appeal waits for documentation."""
    check_dates_against_today(clock, not_past={"due_on": body.due_on}, as_of=body.occurred_at)
    request_id = uuid.uuid4()
    step = Step(
        Action.request_documentation,
        occurred_at=body.occurred_at,
        details={"documentation_request_id": str(request_id), "due_on": body.due_on.isoformat()},
    )
    appeal = await lifecycle.apply(session, appeal_id, step, actor=organisation, clock=clock)
    request = DocumentationRequest(
        id=request_id,
        appeal_id=appeal_id,
        description=body.description,
        categories=[category.value for category in body.categories],
        due_on=body.due_on,
        status=DocumentationRequestStatus.open,
        requested_at=_step_time(appeal),
        requested_by_organisation=organisation.actor,
    )
    session.add(request)
    await session.flush()
    return request


async def documentation_requests(
    session: AsyncSession, appeal_id: uuid.UUID, page: PageParams, *, organisation: Organisation
) -> tuple[Sequence[DocumentationRequest], str | None]:
    """A page of the appeal's documentation requests, oldest first."""
    await appeals.visible_with_roles(session, appeal_id, organisation=organisation)
    rows = await repository.documentation_requests_of(
        session,
        appeal_id,
        after=page.after_time_and_id("documentation-requests"),
        limit=page.limit + 1,
    )
    return page.page(
        "documentation-requests",
        list(rows),
        lambda request: [request.requested_at.isoformat(), str(request.id)],
    )


async def fulfil(
    session: AsyncSession,
    request_id: uuid.UUID,
    body: FulfilmentCreate,
    *,
    organisation: Organisation,
    clock: Clock,
) -> CasePackage:
    """NAV answers a documentation request: the named documents are frozen into a
    supplementary package and the appeal returns to the Statsforvalter's review."""
    request = await repository.get_documentation_request(session, request_id, for_update=True)
    if request is None:
        raise DocumentationRequestNotFound(request_id)
    roles, _ = await _roles_in(
        session,
        request.appeal_id,
        organisation=organisation,
        or_else=DocumentationRequestNotFound(request_id),
    )
    if Role.nav not in roles:
        raise DocumentationRequestNotFound(request_id)
    if request.status is not DocumentationRequestStatus.open:
        raise DocumentationRequestNotOpen(request.status.value)
    eligible = {
        document.id: document
        for document in await documents.of_appeal(session, request.appeal_id)
        if document.uploaded_at >= request.requested_at
    }
    wanted = list(dict.fromkeys(body.document_ids))
    refused = [document_id for document_id in wanted if document_id not in eligible]
    if refused:
        raise DocumentsNotEligible(refused)
    package_id = uuid.uuid4()
    urgent = await _urgent(session, request.appeal_id)
    step = Step(
        Action.fulfil_documentation,
        occurred_at=body.occurred_at,
        details={
            "documentation_request_id": str(request.id),
            "package_id": str(package_id),
            "kind": PackageKind.supplementary.value,
            "urgent": urgent,
        },
    )
    appeal = await lifecycle.apply(
        session, request.appeal_id, step, actor=organisation, clock=clock
    )
    package = _freeze(
        session,
        package_id,
        PackageKind.supplementary,
        appeal,
        [eligible[document_id] for document_id in wanted],
        clock=clock,
        request=request,
    )
    request.status = DocumentationRequestStatus.fulfilled
    request.fulfilled_at = package.frozen_at
    await session.flush()
    return package


async def comment_deadline(session: AsyncSession, appeal_id: uuid.UUID) -> dt.date | None:
    """The comment deadline NAV set on the case presentation it sent the appellant with its
    latest forwarding (fvl § 33); None when it sent none."""
    forwarding = await repository.latest_forwarding(session, appeal_id)
    deadline = forwarding.get("comment_deadline_on")
    return dt.date.fromisoformat(deadline) if isinstance(deadline, str) else None


async def documentation_request_of(
    session: AsyncSession, appeal_id: uuid.UUID, request_id: uuid.UUID, *, for_update: bool
) -> DocumentationRequest | None:
    """A documentation request about this appeal, for a caller that has checked access."""
    request = await repository.get_documentation_request(session, request_id, for_update=for_update)
    return request if request is not None and request.appeal_id == appeal_id else None
