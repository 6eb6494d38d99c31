"""Every ORM model; importing this package gives Alembic the whole metadata."""

from klageapi.models.appeal import (
    MILESTONES,
    Appeal,
    AppealHistory,
    AppealStatus,
    Channel,
    LegalBasis,
    NavOutcome,
    StatsforvalterOutcome,
    UrgentReason,
)
from klageapi.models.audit import APPEND_ONLY, AuditEntry
from klageapi.models.base import Base, Trigger
from klageapi.models.case_package import (
    CasePackage,
    DocumentationRequest,
    DocumentationRequestStatus,
    PackageDocument,
    PackageKind,
    PackageStatus,
)
from klageapi.models.document import BlobRemoval, Document, DocumentCategory
from klageapi.models.event import Event
from klageapi.models.idempotency import IdempotencyRecord, IdempotencyState
from klageapi.models.registry import CountyRoute, NavOffice, StatsforvalterOffice
from klageapi.models.webhook import (
    DISPATCHER_NOTICES,
    DeliveryReason,
    DeliveryStatus,
    FanoutCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

TRIGGERS: tuple[Trigger, ...] = (MILESTONES, APPEND_ONLY, *DISPATCHER_NOTICES)
"""Every trigger the code relies on (each declared beside its table, with why)."""

__all__ = [
    "TRIGGERS",
    "Appeal",
    "AppealHistory",
    "AppealStatus",
    "AuditEntry",
    "Base",
    "BlobRemoval",
    "CasePackage",
    "Channel",
    "CountyRoute",
    "DeliveryReason",
    "DeliveryStatus",
    "Document",
    "DocumentCategory",
    "DocumentationRequest",
    "DocumentationRequestStatus",
    "Event",
    "FanoutCursor",
    "IdempotencyRecord",
    "IdempotencyState",
    "LegalBasis",
    "NavOffice",
    "NavOutcome",
    "PackageDocument",
    "PackageKind",
    "PackageStatus",
    "StatsforvalterOffice",
    "StatsforvalterOutcome",
    "UrgentReason",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
