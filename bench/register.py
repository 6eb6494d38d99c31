"""Registration throughput: POST /v1/appeals over real HTTP against the same rows written with
raw asyncpg.

The service runs under uvicorn (one worker) on its embedded PostgreSQL, or on
KLAGEAPI_BENCH_DATABASE_URL. It registers `--count` appeals for NAV Stavanger at `--concurrency`
requests in flight; the baseline writes, per appeal, one transaction with the same four rows the
service writes (appeal, appeal_history, event, audit_log) through an asyncpg pool at the same
concurrency. The two sides alternate in `--rounds` rounds after a warm-up, and the figure that
matters is the ratio API/raw.

Goal (from the issue): API throughput >= 0.30 x raw asyncpg.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from _harness import (
    DEMO_NAV_OFFICE,
    DEMO_NAV_ORGANISATION,
    CpuMeter,
    Service,
    national_ids,
    running_service,
)

GOAL = 0.30
_MUNICIPALITY = "1103"  # Stavanger, routed to sf-rogaland
_ACTOR = f"0192:{DEMO_NAV_ORGANISATION}"
_WARM_UP = 64


@dataclass
class _Bodies:
    """Distinct registration bodies: a run-unique external reference, a valid national id."""

    prefix: str
    ids: list[str]
    taken: int = 0

    def next(self) -> dict[str, Any]:
        index = self.taken
        self.taken += 1
        today = dt.datetime.now(dt.UTC).date()
        notified = today - dt.timedelta(days=20 + index % 7)
        return {
            "nav_office_unit_number": DEMO_NAV_OFFICE,
            "municipality_number": _MUNICIPALITY,
            "national_id": self.ids[index % len(self.ids)],
            "decision": {
                "reference": f"VEDTAK-{index:07d}",
                "decided_on": (notified - dt.timedelta(days=1)).isoformat(),
                "notified_on": notified.isoformat(),
            },
            "received_on": (today - dt.timedelta(days=3)).isoformat(),
            "channel": "digital" if index % 3 else "paper",
            "grounds": "Jeg mener vedtaket er feil, og ber om at saken vurderes på nytt.",
            "external_reference": f"{self.prefix}-{index:07d}",
        }


async def _run_workers(count: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    """Run `one` `count` times with `concurrency` in flight; returns the seconds taken."""
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            await one()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return time.perf_counter() - started


class _ApiSide:
    def __init__(self, client: aiohttp.ClientSession, bodies: _Bodies) -> None:
        self._client = client
        self._bodies = bodies

    async def one(self) -> None:
        async with self._client.post("/v1/appeals", json=self._bodies.next()) as response:
            answer = await response.read()
            if response.status != 201:
                raise RuntimeError(f"registration answered {response.status}: {answer[:500]!r}")


_INSERT_APPEAL = """
INSERT INTO appeal (
    id, nav_office_unit_number, municipality_number, statsforvalter_office_id, national_id,
    decision_reference, decision_decided_on, decision_notified_on, received_on, channel, grounds,
    external_reference, appeal_deadline_on, late, status, version, status_changed_at,
    registration_digest, created_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20)
"""
_INSERT_HISTORY = """
INSERT INTO appeal_history (
    appeal_id, action, from_status, to_status, actor_organisation, actor_supplier, occurred_at,
    recorded_at, details
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
"""
# transaction_id comes from its server default, as when the service writes an event.
_INSERT_EVENT = """
INSERT INTO event (
    event_id, type, occurred_at, recorded_at, appeal_id, nav_office_unit_number,
    statsforvalter_office_id, statsforvalter_visible, status, data
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
"""
_INSERT_AUDIT = """
INSERT INTO audit_log (
    occurred_at, actor_organisation, actor_supplier, actor_kind, action, appeal_id, purpose,
    request_id
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


class _RawSide:
    """The rows a registration leaves, written directly: the floor the API is measured against."""

    def __init__(self, pool: asyncpg.Pool, bodies: _Bodies, statsforvalter_office: str) -> None:
        self._pool = pool
        self._bodies = bodies
        self._office = statsforvalter_office

    async def one(self) -> None:
        body = self._bodies.next()
        digest = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        decision = body["decision"]
        notified = dt.date.fromisoformat(decision["notified_on"])
        received = dt.date.fromisoformat(body["received_on"])
        deadline = notified + dt.timedelta(days=21)
        now = dt.datetime.now(dt.UTC)
        appeal_id = uuid.uuid4()
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                _INSERT_APPEAL,
                appeal_id,
                DEMO_NAV_OFFICE,
                body["municipality_number"],
                self._office,
                body["national_id"],
                decision["reference"],
                dt.date.fromisoformat(decision["decided_on"]),
                notified,
                received,
                body["channel"],
                body["grounds"],
                body["external_reference"],
                deadline,
                received > deadline,
                "received",
                1,
                now,
                digest,
                now,
                now,
            )
            await connection.execute(
                _INSERT_HISTORY,
                appeal_id,
                "register",
                None,
                "received",
                _ACTOR,
                None,
                now,
                now,
                "{}",
            )
            await connection.execute(
                _INSERT_EVENT,
                uuid.uuid4(),
                "appeal.received",
                now,
                now,
                appeal_id,
                DEMO_NAV_OFFICE,
                self._office,
                False,
                "received",
                '{"action": "register", "from_status": null}',
            )
            await connection.execute(
                _INSERT_AUDIT,
                now,
                _ACTOR,
                None,
                "organisation",
                "appeal.register",
                appeal_id,
                "registration of an appeal by the NAV office",
                uuid.uuid4().hex,
            )


def _shares(count: int, rounds: int) -> Iterator[int]:
    for index in range(rounds):
        yield count // rounds + (1 if index < count % rounds else 0)


async def _measure(service: Service, *, count: int, concurrency: int, rounds: int) -> bool:
    run = uuid.uuid4().hex[:8]
    ids = national_ids(5_000)
    api_bodies = _Bodies(prefix=f"BENCH-{run}-API", ids=ids)
    raw_bodies = _Bodies(prefix=f"BENCH-{run}-RAW", ids=ids)
    # aiohttp's client, not httpx's: it spends a tenth of the CPU per request, which on a small
    # machine would otherwise be taken from the service being measured. Idle connections are
    # let go before uvicorn's 5 s keep-alive timeout, so that none is reused just as the
    # server closes it.
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=2.0)
    async with (
        aiohttp.ClientSession(
            base_url=service.base_url,
            headers=service.headers,
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=120.0),
        ) as client,
        asyncpg.create_pool(service.dsn, min_size=concurrency, max_size=concurrency) as pool,
    ):
        office = await pool.fetchval(
            "SELECT statsforvalter_office_id FROM county_route WHERE county = $1",
            _MUNICIPALITY[:2],
        )
        api = _ApiSide(client, api_bodies)
        raw = _RawSide(pool, raw_bodies, office)
        await _run_workers(_WARM_UP, concurrency, api.one)
        await _run_workers(_WARM_UP, concurrency, raw.one)

        seconds = {"api": 0.0, "raw": 0.0}
        cpu: dict[str, dict[str, float]] = {"api": {}, "raw": {}}
        for index, share in enumerate(_shares(count, rounds), start=1):
            rates = {}
            for side, one in (("api", api.one), ("raw", raw.one)):
                meter = CpuMeter(service)
                meter.start()
                elapsed = await _run_workers(share, concurrency, one)
                for key, used in meter.stop().items():
                    cpu[side][key] = cpu[side].get(key, 0.0) + used
                seconds[side] += elapsed
                rates[side] = share / elapsed
            print(
                f"  round {index}: {share} appeals each; api {rates['api']:.1f}/s, "
                f"raw asyncpg {rates['raw']:.1f}/s, ratio {rates['api'] / rates['raw']:.2f}"
            )
    for side, label in (("api", "api"), ("raw", "raw asyncpg")):
        parts = ", ".join(f"{key} {used / count * 1000:.2f}" for key, used in cpu[side].items())
        print(f"  cpu ms per appeal, {label}: {parts}")
    api_rate = count / seconds["api"]
    raw_rate = count / seconds["raw"]
    ratio = api_rate / raw_rate
    verdict = "met" if ratio >= GOAL else "MISSED"
    print(
        f"register: api {api_rate:.1f}/s, raw asyncpg {raw_rate:.1f}/s, "
        f"ratio {ratio:.2f} (goal >= {GOAL:.2f}: {verdict})"
    )
    return ratio >= GOAL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="appeals per side (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (default 32)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating API/raw rounds (default 2)"
    )
    args = parser.parse_args()
    if args.count < args.rounds or args.concurrency < 1 or args.rounds < 1:
        parser.error("need --count >= --rounds >= 1 and --concurrency >= 1")
    with running_service() as service:
        where = "embedded PostgreSQL" if service.embedded else "KLAGEAPI_BENCH_DATABASE_URL"
        print(
            f"register: {args.count} appeals per side, concurrency {args.concurrency}, "
            f"{args.rounds} rounds, {where}"
        )
        met = asyncio.run(
            _measure(service, count=args.count, concurrency=args.concurrency, rounds=args.rounds)
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
