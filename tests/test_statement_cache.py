"""Every statement the API sends is compiled once: SQLAlchemy caches a statement's SQL by its
shape, unless the statement cannot be cached (a multi-row VALUES, for one), and compiling an
INSERT with CTEs costs more than sending it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.journey import (
    AuthHeaders,
    request_documentation,
    under_statsforvalter_review,
    upload,
)


@contextmanager
def compiled_again(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements sent while the block runs that were not a hit in the compiled cache."""
    missed: list[str] = []

    def after(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any
    ) -> None:
        # Statements sent as text (BEGIN, COMMIT) have no compiled form; the savepoints the
        # tests' transaction wraps each request in are named anew each time.
        if context is None or context.compiled is None or "SAVEPOINT" in statement:
            return
        if context.cache_hit is not CACHE_HIT:
            missed.append(statement)

    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        yield missed
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

    with compiled_again(engine) as missed:
        await journey(client, auth)

    assert missed == []
