"""Crash safety under load: the API (`klageapi serve`, KLAGEAPI_RUN_WORKER=false) and two
`klageapi worker` processes on one embedded PostgreSQL, killed with SIGKILL at random (seeded)
moments and restarted, while NAV's and the Statsforvalter's systems take appeals through their
journey over HTTP and a receiver on loopback takes the webhooks of two subscriptions.

Every POST carries an Idempotency-Key and is sent again with the same key and body after a
connection error, once the API is back. Afterwards it checks that

- every answer of 2xx is in the database: each appeal once per external reference, each step
  in the appeal's history exactly once, each accepted document downloadable with the sha256 of
  the bytes sent;
- every event is in the feed (GET /v1/events, paged with its cursor) exactly once, for NAV and
  for the Statsforvalter, and no other;
- every subscription received every event of its organisation's feed at least once, and, with
  duplicates removed by `webhook-id`, nothing else;
- no national id is in the feed or the processes' logs, and no answer was a 5xx.

    python3 -m uv run python bench/crash.py [--rounds 6] [--seed 1] [--appeals 120]
        [--duration 60] [--concurrency 8]

Exits with 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _bulk import exit_on_sigterm
from _cluster import (
    Cluster,
    Driver,
    Figures,
    Refused,
    check,
    client_of,
    data_folder,
    embedded_database,
    report_checks,
    report_end,
    running,
    subscribe,
)
from _harness import asyncpg_dsn, percentile
from webhooks import Receiver

__all__ = ["CrashFigures", "run"]

_VICTIMS = (("api",), ("worker-1",), ("worker-2",), ("worker-1", "worker-2"), ("api", "worker-1"))
_VICTIMS_LAST = ("api", "worker-1", "worker-2")
"""The last round kills everything at once."""


@dataclass
class CrashFigures(Figures):
    rounds: int = 0
    kills: collections.Counter[str] = field(default_factory=collections.Counter)


async def _load(
    driver: Driver, *, appeals: int, duration: float, concurrency: int, seed: int
) -> None:
    """`appeals` journeys, started evenly over `duration` seconds, at most `concurrency` at
    once. A journey refused on the way is an invariant failure; the others go on."""
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async def one(index: int) -> None:
        await asyncio.sleep(max(0.0, started + index * duration / appeals - time.monotonic()))
        async with gate:
            try:
                await driver.journey(random.Random(f"{seed}-{index}"))
            except (Refused, httpx.TransportError) as error:
                driver.figures.fail(f"journey {index}: {error}")

    await asyncio.gather(*(one(index) for index in range(appeals)))


async def _kill_rounds(
    cluster: Cluster,
    figures: CrashFigures,
    *,
    rounds: int,
    duration: float,
    rng: random.Random,
) -> None:
    """`rounds` times: once everything is up again, wait a random part of `duration / rounds`,
    SIGKILL a random choice of processes, and start them again after a random pause of up to a
    second. The wait counts from the restart, not from the start of the load, so that a slow
    restart does not make the kills come back to back."""
    for index in range(rounds):
        await asyncio.sleep(rng.uniform(0.2, 1.0) * duration / rounds)
        victims = _VICTIMS_LAST if index == rounds - 1 else rng.choice(_VICTIMS)
        cluster.kill(victims)
        figures.kills.update(victims)
        figures.rounds += 1
        await asyncio.sleep(rng.random())
        for name in victims:
            await cluster.start(name)
        if "api" in victims:
            figures.seconds["api down"] = (
                figures.seconds.get("api down", 0.0) + time.monotonic() - cluster.killed_at
            )


async def run(
    *,
    rounds: int,
    seed: int,
    appeals: int,
    duration: float,
    concurrency: int = 8,
    keep: bool = False,
    database_url: str | None = None,
) -> CrashFigures:
    """The whole run: start, load while killing, check. The folder is removed unless an
    invariant failed or `keep` is set. The run's database is an empty one at `database_url`,
    on a server the caller keeps running, or else an embedded PostgreSQL of its own."""
    figures = CrashFigures()
    started = time.monotonic()
    receiver = Receiver()
    try:
        with (
            data_folder("crash", figures, keep=keep) as folder,
            _database(folder, database_url) as database_url,
        ):
            cluster = Cluster(folder, database_url)
            async with running(
                cluster, receiver, figures, ("api", "worker-1", "worker-2"), since=started
            ):
                await _play(
                    cluster,
                    receiver,
                    figures,
                    rounds=rounds,
                    seed=seed,
                    appeals=appeals,
                    duration=duration,
                    concurrency=concurrency,
                    dsn=asyncpg_dsn(database_url),
                )
    finally:
        receiver.stop()
    return figures


@contextlib.contextmanager
def _database(folder: Path, given: str | None) -> Iterator[str]:
    if given is not None:
        yield given
        return
    with embedded_database(folder) as (_, url):
        yield url


async def _play(
    cluster: Cluster,
    receiver: Receiver,
    figures: CrashFigures,
    *,
    rounds: int,
    seed: int,
    appeals: int,
    duration: float,
    concurrency: int,
    dsn: str,
) -> None:
    async with client_of(cluster, concurrency=concurrency, timeout=30.0) as client:
        driver = Driver(cluster, client, figures)
        paths = await subscribe(driver, receiver)
        started = time.monotonic()
        await asyncio.gather(
            _load(driver, appeals=appeals, duration=duration, concurrency=concurrency, seed=seed),
            _kill_rounds(
                cluster, figures, rounds=rounds, duration=duration, rng=random.Random(seed)
            ),
        )
        figures.seconds["load"] = time.monotonic() - started
        await check(driver, receiver, paths, dsn=dsn)


def report(figures: CrashFigures) -> None:
    kills = ", ".join(f"{name} {count}" for name, count in sorted(figures.kills.items()))
    print(f"crash: {figures.rounds} rounds, SIGKILLs: {kills}")
    resent = collections.Counter(
        f"{answer.method} {answer.template} ({answer.code})"
        for answer in figures.answers
        if answer.status == 0
    )
    print(
        f"  requests of the load {figures.requests}: accepted (2xx POST) {figures.accepted},"
        f" of them replayed {figures.replayed}; failed by the kill {resent.total()},"
        f" all sent again; 409 idempotency_key_in_use {figures.in_use_retries}"
    )
    for request, count in resent.most_common():
        print(f"    sent again: {count} x {request}")
    report_checks(figures)
    latency: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
    for answer in figures.answers:
        if answer.status:
            latency[f"{answer.method} {answer.template}"].append(answer.ended - answer.began)
    for request, times in sorted(latency.items()):
        print(
            f"    {request}: {len(times)} answered, p50 {percentile(times, 0.5) * 1000:.0f} ms,"
            f" p95 {percentile(times, 0.95) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )
    report_end(figures)
    verdict = "every invariant held" if not figures.failures else f"{len(figures.failures)} failed"
    print(f"crash: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="kill rounds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--appeals", type=int, default=120)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--concurrency", type=int, default=8, help="journeys at once")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    args = parser.parse_args()
    exit_on_sigterm()
    figures = asyncio.run(
        run(
            rounds=args.rounds,
            seed=args.seed,
            appeals=args.appeals,
            duration=args.duration,
            concurrency=args.concurrency,
            keep=args.keep,
        )
    )
    report(figures)
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
