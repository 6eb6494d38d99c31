"""The citizen's view: the citizen's own appeals in plain language. Only what the citizen may
read: no NAV reasoning, no internal notes, no staff names, no one else's data."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import lifecycle
from klageapi.appeal.errors import AppealNotFound
from klageapi.audit import service as audit
from klageapi.citizen import repository, tasks
from klageapi.citizen.language import Catalogue
from klageapi.citizen.repository import OwnAppeal
from klageapi.citizen.schemas import (
    ActionRead,
    AppealedDecisionRead,
    CitizenAppealRead,
    CurrentStepRead,
    DecisionWindowRead,
    StepRead,
    WindowBasis,
)
from klageapi.core.auth import Citizen
from klageapi.core.clock import NORWAY, Clock
from klageapi.core.db import Transactions
from klageapi.core.pagination import InvalidCursor, PageParams
from klageapi.document import service as documents
from klageapi.document.errors import DocumentNotFound
from klageapi.document.storage import BlobStore, BlobStream
from klageapi.models import Appeal, AppealStatus, Document, DocumentCategory

__all__ = [
    "APPELLANT",
    "MIN_DECIDED_FOR_ESTIMATE",
    "STEPS",
    "download",
    "get",
    "list_own",
    "readable_documents",
]

APPELLANT = lifecycle.APPELLANT

S = AppealStatus

STEPS = (
    "received",
    "nav_review",
    "forwarded",
    "statsforvalter_received",
    "statsforvalter_review",
    "decided",
)
_STEP_OF = {
    S.received: "received",
    S.under_nav_review: "nav_review",
    S.forwarded: "forwarded",
    S.received_by_statsforvalter: "statsforvalter_received",
    S.under_statsforvalter_review: "statsforvalter_review",
    S.awaiting_documentation: "statsforvalter_review",
    S.decided: "decided",
}
_CLOSED = frozenset({S.closed_by_nav, S.withdrawn})
_AT_NAV = frozenset({S.received, S.under_nav_review})
_OPEN = frozenset(AppealStatus) - _CLOSED - {S.decided}
_FORWARDED = frozenset(
    {
        S.forwarded,
        S.received_by_statsforvalter,
        S.under_statsforvalter_review,
        S.awaiting_documentation,
    }
)
MIN_DECIDED_FOR_ESTIMATE = 20
"""Fewer decided appeals at the office in the last year than this: too little to estimate."""
_TARGET_DAYS = 90

Steps = list[tuple[AppealStatus, dt.datetime]]


async def list_own(
    session: AsyncSession,
    *,
    citizen: Citizen,
    texts: Catalogue,
    clock: Clock,
    page: PageParams,
    digisos_case_id: str | None = None,
) -> tuple[list[CitizenAppealRead], str | None]:
    """A page of the appeals the citizen made (of one Digisos case, when given), newest first,
    and the cursor of the next; each read is audited."""
    position = page.position(_PAGE_KIND)
    after = None
    if position is not None:
        try:
            after = (dt.date.fromisoformat(position[0]), uuid.UUID(position[1]))
        except (ValueError, TypeError, IndexError) as error:
            raise InvalidCursor() from error
    rows = await repository.list_own(
        session,
        citizen.national_id,
        digisos_case_id=digisos_case_id,
        after=after,
        limit=page.limit + 1,
    )
    own, cursor = page.page(
        _PAGE_KIND, rows, lambda item: [item.appeal.received_on.isoformat(), str(item.appeal.id)]
    )
    return await _views(session, own, citizen=citizen, texts=texts, clock=clock), cursor


_PAGE_KIND = "my_appeals"


async def get(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    *,
    citizen: Citizen,
    texts: Catalogue,
    clock: Clock,
) -> CitizenAppealRead:
    """One of the citizen's appeals; anyone else's is 404."""
    own = await repository.get_own(session, appeal_id, citizen.national_id)
    if own is None:
        raise AppealNotFound(appeal_id)
    (view,) = await _views(session, [own], citizen=citizen, texts=texts, clock=clock)
    return view


async def _views(
    session: AsyncSession,
    own: list[OwnAppeal],
    *,
    citizen: Citizen,
    texts: Catalogue,
    clock: Clock,
) -> list[CitizenAppealRead]:
    ids = [item.appeal.id for item in own]
    if not ids:
        return []
    steps = await repository.steps(session, ids)
    requests = await repository.open_documentation_requests(session, ids)
    deadlines = await repository.comment_deadlines(session, ids)
    views = []
    records: dict[tuple[str, AppealStatus], repository.OfficeRecord] = {}
    for item in own:
        window = await _window(
            session, item, steps[item.appeal.id], records, texts=texts, clock=clock
        )
        open_now = tasks.open_tasks(
            item.appeal,
            comment_deadline=deadlines.get(item.appeal.id),
            requests=requests.get(item.appeal.id, ()),
            today=clock.today(),
        )
        views.append(_view(item, steps[item.appeal.id], open_now, window, texts))
    await audit.record_many(
        session,
        principal=citizen,
        action="appeal.citizen_read",
        appeal_ids=ids,
        purpose="the citizen reads the status of their own appeal",
        clock=clock,
    )
    return views


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(NORWAY).date()


def _view(
    item: OwnAppeal,
    steps: Steps,
    open_now: list[tasks.OpenTask],
    window: DecisionWindowRead | None,
    texts: Catalogue,
) -> CitizenAppealRead:
    appeal = item.appeal
    reached: dict[str, dt.date] = {}
    for status, occurred_at in steps:
        if status in _STEP_OF:
            reached[_STEP_OF[status]] = _day(occurred_at)  # the latest time it was reached
    reached["received"] = appeal.received_on  # when NAV got it, not when it was registered
    current = _STEP_OF.get(appeal.status)
    ahead_steps: list[str] = []
    since = _day(steps[-1][1]) if steps else appeal.received_on
    if current is None or appeal.status is S.decided:
        # Closed or decided: what was reached is done, nothing is ahead.
        done_steps = [s for s in STEPS if s in reached]
    else:
        position = STEPS.index(current)
        done_steps = [s for s in STEPS[:position] if s in reached]
        ahead_steps = list(STEPS[position + 1 :])
    return CitizenAppealRead(
        id=appeal.id,
        title=texts.text("title"),
        received_on=appeal.received_on,
        decision=_decision(item, texts),
        late=texts.text("late", deadline=texts.date(appeal.appeal_deadline_on))
        if appeal.late
        else None,
        done=[StepRead(step=s, title=texts.text("steps", s), on=reached[s]) for s in done_steps],
        now=CurrentStepRead(
            step=None if appeal.status in _CLOSED or appeal.status is S.decided else current,
            status=appeal.status,
            description=texts.text("statuses", appeal.status.value),
            since=since,
            who_has_the_case=_who(item, texts),
            outcome=_outcome(appeal, texts),
        ),
        ahead=[StepRead(step=s, title=texts.text("steps", s)) for s in ahead_steps],
        expected_decision=window,
        you_can=[_action(appeal, task, texts) for task in open_now],
        documents_href=f"/v1/me/appeals/{appeal.id}/documents",
        after_decision=_after_decision(appeal, texts),
    )


def _decision(item: OwnAppeal, texts: Catalogue) -> AppealedDecisionRead:
    appeal = item.appeal
    return AppealedDecisionRead(
        reference=appeal.decision_reference,
        decided_on=appeal.decision_decided_on,
        nav_office=item.nav_office.in_(texts.language),
        legal_basis=appeal.legal_basis,
        about=texts.text(
            "about",
            "decision",
            reference=appeal.decision_reference,
            office=item.nav_office.in_(texts.language),
            decided_on=texts.date(appeal.decision_decided_on),
            concerns=texts.text("about", "concerns", appeal.legal_basis.value),
        ),
    )


def _after_decision(appeal: Appeal, texts: Catalogue) -> str | None:
    if appeal.status is not S.decided or appeal.statsforvalter_outcome is None:
        return None
    parts = [
        texts.text("after_decision", appeal.statsforvalter_outcome.value),
        texts.text("after_decision", "final"),
        texts.text("after_decision", "letter"),
    ]
    return " ".join(parts)


def _asked(categories: tuple[str, ...], texts: Catalogue) -> str:
    """The categories a request asks for as words: "a, b and c"."""
    names = list(dict.fromkeys(texts.text("categories", c) for c in categories))
    if not names:
        return texts.text("more_documentation")
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} {texts.text('and')} {names[-1]}"


def _who(item: OwnAppeal, texts: Catalogue) -> str:
    status = item.appeal.status
    if status in _AT_NAV:
        return texts.text("who", "nav", office=item.nav_office.in_(texts.language))
    if status in _FORWARDED:
        return texts.text(
            "who", "statsforvalter", office=item.statsforvalter_office.in_(texts.language)
        )
    return texts.text("who", "nobody")


def _outcome(appeal: Appeal, texts: Catalogue) -> str | None:
    if appeal.statsforvalter_outcome is not None and appeal.status is S.decided:
        return texts.text("outcomes", "statsforvalter", appeal.statsforvalter_outcome.value)
    if appeal.nav_outcome is not None and appeal.status is not S.withdrawn:
        return texts.text("outcomes", "nav", appeal.nav_outcome.value)
    return None


_HREFS = {
    tasks.Task.comment: ("POST", "/v1/me/appeals/{appeal_id}/comments"),
    tasks.Task.send_documentation: (
        "POST",
        "/v1/me/appeals/{appeal_id}/documentation-requests/{request_id}/documents",
    ),
    tasks.Task.send_documents: ("POST", "/v1/me/appeals/{appeal_id}/documents"),
    tasks.Task.withdraw: ("POST", "/v1/me/appeals/{appeal_id}/withdrawal"),
}


def _action(appeal: Appeal, task: tasks.OpenTask, texts: Catalogue) -> ActionRead:
    """One open task: what it is in words, by when, and where to carry it out."""
    method, href = _HREFS[task.task]
    request = task.request
    due_on = texts.date(task.due_on) if task.due_on else ""
    text = texts.text("actions", task.task.value, due_on=due_on)
    if request is not None:
        asked = texts.text("documentation", asked=_asked(request.categories, texts), due_on=due_on)
        text = f"{text} {asked}"
    return ActionRead(
        action=task.task.value,
        text=text,
        due_on=task.due_on,
        method=method,
        href=href.format(appeal_id=appeal.id, request_id=request.id if request else ""),
        documentation_request_id=request.id if request else None,
    )


async def _window(
    session: AsyncSession,
    item: OwnAppeal,
    steps: Steps,
    records: dict[tuple[str, AppealStatus], repository.OfficeRecord],
    *,
    texts: Catalogue,
    clock: Clock,
) -> DecisionWindowRead | None:
    """When to expect an answer: a preliminary reply's date if there is one; while NAV has the
    appeal, NAV's review first (`_window_at_nav`); else the office's p50 to p90 of the time
    from the appeal's current status to a decision over the last 12 months, counted from when
    the appeal entered it; else the 90-day target. `records` keeps the office figures already
    read for this answer."""
    appeal = item.appeal
    if appeal.status not in _OPEN:
        return None
    office = item.statsforvalter_office.in_(texts.language)
    today = clock.today()
    if appeal.expected_decision_on is not None:
        expected = appeal.expected_decision_on
        return DecisionWindowRead(
            earliest=expected,
            latest=expected,
            basis=WindowBasis.preliminary_reply,
            explanation=texts.text("window", "preliminary_reply", to=texts.date(expected)),
        )
    if appeal.status in _AT_NAV:
        return await _window_at_nav(session, item, steps, records, texts=texts, clock=clock)
    # Waiting for documentation is part of the Statsforvalter's handling, as in the steps.
    status = (
        S.under_statsforvalter_review
        if appeal.status is S.awaiting_documentation
        else (appeal.status)
    )
    entered = min((at for s, at in steps if s is status), default=clock.now())
    key = (appeal.statsforvalter_office_id, status)
    if key not in records:
        records[key] = await repository.recent_time_to_decision(
            session,
            office_id=appeal.statsforvalter_office_id,
            status=status,
            since=clock.now() - dt.timedelta(days=365),
        )
    record = records[key]
    if record.count >= MIN_DECIDED_FOR_ESTIMATE and record.p50 and record.p90:
        earliest = max(_day(entered + record.p50), today)
        latest = max(_day(entered + record.p90), earliest)
        return DecisionWindowRead(
            earliest=earliest,
            latest=latest,
            basis=WindowBasis.office_history,
            explanation=texts.text(
                "window",
                "office_history",
                office=office,
                **{"from": texts.date(earliest), "to": texts.date(latest)},
            ),
        )
    received = next((at for s, at in reversed(steps) if s is S.received_by_statsforvalter), None)
    start = _day(received) if received else today
    latest = max(start + dt.timedelta(days=_TARGET_DAYS), today)
    return DecisionWindowRead(
        earliest=today,
        latest=latest,
        basis=WindowBasis.fallback,
        explanation=texts.text("window", "fallback", office=office, to=texts.date(latest)),
    )


async def _window_at_nav(
    session: AsyncSession,
    item: OwnAppeal,
    steps: Steps,
    records: dict[tuple[str, AppealStatus], repository.OfficeRecord],
    *,
    texts: Catalogue,
    clock: Clock,
) -> DecisionWindowRead:
    """NAV reviews its decision first, then the Statsforvalter decides: the NAV office's recent
    time from this status to the forwarding plus the Statsforvalter office's from forwarding to
    decision (p50 plus p50 to p90 plus p90), when both offices have enough recent appeals; else
    no dates, only that NAV's review comes first (never 90 days from today, as if the
    Statsforvalter had the case)."""
    appeal = item.appeal
    since = clock.now() - dt.timedelta(days=365)
    nav_key = (f"nav:{appeal.nav_office_unit_number}", appeal.status)
    if nav_key not in records:
        records[nav_key] = await repository.recent_time_to_forwarding(
            session, unit_number=appeal.nav_office_unit_number, status=appeal.status, since=since
        )
    sf_key = (appeal.statsforvalter_office_id, S.forwarded)
    if sf_key not in records:
        records[sf_key] = await repository.recent_time_to_decision(
            session, office_id=appeal.statsforvalter_office_id, status=S.forwarded, since=since
        )
    nav, sf = records[nav_key], records[sf_key]
    enough = all(r.count >= MIN_DECIDED_FOR_ESTIMATE and r.p50 and r.p90 for r in (nav, sf))
    if not enough or not (nav.p50 and nav.p90 and sf.p50 and sf.p90):
        return DecisionWindowRead(
            earliest=None,
            latest=None,
            basis=WindowBasis.nav_first,
            explanation=texts.text(
                "window", "nav_first", nav_office=item.nav_office.in_(texts.language)
            ),
        )
    entered = min((at for s, at in steps if s is appeal.status), default=clock.now())
    today = clock.today()
    earliest = max(_day(entered + nav.p50 + sf.p50), today)
    latest = max(_day(entered + nav.p90 + sf.p90), earliest)
    return DecisionWindowRead(
        earliest=earliest,
        latest=latest,
        basis=WindowBasis.nav_and_office_history,
        explanation=texts.text(
            "window",
            "nav_and_office_history",
            nav_office=item.nav_office.in_(texts.language),
            office=item.statsforvalter_office.in_(texts.language),
            **{"from": texts.date(earliest), "to": texts.date(latest)},
        ),
    )


def _readable(appeal: Appeal, document: Document) -> bool:
    """What the citizen may read of their appeal's documents: what they sent through this view,
    their appeal, the case presentation once the appeal is forwarded, and the Statsforvalter's
    decision once it is made. Never NAV's or the offices' other papers."""
    if document.uploaded_by_organisation == APPELLANT:
        return True
    if document.category is DocumentCategory.appeal:
        return True
    if document.category is DocumentCategory.forwarding_letter:
        return appeal.forwarded_at is not None
    if document.category is DocumentCategory.statsforvalter_decision:
        return (
            appeal.status is S.decided and document.id == appeal.statsforvalter_decision_document_id
        )
    return False


async def readable_documents(
    session: AsyncSession, appeal_id: uuid.UUID, *, citizen: Citizen, clock: Clock
) -> list[Document]:
    """The documents of the citizen's own appeal they may read, oldest first; the read is
    audited."""
    own = await repository.get_own(session, appeal_id, citizen.national_id)
    if own is None:
        raise AppealNotFound(appeal_id)
    found = [d for d in await documents.of_appeal(session, appeal_id) if _readable(own.appeal, d)]
    await audit.record(
        session,
        principal=citizen,
        action="document.citizen_list",
        appeal_id=appeal_id,
        purpose="the citizen reads the documents of their own appeal",
        clock=clock,
    )
    return found


async def download(
    session: AsyncSession,
    appeal_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    checks: Transactions,
    citizen: Citizen,
    clock: Clock,
    store: BlobStore,
) -> tuple[Document, BlobStream]:
    """One document the citizen may read, its bytes; every download audited. Anything else,
    or anyone else's, does not exist. As NAV's downloads: the document is read in a short
    transaction of its own and the store opened before `session` runs its first statement."""
    async with checks.begin() as checking:
        own = await repository.get_own(checking, appeal_id, citizen.national_id)
        if own is None:
            raise AppealNotFound(appeal_id)
        document = next(
            (d for d in await documents.of_appeal(checking, appeal_id) if d.id == document_id),
            None,
        )
        if document is None or not _readable(own.appeal, document):
            raise DocumentNotFound(document_id)
    stream = await documents.open_blob(store, document)
    try:
        await audit.record(
            session,
            principal=citizen,
            action="document.citizen_download",
            appeal_id=appeal_id,
            purpose="the citizen downloads a document of their own appeal",
            clock=clock,
        )
    except BaseException:
        await stream.aclose()
        raise
    return document, stream
