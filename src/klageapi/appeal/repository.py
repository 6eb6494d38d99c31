"""SQL for appeals. Who may see which appeal is `registry.access`'s rule, applied here.

Registration and steps write their rows without the ORM's flush: each is one hand-built
statement (built once, cached by SQLAlchemy) that writes the appeal and the rows that go with it
(history, events, audit entry), after which the ORM's view of the appeal is told what was
written. `bench/statements.py` measures them against the flush, which costs registration
2.0-2.3x and a step 1.16-1.36x the CPU per operation. The appeal's milestone columns are
written by neither: a trigger keeps them (`models.appeal.MILESTONES`).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    Executable,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    exists,
    func,
    insert,
    inspect,
    literal,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from klageapi.core import queue_order
from klageapi.core.auth import Organisation
from klageapi.core.queue_order import AppealOrder
from klageapi.core.statements import binds, bound, table_of
from klageapi.event import outbox
from klageapi.models import (
    Appeal,
    AppealHistory,
    AppealStatus,
    AuditEntry,
    CasePackage,
    Document,
    DocumentationRequest,
    DocumentationRequestStatus,
    DocumentCategory,
    Event,
    PackageStatus,
)
from klageapi.registry import access

__all__ = [
    "AppealFilter",
    "DecisionObstacles",
    "cancel_open_documentation_requests",
    "decision_obstacles",
    "get_by_external_reference",
    "get_own",
    "get_visible",
    "history",
    "insert_registration",
    "list_visible",
    "reroute_waiting_packages",
    "withdraw_waiting_packages",
    "write_step",
]


@functools.cache
def _visible_appeal_statement(
    *, for_update: bool
) -> Select[Appeal, list[str] | None, list[str] | None]:
    """One appeal, if the organisation may see it, with the offices it acts for: one round
    trip (the registry's offices as subqueries on the organisation number)."""
    nav = access.nav_offices_of(access.ORGANISATION).subquery()
    statsforvalter = access.statsforvalter_offices_of(access.ORGANISATION).subquery()
    query = select(
        Appeal,
        select(func.array_agg(nav.c.unit_number)).scalar_subquery(),
        select(func.array_agg(statsforvalter.c.id)).scalar_subquery(),
    ).where(
        Appeal.id == bindparam("appeal_id"),
        access.visible(access.APPEAL, access.ORGANISATION),
    )
    if for_update:
        # Only the appeal row is locked. populate_existing: a locked read must see the row as
        # it is now, not as the session's identity map remembered it.
        query = query.with_for_update(of=Appeal).execution_options(populate_existing=True)
    return query


async def get_visible(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    organisation: Organisation,
    *,
    for_update: bool = False,
) -> tuple[Appeal, access.Offices] | None:
    """The appeal, if the organisation may see it, and the offices the organisation acts for."""
    row = (
        await session.execute(
            _visible_appeal_statement(for_update=for_update),
            {"appeal_id": appeal_id, "organisation_number": organisation.organisation_number},
        )
    ).one_or_none()
    if row is None:
        return None
    appeal, nav, statsforvalter = row
    return appeal, access.offices(nav=nav, statsforvalter=statsforvalter)


async def get_own(
    session: AsyncSession, appeal_id: uuid.UUID, national_id: str, *, for_update: bool = False
) -> Appeal | None:
    """The appeal, if the citizen with this national id is its appellant."""
    query = select(Appeal).where(Appeal.id == appeal_id, Appeal.national_id == national_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).one_or_none()


async def get_by_external_reference(
    session: AsyncSession, *, unit_number: str, external_reference: str
) -> Appeal | None:
    query = select(Appeal).where(
        Appeal.nav_office_unit_number == unit_number,
        Appeal.external_reference == external_reference,
    )
    return (await session.scalars(query)).one_or_none()


@dataclass(frozen=True)
class AppealFilter:
    statuses: Sequence[AppealStatus] = ()
    nav_office: str | None = None
    statsforvalter_office: str | None = None
    updated_after: dt.datetime | None = None
    late: bool | None = None


async def list_visible(
    session: AsyncSession,
    offices: access.Offices,
    where: AppealFilter,
    *,
    order: AppealOrder,
    after: Sequence[Any] | None,
    limit: int,
) -> Sequence[Appeal]:
    """A page of visible appeals in `order`, after the position `after`."""
    query = select(Appeal).where(access.visible(access.APPEAL, offices))
    if where.statuses:
        query = query.where(Appeal.status.in_(where.statuses))
    if where.nav_office is not None:
        query = query.where(Appeal.nav_office_unit_number == where.nav_office)
    if where.statsforvalter_office is not None:
        query = query.where(Appeal.statsforvalter_office_id == where.statsforvalter_office)
    if where.updated_after is not None:
        query = query.where(Appeal.updated_at > where.updated_after)
    if where.late is not None:
        # Plain `late` / `NOT late` (not `IS TRUE`) so the partial index applies.
        query = query.where(Appeal.late if where.late else ~Appeal.late)
    keyset = queue_order.APPEALS[order]
    if after is not None:
        if order is AppealOrder.updated:
            # A row comparison: the (updated_at, id) indexes serve it as one range.
            query = query.where(tuple_(Appeal.updated_at, Appeal.id) > tuple_(*after))
        else:
            query = query.where(keyset.after(after))
    query = query.order_by(*keyset.order_by()).limit(limit)
    return (await session.scalars(query)).all()


async def withdraw_waiting_packages(
    session: AsyncSession, appeal_id: uuid.UUID
) -> Sequence[tuple[uuid.UUID, str]]:
    """Mark the appeal's packages still awaiting receipt withdrawn; their ids and offices."""
    result = await session.execute(
        update(CasePackage)
        .where(
            CasePackage.appeal_id == appeal_id,
            CasePackage.status == PackageStatus.awaiting_receipt,
        )
        .values(status=PackageStatus.withdrawn)
        .returning(CasePackage.id, CasePackage.statsforvalter_office_id)
        .execution_options(synchronize_session=False)
    )
    return [(package_id, office) for package_id, office in result.all()]


async def reroute_waiting_packages(
    session: AsyncSession, appeal_id: uuid.UUID, *, from_office: str, to_office: str
) -> Sequence[tuple[uuid.UUID, bool]]:
    """Readdress the appeal's packages awaiting receipt at `from_office` to `to_office`; their
    ids and urgency, in the order they were forwarded."""
    result = await session.execute(
        update(CasePackage)
        .where(
            CasePackage.appeal_id == appeal_id,
            CasePackage.status == PackageStatus.awaiting_receipt,
            CasePackage.statsforvalter_office_id == from_office,
        )
        .values(statsforvalter_office_id=to_office)
        .returning(CasePackage.id, CasePackage.urgent, CasePackage.frozen_at)
        .execution_options(synchronize_session=False)
    )
    rows = sorted(result.all(), key=lambda row: (row.frozen_at, row.id))
    return [(package_id, urgent) for package_id, urgent, _ in rows]


async def cancel_open_documentation_requests(session: AsyncSession, appeal_id: uuid.UUID) -> None:
    await session.execute(
        update(DocumentationRequest)
        .where(
            DocumentationRequest.appeal_id == appeal_id,
            DocumentationRequest.status == DocumentationRequestStatus.open,
        )
        .values(status=DocumentationRequestStatus.cancelled)
    )


@dataclass(frozen=True)
class DecisionObstacles:
    waiting_package_id: uuid.UUID | None
    """A package (NAV's answer to a documentation request) still awaiting receipt."""
    has_decision_document: bool
    """Whether the document named is a statsforvalter_decision document of the appeal."""


async def decision_obstacles(
    session: AsyncSession, appeal_id: uuid.UUID, document_id: uuid.UUID
) -> DecisionObstacles:
    """What stands in the way of deciding an appeal, from the rows that hang off it, in one
    round trip."""
    waiting = (
        select(CasePackage.id)
        .where(
            CasePackage.appeal_id == appeal_id,
            CasePackage.status == PackageStatus.awaiting_receipt,
        )
        .order_by(CasePackage.frozen_at)
        .limit(1)
        .scalar_subquery()
    )
    decision_document = exists().where(
        Document.id == document_id,
        Document.appeal_id == appeal_id,
        Document.category == DocumentCategory.statsforvalter_decision,
    )
    row = (await session.execute(select(waiting, decision_document))).one()
    return DecisionObstacles(waiting_package_id=row[0], has_decision_document=row[1])


async def history(session: AsyncSession, appeal_id: uuid.UUID) -> Sequence[AppealHistory]:
    query = (
        select(AppealHistory).where(AppealHistory.appeal_id == appeal_id).order_by(AppealHistory.id)
    )
    return (await session.scalars(query)).all()


# Registration writes four rows. One statement does it: the appeal is inserted unless its office
# already has the external reference (ON CONFLICT DO NOTHING, which also waits out a concurrent
# registration of it), and the history row, the event and the audit entry are inserted from
# what that insert returned, so they are written exactly when the appeal is. One round trip
# instead of a savepoint and four INSERTs. Built once: only the values change per call.
_APPEAL_FIELDS = (
    "id",
    "nav_office_unit_number",
    "municipality_number",
    "statsforvalter_office_id",
    "national_id",
    "decision_reference",
    "decision_decided_on",
    "decision_notified_on",
    "legal_basis",
    "digisos_case_id",
    "nav_appeal_id",
    "other_decisions",
    "received_on",
    "channel",
    "grounds",
    "external_reference",
    "appeal_deadline_on",
    "late",
    "status",
    "version",
    "status_changed_at",
    "registered_at",
    "registration_digest",
    "created_at",
    "updated_at",
)
# The columns of a history row, an event and an audit entry besides their appeal_id.
_HISTORY_COLUMNS = (
    "action",
    "from_status",
    "to_status",
    "actor_organisation",
    "actor_supplier",
    "occurred_at",
    "recorded_at",
    "details",
)
_EVENT_COLUMNS = tuple(name for name in outbox.COLUMNS if name != "appeal_id")
_AUDIT_COLUMNS = (
    "occurred_at",
    "actor_kind",
    "actor_organisation",
    "actor_supplier",
    "action",
    "purpose",
    "request_id",
)
# The rows written from the new appeal's id: (parameter prefix, table, columns).
_FOLLOWERS: tuple[tuple[str, Table, tuple[str, ...]], ...] = (
    ("history", table_of(AppealHistory), _HISTORY_COLUMNS),
    ("event", table_of(Event), _EVENT_COLUMNS),
    ("audit", table_of(AuditEntry), _AUDIT_COLUMNS),
)


def _registration_statement() -> Select[tuple[uuid.UUID]]:
    appeal_table = table_of(Appeal)
    new_appeal: CTE = (
        pg_insert(appeal_table)
        .values(binds(appeal_table, "appeal", _APPEAL_FIELDS))
        .on_conflict_do_nothing(index_elements=["nav_office_unit_number", "external_reference"])
        .returning(appeal_table.c.id)
        .cte("new_appeal")
    )
    followers = []
    for prefix, table, names in _FOLLOWERS:
        values = select(new_appeal.c.id, *binds(table, prefix, names).values())
        followers.append(
            insert(table).from_select(["appeal_id", *names], values).cte(f"new_{prefix}")
        )
    return select(new_appeal.c.id).add_cte(*followers)


_REGISTRATION = _registration_statement()


# A step (a transition, or a note such as a preliminary reply) updates the appeal and writes a
# history row, its events (none to two) and, when its answer carries the appeal, an audit entry:
# one statement, all but the last part in CTEs. Built once per shape, and compiled once per shape
# (a test checks that SQLAlchemy can cache it). The history trigger (milestones, latest step)
# runs after the statement, on the appeal as this statement left it.
_STEP_HISTORY_FIELDS = ("appeal_id", *_HISTORY_COLUMNS)
_STEP_EVENT_FIELDS = ("appeal_id", *_EVENT_COLUMNS)
_STEP_AUDIT_FIELDS = ("appeal_id", *_AUDIT_COLUMNS)


@functools.cache
def _step_statement(changed: tuple[str, ...], events: int, *, audited: bool) -> Executable:
    appeal_table = table_of(Appeal)
    history_table = table_of(AppealHistory)
    parts: list[Insert | Update] = [
        update(appeal_table)
        .where(appeal_table.c.id == bindparam("appeal_id", type_=appeal_table.c.id.type))
        .values(binds(appeal_table, "appeal", changed)),
        insert(history_table).values(binds(history_table, "history", _STEP_HISTORY_FIELDS)),
    ]
    if audited:
        audit_table = table_of(AuditEntry)
        parts.append(insert(audit_table).values(binds(audit_table, "audit", _STEP_AUDIT_FIELDS)))
    if events:
        # The events as a SELECT of each one's values in their order (the feed's order is the
        # order they are inserted in), not as a multi-row VALUES: SQLAlchemy does not cache
        # that, and would compile the statement again on every step.
        event_table = table_of(Event)
        rows = union_all(
            *(
                select(
                    *(
                        bind.label(name)
                        for name, bind in binds(
                            event_table, f"event{n}", _STEP_EVENT_FIELDS
                        ).items()
                    ),
                    literal(n).label("position"),
                )
                for n in range(events)
            )
        ).subquery("new_events")
        ordered = select(*(rows.c[name] for name in _STEP_EVENT_FIELDS)).order_by(rows.c.position)
        parts.append(insert(event_table).from_select(_STEP_EVENT_FIELDS, ordered))
    *before, last = parts
    return last.add_cte(*(part.cte(f"step_{n}") for n, part in enumerate(before)))


async def write_step(
    session: AsyncSession,
    appeal: Appeal,
    *,
    history: dict[str, object],
    events: Sequence[dict[str, object]],
    audit: dict[str, object] | None = None,
) -> None:
    """Write what the step changed on `appeal` (its attributes set since it was read), its
    history row, its events and its audit entry, in one statement instead of the ORM's flush."""
    state = inspect(appeal)
    changed = {
        column.key: added[0]
        for column in state.mapper.column_attrs
        if (added := state.attrs[column.key].history.added)
    }
    names = tuple(sorted(changed))
    params: dict[str, object] = {"appeal_id": appeal.id}
    params.update(bound("appeal", changed, names))
    params.update(bound("history", history, _STEP_HISTORY_FIELDS))
    for n, event in enumerate(events):
        params.update(bound(f"event{n}", event, _STEP_EVENT_FIELDS))
    if audit is not None:
        params.update(bound("audit", audit, _STEP_AUDIT_FIELDS))
    statement = _step_statement(names, len(events), audited=audit is not None)
    # Without autoflush: the session would otherwise write the same changes first.
    with session.no_autoflush:
        await session.execute(statement, params)
    # Written: the session must not write the same values again at its next flush.
    for name, value in changed.items():
        set_committed_value(appeal, name, value)
    # The trigger keeps the latest step's time in the database; the ORM's copy is told the same
    # (the step was checked not to be dated before the previous one).
    set_committed_value(appeal, "last_step_at", history["occurred_at"])


async def insert_registration(
    session: AsyncSession,
    *,
    appeal: dict[str, object],
    history: dict[str, object],
    event: dict[str, object],
    audit: dict[str, object],
) -> bool:
    """Insert a new appeal with its first history row, its event and its audit entry; False,
    with nothing written, when the office already has an appeal with its external reference."""
    rows = {"appeal": appeal, "history": history, "event": event, "audit": audit}
    params = bound("appeal", appeal, _APPEAL_FIELDS)
    for prefix, _, names in _FOLLOWERS:
        params.update(bound(prefix, rows[prefix], names))
    result = await session.execute(_REGISTRATION, params)
    return result.first() is not None
