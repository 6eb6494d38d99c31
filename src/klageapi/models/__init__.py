"""Every ORM model; importing this package gives Alembic the whole metadata."""

from klageapi.models.appeal import (
    Appeal,
    AppealHistory,
    AppealStatus,
    Channel,
    NavOutcome,
    StatsforvalterOutcome,
)
from klageapi.models.audit import AuditEntry
from klageapi.models.base import Base
from klageapi.models.case_package import (
    CasePackage,
    DocumentationRequest,
    DocumentationRequestStatus,
    PackageDocument,
    PackageKind,
    PackageStatus,
)
from klageapi.models.document import Document, DocumentCategory
from klageapi.models.event import Event
from klageapi.models.idempotency import IdempotencyRecord
from klageapi.models.registry import CountyRoute, NavOffice, StatsforvalterOffice
from klageapi.models.webhook import (
    DeliveryReason,
    DeliveryStatus,
    FanoutCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

__all__ = [
    "Appeal",
    "AppealHistory",
    "AppealStatus",
    "AuditEntry",
    "Base",
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
    "NavOffice",
    "NavOutcome",
    "PackageDocument",
    "PackageKind",
    "PackageStatus",
    "StatsforvalterOffice",
    "StatsforvalterOutcome",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
