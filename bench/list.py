"""List latency as the table grows: p95 of GET /v1/appeals pages at 10,000 and 200,000 appeals.

Two databases on one PostgreSQL server (the embedded one, or KLAGEAPI_BENCH_DATABASE_URL's),
filled in SQL (INSERT ... SELECT from generate_series) to 10,000 and to 200,000 appeals, each
served by its own service under uvicorn. The appeals are spread over eleven NAV offices, of which
NAV Stavanger, the caller, has 15 %; statuses follow age as in life (open appeals are recent, old
ones decided or closed), 5 % are late, updated_at spans two years. After VACUUM ANALYZE it times
`--requests` sequential requests per query shape over real HTTP, alternating between the two
sizes so that the machine's noise falls on both alike: a status filter, late=true, updated_after,
and a page eleven pages deep by cursor. It prints the bare query's time under a custom and under
a generic plan, and at 200,000 the query plans: the custom plan (the planner sees the values) and
the generic plan (what a prepared statement reused by the service's asyncpg connections may
switch to after five executions).

Goal (from the issue): p95(200k) / p95(10k) <= 1.5 for every shape.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import enum
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from _harness import (
    DEMO_NAV_OFFICE,
    DEMO_NAV_ORGANISATION,
    CpuMeter,
    Service,
    national_ids,
    percentile,
    running_service,
)
from sqlalchemy import Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import repository
from klageapi.models import AppealStatus
from klageapi.registry import access

GOAL = 1.5
SIZES = (10_000, 200_000)
PAGE = 50
LARGE_PAGE = 500  # the largest page the API hands out
DEEP_PAGES = 10

# (unit number, municipality, name, share of all appeals). The first two are the demo registry's.
_OFFICES = (
    (DEMO_NAV_OFFICE, "1103", "NAV Stavanger (demo)", 0.15),
    ("0301", "0301", "NAV Oslo (demo)", 0.15),
    ("4601", "4601", "NAV Bergen (bench)", 0.14),
    ("5001", "5001", "NAV Trondheim (bench)", 0.12),
    ("4204", "4204", "NAV Kristiansand (bench)", 0.08),
    ("3201", "3201", "NAV Bærum (bench)", 0.08),
    ("1108", "1108", "NAV Sandnes (bench)", 0.07),
    ("5501", "5501", "NAV Tromsø (bench)", 0.06),
    ("1804", "1804", "NAV Bodø (bench)", 0.05),
    ("3403", "3403", "NAV Hamar (bench)", 0.05),
    ("1506", "1506", "NAV Molde (bench)", 0.05),
)

# Open appeals are recent (the last 90 days); older ones are mostly decided or closed.
_FILL = """
INSERT INTO appeal (
    id, nav_office_unit_number, municipality_number, statsforvalter_office_id, national_id,
    decision_reference, decision_decided_on, decision_notified_on, received_on, channel, grounds,
    external_reference, appeal_deadline_on, late, status, version, status_changed_at,
    forwarded_at, registration_digest, created_at, updated_at
)
SELECT
    gen_random_uuid(), o.unit_number, o.municipality_number, o.statsforvalter_office_id,
    ($3::text[])[1 + d.g % cardinality($3::text[])],
    'VEDTAK-' || d.g, d.notified_on - 1, d.notified_on, d.received_on,
    CASE WHEN d.g % 3 = 0 THEN 'paper' ELSE 'digital' END, 'Jeg mener vedtaket er feil.',
    $4 || d.g, d.notified_on + 21, d.late, d.status, 1 + d.g % 4, d.updated_at,
    CASE WHEN d.status IN ('forwarded', 'received_by_statsforvalter',
        'under_statsforvalter_review', 'awaiting_documentation', 'decided')
        THEN d.updated_at - interval '20 days' END,
    repeat('0', 64), d.updated_at - interval '30 days', d.updated_at
FROM (
    SELECT s.g, s.r_office, s.late, t.updated_at,
        (t.updated_at - interval '30 days')::date AS received_on,
        (t.updated_at - interval '30 days')::date - CASE WHEN s.late THEN 30 ELSE 10 END
            AS notified_on,
        CASE WHEN s.age_days < 90 THEN
            CASE WHEN s.r_status < 0.15 THEN 'received'
                 WHEN s.r_status < 0.50 THEN 'under_nav_review'
                 WHEN s.r_status < 0.60 THEN 'forwarded'
                 WHEN s.r_status < 0.65 THEN 'received_by_statsforvalter'
                 WHEN s.r_status < 0.85 THEN 'under_statsforvalter_review'
                 WHEN s.r_status < 0.90 THEN 'awaiting_documentation'
                 WHEN s.r_status < 0.95 THEN 'decided'
                 WHEN s.r_status < 0.98 THEN 'closed_by_nav'
                 ELSE 'withdrawn' END
        ELSE
            CASE WHEN s.r_status < 0.65 THEN 'decided'
                 WHEN s.r_status < 0.87 THEN 'closed_by_nav'
                 WHEN s.r_status < 0.95 THEN 'withdrawn'
                 WHEN s.r_status < 0.99 THEN 'under_statsforvalter_review'
                 ELSE 'awaiting_documentation' END
        END AS status
    FROM (
        SELECT g, random() AS r_office, random() < 0.05 AS late, random() AS r_status,
            random() * 730 AS age_days
        FROM generate_series($1::int, $2::int) AS g
    ) AS s
    CROSS JOIN LATERAL (
        SELECT $5::timestamptz - make_interval(secs => s.age_days * 86400) AS updated_at
    ) AS t
) AS d
JOIN unnest($6::text[], $7::text[], $8::text[], $9::float8[], $10::float8[])
    AS o(unit_number, municipality_number, statsforvalter_office_id, low, high)
    ON d.r_office >= o.low AND d.r_office < o.high
"""


# EXPLAIN (GENERIC_PLAN) must reach the server without parameter values, which the extended
# protocol (asyncpg's) cannot do; a dynamic EXECUTE in PL/pgSQL can.
_GENERIC_PLAN_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.generic_plan(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY EXECUTE 'EXPLAIN (GENERIC_PLAN) ' || query; END $$
"""


@dataclass(frozen=True)
class Shape:
    """One list request: its query string, and the same as the repository's filter."""

    name: str
    params: dict[str, str]
    where: repository.AppealFilter
    after: tuple[dt.datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class Timing:
    items: int
    p50: float
    p95: float


def _organisation_number(base: str) -> str:
    for last in range(10):
        candidate = base[:-1] + str(last)
        total = sum(int(d) * w for d, w in zip(candidate, (3, 2, 7, 6, 5, 4, 3, 2), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return candidate + str(check)
    raise ValueError(base)


async def _add_offices(connection: asyncpg.Connection) -> None:
    for index, (unit, municipality, name, _) in enumerate(_OFFICES[2:]):
        await connection.execute(
            "INSERT INTO nav_office (unit_number, name, organisation_number, municipality_numbers)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (unit_number) DO NOTHING",
            unit,
            name,
            _organisation_number(f"97400{index:03d}"),
            [municipality],
        )


async def _fill(
    connection: asyncpg.Connection, *, start: int, stop: int, now: dt.datetime, run: str
) -> None:
    routes = dict(
        await connection.fetch("SELECT county, statsforvalter_office_id FROM county_route")
    )
    low, high, bounds = [], [], 0.0
    for *_, share in _OFFICES:
        low.append(bounds)
        bounds += share
        high.append(bounds)
    high[-1] = 1.0
    await connection.execute("SELECT setseed($1)", 0.42 + start / 1e9)
    await connection.execute(
        _FILL,
        start,
        stop - 1,
        national_ids(1000),
        f"BENCH-{run}-",
        now,
        [office[0] for office in _OFFICES],
        [office[1] for office in _OFFICES],
        [routes[office[1][:2]] for office in _OFFICES],
        low,
        high,
    )


async def _checkpoint(connection: asyncpg.Connection) -> None:
    # The fill leaves much WAL and many dirty pages; without a checkpoint now, the checkpointer
    # writes them out during the timing at the larger size and slows every commit there.
    try:
        await connection.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        print("list: no privilege to CHECKPOINT; the larger size may be timed during one")


class _Capture:
    """Stands in for the session: keeps the statement list_visible builds, returns no rows."""

    statement: Select[Any] | None = None

    async def scalars(self, statement: Select[Any]) -> _Capture:
        self.statement = statement
        return self

    def all(self) -> list[Any]:
        return []


async def _query(offices: access.Offices, shape: Shape) -> tuple[str, list[Any]]:
    """The service's own list query for `shape`, as SQL with $n parameters and their values."""
    capture = _Capture()
    await repository.list_visible(
        cast(AsyncSession, capture), offices, shape.where, after=shape.after, limit=PAGE + 1
    )
    assert capture.statement is not None
    compiled = capture.statement.compile(
        dialect=asyncpg_dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"render_postcompile": True},
    )
    names = compiled.positiontup or []
    values = [compiled.params[name] for name in names]
    return str(compiled), [v.value if isinstance(v, enum.Enum) else v for v in values]


async def _offices(connection: asyncpg.Connection) -> access.Offices:
    nav = await connection.fetch(
        "SELECT unit_number FROM nav_office WHERE organisation_number = $1", DEMO_NAV_ORGANISATION
    )
    statsforvalter = await connection.fetch(
        "SELECT id FROM statsforvalter_office WHERE organisation_number = $1"
        " OR $1 = ANY (agent_organisation_numbers)",
        DEMO_NAV_ORGANISATION,
    )
    return access.Offices(
        nav=frozenset(row[0] for row in nav),
        statsforvalter=frozenset(row[0] for row in statsforvalter),
    )


async def _shapes(client: httpx.AsyncClient, now: dt.datetime) -> list[Shape]:
    cursor: str | None = None
    last: dict[str, Any] = {}
    for _ in range(DEEP_PAGES):
        params = {"limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/appeals", params=params)).raise_for_status().json()
        cursor, last = page["next_cursor"], page["items"][-1]
        if cursor is None:
            raise RuntimeError("too few appeals for the deep page")
    assert cursor is not None
    updated_after = now - dt.timedelta(days=30)
    return [
        Shape(
            "status=under_nav_review",
            {"status": "under_nav_review", "limit": str(PAGE)},
            repository.AppealFilter(statuses=[AppealStatus.under_nav_review]),
        ),
        Shape(
            "late=true", {"late": "true", "limit": str(PAGE)}, repository.AppealFilter(late=True)
        ),
        Shape(
            "updated_after=-30d",
            {"updated_after": updated_after.isoformat(), "limit": str(PAGE)},
            repository.AppealFilter(updated_after=updated_after),
        ),
        Shape(
            f"page {DEEP_PAGES + 1} by cursor",
            {"cursor": cursor, "limit": str(PAGE)},
            repository.AppealFilter(),
            after=(dt.datetime.fromisoformat(last["updated_at"]), uuid.UUID(last["id"])),
        ),
    ]


async def _time_shapes(
    clients: dict[int, httpx.AsyncClient],
    shapes: dict[int, list[Shape]],
    *,
    requests: int,
    warm_up: int,
) -> dict[int, dict[str, Timing]]:
    # Interleaved over shapes and sizes, so that a burst of noise on the machine hits all alike.
    latencies: dict[int, dict[str, list[float]]] = {size: {} for size in clients}
    items: dict[int, dict[str, int]] = {size: {} for size in clients}
    for round_ in range(warm_up + requests):
        for index in range(len(shapes[SIZES[0]])):
            for size, client in clients.items():
                shape = shapes[size][index]
                started = time.perf_counter()
                response = await client.get("/v1/appeals", params=shape.params)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if round_ >= warm_up:
                    latencies[size].setdefault(shape.name, []).append(elapsed * 1000)
                items[size][shape.name] = len(response.json()["items"])
    return {
        size: {
            name: Timing(items[size][name], percentile(values, 0.50), percentile(values, 0.95))
            for name, values in by_shape.items()
        }
        for size, by_shape in latencies.items()
    }


async def _bare_query_ms(
    connection: asyncpg.Connection, sql: str, params: Sequence[Any], mode: str, runs: int = 30
) -> float:
    """Median time of the query alone on one connection, with the plan cache forced to `mode`."""
    await connection.execute(f"SET plan_cache_mode = {mode}")
    try:
        statement = await connection.prepare(sql)
        await statement.fetch(*params)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await statement.fetch(*params)
            times.append((time.perf_counter() - started) * 1000)
        return percentile(times, 0.5)
    finally:
        await connection.execute("RESET plan_cache_mode")


async def _plan_choice(connection: asyncpg.Connection, sql: str, params: Sequence[Any]) -> str:
    """Which plan a reused prepared statement ends up with, as the service's connections reuse
    theirs: counted by PostgreSQL after ten executions."""
    statement = await connection.prepare(sql)
    for _ in range(10):
        await statement.fetch(*params)
    row = await connection.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", sql
    )
    assert row is not None
    return f"after 10 executions: {row['custom_plans']} custom, {row['generic_plans']} generic"


def _print_plan(title: str, rows: Sequence[asyncpg.Record]) -> None:
    print(f"    {title}:")
    for row in rows:
        print(f"      {row[0]}")


async def _prepare(
    service: Service, size: int, *, now: dt.datetime, run: str, extra_sql: Sequence[str]
) -> access.Offices:
    """Fill the service's database up to `size` appeals; returns the offices the caller sees."""
    async with _connection(service.dsn) as connection:
        present = await connection.fetchval("SELECT count(*) FROM appeal")
        if present > SIZES[0]:
            raise SystemExit(f"the database already holds {present} appeals; give an empty one")
        for statement in extra_sql:
            await connection.execute(statement)
        await _add_offices(connection)
        await _fill(connection, start=present, stop=size, now=now, run=run)
        await connection.execute("VACUUM (ANALYZE) appeal")
        await _checkpoint(connection)
        visible = await connection.fetchval(
            "SELECT count(*) FROM appeal WHERE nav_office_unit_number = $1", DEMO_NAV_OFFICE
        )
        print(f"list: {size:,} appeals, {visible:,} of them NAV Stavanger's")
        return await _offices(connection)


async def _measure(
    services: dict[int, Service],
    *,
    requests: int,
    warm_up: int,
    extra_sql: Sequence[str],
    analyze: bool,
    large_pages: int,
) -> bool:
    run = uuid.uuid4().hex[:8]
    now = dt.datetime.now(dt.UTC)
    for statement in extra_sql:
        print(f"list: trying {statement}")
    offices = {
        size: await _prepare(service, size, now=now, run=run, extra_sql=extra_sql)
        for size, service in services.items()
    }
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            size: await stack.enter_async_context(
                httpx.AsyncClient(base_url=service.base_url, headers=service.headers, timeout=60)
            )
            for size, service in services.items()
        }
        shapes = {size: await _shapes(client, now) for size, client in clients.items()}
        if large_pages:
            print(f"list: first {large_pages} pages of {LARGE_PAGE} with the status filter")
        big_page = {"status": "under_nav_review", "limit": str(LARGE_PAGE)}
        for client in clients.values():
            for _ in range(large_pages):
                (await client.get("/v1/appeals", params=big_page)).raise_for_status()
        meters = {size: CpuMeter(service) for size, service in services.items()}
        for meter in meters.values():
            meter.start()
        timings = await _time_shapes(clients, shapes, requests=requests, warm_up=warm_up)
        served = (warm_up + requests) * len(shapes[SIZES[0]])
        cpu = {size: meter.stop()["service"] / served * 1000 for size, meter in meters.items()}
    for size, service in services.items():
        print(
            f"list: {size:,} appeals; service cpu {cpu[size]:.1f} ms per request\n"
            f"  {'shape':26} {'items':>5} {'p50 ms':>7} {'p95 ms':>7}   bare query ms (median)"
        )
        async with _connection(service.dsn) as connection:
            for shape in shapes[size]:
                timing = timings[size][shape.name]
                sql, params = await _query(offices[size], shape)
                custom = await _bare_query_ms(connection, sql, params, "force_custom_plan")
                generic = await _bare_query_ms(connection, sql, params, "force_generic_plan")
                print(
                    f"  {shape.name:26} {timing.items:5d} {timing.p50:7.1f} {timing.p95:7.1f}"
                    f"   custom plan {custom:.2f}, generic plan {generic:.2f}"
                )
            if size != SIZES[-1]:
                continue
            print(f"list: query plans at {size:,} appeals")
            await connection.execute(_GENERIC_PLAN_FUNCTION)
            for shape in shapes[size]:
                sql, params = await _query(offices[size], shape)
                print(f"  {shape.name}  ({await _plan_choice(connection, sql, params)})")
                options = "ANALYZE, BUFFERS" if analyze else "COSTS"
                explained = await connection.fetch(f"EXPLAIN ({options}) {sql}", *params)
                _print_plan("custom plan", explained)
                _print_plan(
                    "generic plan",
                    await connection.fetch("SELECT * FROM pg_temp.generic_plan($1)", sql),
                )
    small, large = timings[SIZES[0]], timings[SIZES[-1]]
    ratios = {name: large[name].p95 / small[name].p95 for name in small}
    worst = max(ratios, key=lambda name: ratios[name])
    verdict = "met" if ratios[worst] <= GOAL else "MISSED"
    listed = ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
    print(
        f"list: p95 {SIZES[-1] // 1000}k/{SIZES[0] // 1000}k: {listed}; worst {ratios[worst]:.2f}"
        f" ({worst}) (goal <= {GOAL}: {verdict})"
    )
    return ratios[worst] <= GOAL


def _with_database(dsn: str, name: str, *, scheme: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(scheme=scheme, path=f"/{name}"))


@contextlib.asynccontextmanager
async def _connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


async def _create_database(dsn: str, name: str) -> None:
    async with _connection(dsn) as connection:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')


async def _drop_database(dsn: str, name: str) -> None:
    async with _connection(dsn) as connection:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed per shape (default 300)")
    parser.add_argument("--warm-up", type=int, default=20, help="untimed per shape (default 20)")
    parser.add_argument(
        "--extra-sql",
        action="append",
        default=[],
        metavar="SQL",
        help="run on the database before filling it, e.g. a candidate index (repeatable)",
    )
    parser.add_argument(
        "--analyze", action="store_true", help="EXPLAIN ANALYZE the custom plans as well"
    )
    parser.add_argument(
        "--large-pages",
        type=int,
        default=0,
        metavar="N",
        help=f"before timing, ask each service for N status-filtered pages of {LARGE_PAGE}, as a "
        "case system syncing with the largest page would (default 0)",
    )
    args = parser.parse_args()
    if args.requests < 100 or args.warm_up < 0:
        # A p95 of fewer samples is decided by one or two hiccups of the machine.
        parser.error("need --requests >= 100 and --warm-up >= 0")
    # The large database is the service's own; the small one is created next to it on the same
    # server and served by a second service, so both sizes are timed side by side.
    with running_service() as large:
        small_name = f"klageapi_bench_small_{os.getpid()}"
        asyncio.run(_create_database(large.dsn, small_name))
        try:
            small_url = _with_database(large.dsn, small_name, scheme="postgresql+asyncpg")
            with running_service(database_url=small_url) as small:
                met = asyncio.run(
                    _measure(
                        {SIZES[0]: small, SIZES[-1]: large},
                        requests=args.requests,
                        warm_up=args.warm_up,
                        extra_sql=args.extra_sql,
                        analyze=args.analyze,
                        large_pages=args.large_pages,
                    )
                )
        finally:
            asyncio.run(_drop_database(large.dsn, small_name))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
