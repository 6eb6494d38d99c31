"""Webhook delivery: latency from commit to arrival, and how fast one worker drains a backlog.

The service runs under uvicorn without its in-process worker; one `klageapi worker` process
sends to a receiver in a process of its own on loopback (bench/_receiver.py), subscribed to
`appeal.status_changed`. Events are written straight into the outbox with asyncpg, one
transaction each, so the figures are the dispatcher's alone:

1. Latency: `--rate` events per second for `--seconds`; for each event, the time from its
   commit (asyncpg returned) to its arrival at the receiver. Goal: p99 <= 200 ms.
2. Backlog: with the worker stopped, `--backlog` events are committed; a worker is started and
   drains them. The baseline is a plain httpx loop posting the same signed bodies, one at a
   time, to the same receiver in the same run. Goal: worker rate >= 0.5 x the loop's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from _harness import Service, cpu_seconds, free_port, percentile, running_service

from klageapi.webhook.signing import signed_headers

LATENCY_GOAL_MS = 200.0
RATIO_GOAL = 0.5
_HERE = Path(__file__).resolve().parent

_INSERT = """
INSERT INTO event (event_id, type, occurred_at, recorded_at, appeal_id, nav_office_unit_number,
                   statsforvalter_office_id, statsforvalter_visible, status, data)
VALUES ($1, 'appeal.status_changed', now(), now(), $2, '1103', 'sf-rogaland', false,
        'under_nav_review', '{"action": "bench"}'::jsonb)
"""


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(_HERE / "_receiver.py"), str(self.port)]
        )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    await client.get(self.url)
                    return
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    async def arrivals(self) -> dict[str, float]:
        async with httpx.AsyncClient(timeout=30) as client:
            found: dict[str, float] = (await client.get(self.url)).json()
            return found

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait()


class Worker:
    def __init__(self, service: Service) -> None:
        _scheme, rest = service.dsn.split("://", 1)
        env = {**os.environ, "KLAGEAPI_DATABASE_URL": f"postgresql+asyncpg://{rest}"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "klageapi", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def cpu_seconds(self) -> float:
        return cpu_seconds(self._process.pid)

    def stop(self) -> None:
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=60)


async def _subscribe(service: Service, receiver: Receiver) -> tuple[str, str]:
    """An appeal for the events to be about, and the subscription's secret."""
    async with httpx.AsyncClient(base_url=service.base_url, headers=service.headers) as client:
        response = await client.post(
            "/v1/webhook-subscriptions",
            json={"url": receiver.url, "event_types": ["appeal.status_changed"]},
        )
        response.raise_for_status()
        secret: str = response.json()["secret"]
        today = dt.date.today()
        appeal = await client.post(
            "/v1/appeals",
            json={
                "nav_office_unit_number": "1103",
                "municipality_number": "1103",
                "national_id": "15076500565",
                "decision": {
                    "reference": "BENCH",
                    "decided_on": str(today - dt.timedelta(days=10)),
                    "notified_on": str(today - dt.timedelta(days=9)),
                },
                "received_on": str(today),
                "channel": "digital",
                "grounds": "Benchmark.",
                "external_reference": f"BENCH-{uuid.uuid4().hex[:10]}",
            },
        )
        appeal.raise_for_status()
        return str(appeal.json()["id"]), secret


async def _latency(
    pool: asyncpg.Pool,
    receiver: Receiver,
    appeal_id: str,
    *,
    rate: float,
    seconds: float,
    settle: float = 10.0,
) -> list[float]:
    committed: dict[str, float] = {}
    count = int(rate * seconds)
    start = time.monotonic()

    async def one(index: int) -> None:
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        event_id = uuid.uuid4()
        await pool.execute(_INSERT, event_id, uuid.UUID(appeal_id))
        committed[str(event_id)] = time.time()

    await asyncio.gather(*(one(i) for i in range(count)))
    deadline = time.monotonic() + settle
    while True:
        arrived = await receiver.arrivals()
        missing = [key for key in committed if key not in arrived]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    if missing:
        print(f"  {len(missing)} of {count} events had not arrived {settle:g} s after the last")
    return [(arrived[key] - at) * 1000 for key, at in committed.items() if key in arrived]


async def _backlog(pool: asyncpg.Pool, appeal_id: str, count: int) -> list[str]:
    ids = [uuid.uuid4() for _ in range(count)]
    await pool.executemany(_INSERT, [(event_id, uuid.UUID(appeal_id)) for event_id in ids])
    return [str(event_id) for event_id in ids]


async def _drained(receiver: Receiver, ids: list[str], *, within: float) -> float:
    """Events per second from the first to the last arrival of `ids`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        arrived = await receiver.arrivals()
        times = [arrived[key] for key in ids if key in arrived]
        if len(times) == len(ids):
            return len(ids) / max(max(times) - min(times), 1e-6)
        await asyncio.sleep(1.0)
    raise RuntimeError(f"the backlog was not drained in {within:.0f} s")


async def _raw_loop(receiver: Receiver, secret: str, count: int) -> float:
    """The baseline: the same kind of signed bodies, posted one at a time with httpx."""
    bodies = []
    for _ in range(count):
        event_id = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        data = {
            "id": event_id,
            "type": "appeal.status_changed",
            "occurred_at": now.isoformat(),
            "recorded_at": now.isoformat(),
            "appeal_id": str(uuid.uuid4()),
            "nav_office": "1103",
            "statsforvalter_office": "sf-rogaland",
            "status": "under_nav_review",
            "data": {"action": "bench"},
        }
        body = json.dumps(
            {"type": "appeal.status_changed", "timestamp": now.isoformat(), "data": data},
            separators=(",", ":"),
        ).encode()
        bodies.append((event_id, body))
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        for event_id, body in bodies:
            headers = signed_headers(
                [secret], message_id=event_id, timestamp=dt.datetime.now(dt.UTC), body=body
            )
            response = await client.post(receiver.url, content=body, headers=headers)
            response.raise_for_status()
        return count / (time.perf_counter() - started)


async def run(*, rate: float, seconds: float, backlog: int) -> bool:
    os.environ["KLAGEAPI_RUN_WORKER"] = "false"
    os.environ["KLAGEAPI_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    receiver = Receiver()
    try:
        await receiver.wait_ready()
        with running_service() as service:
            appeal_id, secret = await _subscribe(service, receiver)
            pool = await asyncpg.create_pool(service.dsn, min_size=4, max_size=8)
            try:
                worker = Worker(service)
                # Warm-up, and the worker's start-up: wait for all of these to arrive.
                await _latency(pool, receiver, appeal_id, rate=rate, seconds=1, settle=120)
                cpu_before = worker.cpu_seconds()
                latencies = await _latency(pool, receiver, appeal_id, rate=rate, seconds=seconds)
                worker_cpu_ms = (worker.cpu_seconds() - cpu_before) * 1000 / (rate * seconds)
                worker.stop()
                ids = await _backlog(pool, appeal_id, backlog)
                worker = Worker(service)
                worker_rate = await _drained(receiver, ids, within=1800)
                worker.stop()
            finally:
                await pool.close()
            raw_rate = await _raw_loop(receiver, secret, backlog)
    finally:
        receiver.stop()
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    ratio = worker_rate / raw_rate
    latency_met, ratio_met = p99 <= LATENCY_GOAL_MS, ratio >= RATIO_GOAL
    print(
        f"webhooks: latency over {len(latencies)} events at {rate:g}/s: p50 {p50:.1f} ms,"
        f" p99 {p99:.1f} ms (goal p99 <= {LATENCY_GOAL_MS:.0f} ms:"
        f" {'met' if latency_met else 'MISSED'}); worker CPU {worker_cpu_ms:.2f} ms per event"
    )
    print(
        f"webhooks: backlog of {backlog}: worker {worker_rate:.0f}/s, raw httpx loop"
        f" {raw_rate:.0f}/s, ratio {ratio:.2f} (goal >= {RATIO_GOAL}:"
        f" {'met' if ratio_met else 'MISSED'})"
    )
    return latency_met and ratio_met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--backlog", type=int, default=20_000)
    args = parser.parse_args()
    met = asyncio.run(run(rate=args.rate, seconds=args.seconds, backlog=args.backlog))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
