"""The hand-built statements that write an appeal's rows, against the plain way (the ORM's flush).

Three writers bypass the ORM's unit of work with one statement each (their repositories say so
at the top): registration (appeal, history row, event, audit entry), a step on an appeal (its
changed columns, history row, events, audit entry) and a new document (its row and its event).
This runs each both ways in-process against a real PostgreSQL (an embedded one in a temporary
folder, or KLAGEAPI_BENCH_DATABASE_URL), one transaction per operation on one connection, the
two ways alternating in rounds, and prints this process's CPU and the wall time per operation
and the ratio plain/statement.

A hand-built statement stays while the plain way costs clearly more (ratio >= 1.10 in CPU or in
wall time); below that, the plain way is the one to keep.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from _bulk import registration
from _harness import DEMO_NAV_ORGANISATION, national_ids
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from klageapi.appeal import repository as appeals
from klageapi.appeal import service as appeal_service
from klageapi.appeal.schemas import AppealCreate, PreliminaryReplyCreate
from klageapi.core.auth import Organisation
from klageapi.core.clock import SystemClock
from klageapi.core.migrations import upgrade_to_head
from klageapi.document import repository as documents
from klageapi.event import outbox
from klageapi.models import (
    Appeal,
    AppealHistory,
    AuditEntry,
    Document,
    DocumentCategory,
    Event,
)
from klageapi.registry.service import load_shipped_data

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from klageapi.core.embedded_postgres import EmbeddedPostgres

KEEP_RATIO = 1.10
NAV = Organisation(DEMO_NAV_ORGANISATION, frozenset({"klageapi:read", "klageapi:write"}))
CLOCK = SystemClock()

Operation = Callable[[AsyncSession, int], Awaitable[None]]


# --- the plain way of each writer ----------------------------------------------------------------


async def _plain_registration(
    session: AsyncSession,
    *,
    appeal: dict[str, object],
    history: dict[str, object],
    event: dict[str, object],
    audit: dict[str, object],
) -> bool:
    """As registration wrote its rows before: a savepoint and the ORM's flush."""
    async with session.begin_nested():
        session.add(Appeal(**appeal))
        await session.flush()
        session.add_all(
            [
                AppealHistory(**history),
                Event(**event),
                AuditEntry(**{**audit, "appeal_id": appeal["id"]}),
            ]
        )
        await session.flush()
    return True


async def _plain_step(
    session: AsyncSession,
    appeal: Appeal,
    *,
    history: dict[str, object],
    events: Sequence[dict[str, object]],
    audit: dict[str, object] | None = None,
) -> None:
    """The appeal's changes, its history row, events and audit entry through the ORM's flush."""
    rows: list[Any] = [AppealHistory(**history), *(Event(**event) for event in events)]
    if audit is not None:
        rows.append(AuditEntry(**{**audit, "appeal_id": appeal.id}))
    session.add_all(rows)
    await session.flush()


async def _plain_document(
    session: AsyncSession, document: dict[str, object], event: dict[str, object]
) -> None:
    session.add_all([Document(**document), Event(**event)])
    await session.flush()


@contextlib.contextmanager
def _plain(module: Any, name: str, replacement: Any) -> Any:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


# --- the operations ------------------------------------------------------------------------------


def _registration_body(national_id: str) -> AppealCreate:
    return AppealCreate.model_validate(
        {**registration(), "national_id": national_id, "external_reference": uuid.uuid4().hex}
    )


def _operations(ids: list[str], appeal_ids: list[uuid.UUID]) -> dict[str, Operation]:
    async def register(session: AsyncSession, n: int) -> None:
        await appeal_service.register(
            session, _registration_body(ids[n % len(ids)]), organisation=NAV, clock=CLOCK
        )

    async def step(session: AsyncSession, n: int) -> None:
        body = PreliminaryReplyCreate(expected_decision_on=dt.date.today() + dt.timedelta(days=30))
        await appeal_service.add_preliminary_reply(
            session,
            appeal_ids[n % len(appeal_ids)],
            body,
            organisation=NAV,
            clock=CLOCK,
            expected_versions=None,
        )

    async def document(session: AsyncSession, n: int) -> None:
        appeal = await session.get(Appeal, appeal_ids[n % len(appeal_ids)])
        assert appeal is not None
        now = CLOCK.now()
        values: dict[str, object] = {
            "id": uuid.uuid4(),
            "appeal_id": appeal.id,
            "category": DocumentCategory.supporting_document,
            "title": "Kontoutskrift",
            "file_name": "kontoutskrift.pdf",
            "media_type": "application/pdf",
            "size": 1000,
            "sha256": "0" * 64,
            "crc32": 0,
            "uploaded_by_organisation": NAV.actor,
            "uploaded_by_supplier": None,
            "uploaded_at": now,
        }
        event = outbox.row(
            appeal, type_="document.added", occurred_at=now, recorded_at=now, data={}
        )
        await documents.insert_with_event(session, values, event)

    return {"registration": register, "step": step, "document": document}


_PLAIN = {
    "registration": (appeals, "insert_registration", _plain_registration),
    "step": (appeals, "write_step", _plain_step),
    "document": (documents, "insert_with_event", _plain_document),
}


async def _run(engine: AsyncEngine, operation: Operation, count: int) -> tuple[float, float]:
    """CPU and wall seconds per operation, one transaction each."""
    cpu, wall = time.process_time(), time.perf_counter()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        for n in range(count):
            async with session.begin():
                await operation(session, n)
            session.expunge_all()
    return (time.process_time() - cpu) / count, (time.perf_counter() - wall) / count


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[AsyncEngine]:
    given = os.environ.get("KLAGEAPI_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="klageapi-bench-") as folder:
        embedded = None if given else EmbeddedPostgres(Path(folder), database="bench")
        url = given or embedded.start()  # type: ignore[union-attr]
        engine = create_async_engine(url, pool_size=1, hide_parameters=True)
        try:
            await upgrade_to_head(engine)
            async with AsyncSession(engine) as session, session.begin():
                await load_shipped_data(session, demo=True)
            yield engine
        finally:
            await engine.dispose()
            if embedded is not None:
                embedded.stop()


async def main(count: int, rounds: int) -> int:
    """Exit status: 1 when a hand-built statement no longer earns its place."""
    unjustified = 0
    async with _database() as engine:
        ids = national_ids(200)
        appeal_ids = []
        async with AsyncSession(engine) as session, session.begin():
            for national_id in ids[:50]:
                appeal, _ = await appeal_service.register(
                    session, _registration_body(national_id), organisation=NAV, clock=CLOCK
                )
                appeal_ids.append(appeal.id)
        operations = _operations(ids, appeal_ids)
        for name, operation in operations.items():
            module, attribute, replacement = _PLAIN[name]
            await _run(engine, operation, count // 5)  # warm-up: statements compiled, cached
            with _plain(module, attribute, replacement):
                await _run(engine, operation, count // 5)
            figures: dict[str, list[tuple[float, float]]] = {"statement": [], "plain": []}
            for _ in range(rounds):
                figures["statement"].append(await _run(engine, operation, count))
                with _plain(module, attribute, replacement):
                    figures["plain"].append(await _run(engine, operation, count))
            best = {way: min(runs, key=lambda run: run[0]) for way, runs in figures.items()}
            cpu_ratio = best["plain"][0] / best["statement"][0]
            wall_ratio = best["plain"][1] / best["statement"][1]
            justified = max(cpu_ratio, wall_ratio) >= KEEP_RATIO
            unjustified += not justified
            verdict = "keep: met" if justified else "go back to the plain way: missed"
            print(
                f"{name}: statement cpu {best['statement'][0] * 1000:.3f} ms, wall"
                f" {best['statement'][1] * 1000:.3f} ms; plain cpu {best['plain'][0] * 1000:.3f}"
                f" ms, wall {best['plain'][1] * 1000:.3f} ms; plain/statement cpu"
                f" {cpu_ratio:.2f}, wall {wall_ratio:.2f} (goal >= {KEEP_RATIO:.2f}: {verdict})"
            )
    return 1 if unjustified else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="operations per way and round")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.count, arguments.rounds)))
