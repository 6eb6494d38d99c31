"""What the API sends to the database: every statement compiled once (SQLAlchemy caches a
statement's SQL by its shape, unless it cannot be cached, as a multi-row VALUES cannot, and
compiling an INSERT with CTEs costs more than sending it), and a step in two statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.journey import (
    AuthHeaders,
    register,
    request_documentation,
    under_statsforvalter_review,
    upload,
)


@dataclass(frozen=True)
class Sent:
    statement: str
    compiled_again: bool
    """Compiled for this execution: a statement with a compiled form (not BEGIN or COMMIT,
    which go as text) that was not a hit in the compiled cache."""


@contextmanager
def sent(engine: AsyncEngine) -> Iterator[list[Sent]]:
    """The statements sent while the block runs, but for the savepoints the tests' transaction
    wraps each request in (named anew each time)."""
    statements: list[Sent] = []

    def after(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any
    ) -> None:
        if "SAVEPOINT" in statement:
            return
        compiled = context is not None and context.compiled is not None
        statements.append(Sent(statement, compiled and context.cache_hit is not CACHE_HIT))

    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", after)


async def journey(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    """Registration, uploads, steps with none, one and two events, a package forwarded and
    received, and a documentation request fulfilled."""
    appeal, _, _ = await under_statsforvalter_review(client, auth)
    request = await request_documentation(client, auth, appeal["id"])
    document = await upload(client, auth, appeal["id"], category="documentation_response")
    response = await client.post(
        f"/v1/documentation-requests/{request['id']}/fulfilment",
        json={"document_ids": [document["id"]]},
        headers=auth(),
    )
    assert response.status_code == 201, response.text


async def test_an_appeals_journey_compiles_no_statement_a_second_time(
    client: httpx.AsyncClient, auth: AuthHeaders, engine: AsyncEngine
) -> None:
    await journey(client, auth)

    with sent(engine) as statements:
        await journey(client, auth)

    assert [one.statement for one in statements if one.compiled_again] == []


async def test_a_step_is_two_statements_the_locked_read_and_the_write(
    client: httpx.AsyncClient, auth: AuthHeaders, engine: AsyncEngine
) -> None:
    appeal = await register(client, auth)

    with sent(engine) as statements:
        response = await client.post(f"/v1/appeals/{appeal['id']}/nav-review", headers=auth())

    assert response.status_code == 200, response.text
    read, write = (one.statement for one in statements)
    assert read.lstrip().startswith("SELECT") and "FOR UPDATE" in read
    # The appeal's update, the history row and the audit entry in CTEs; the events last.
    assert write.lstrip().startswith("WITH") and "UPDATE appeal" in write
    assert "INSERT INTO appeal_history" in write and "INSERT INTO audit_log" in write
    assert "INSERT INTO event" in write
