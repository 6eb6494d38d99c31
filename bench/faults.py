"""Faults survived under load: the API (`klageapi serve`, KLAGEAPI_RUN_WORKER=false) and a
`klageapi worker` on an embedded PostgreSQL and a SeaweedFS S3 store of this script's own, while
NAV's and the Statsforvalter's systems take appeals through their journey over HTTP (bench/
_cluster.py's journeys: registrations, uploads, every step) and a receiver on loopback takes the
webhooks of two subscriptions. Meanwhile:

1. PostgreSQL is stopped (`pg_ctl stop -m fast`) for `--outage` seconds and started again;
2. the S3 store is killed for `--outage` seconds and started again (same ports and data).

Every POST carries an Idempotency-Key and is sent again with the same key after a 503 (once its
Retry-After has passed) or a connection error. It prints, per fault, the answers during it
(503 by code), 500s (goal 0), requests answered later than the pool's wait (goal 0: no hang), and
the seconds from the fault's end to the first 2xx of a request sent after it (for the store:
of an upload or download); and afterwards, as bench/crash.py checks, answered writes lost (goal
0) or duplicated (goal 0), every event once in each feed, every delivery made.

    python3 -m uv run python bench/faults.py [--outage 10] [--concurrency 6] [--steady 10]
        [--seed 1] [--keep]

Exits with 1 when a goal is missed or an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import sys
import time
from dataclasses import dataclass

import httpx
from _bulk import exit_on_sigterm
from _cluster import (
    Answer,
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
from _harness import asyncpg_dsn
from webhooks import Receiver

from klageapi.core.embedded_postgres import EmbeddedPostgres
from klageapi.document.seaweedfs import SeaweedFSProcess, running_seaweedfs

__all__ = ["run"]

_POOL_TIMEOUT_SECONDS = 10.0
"""The service's KLAGEAPI_DB_POOL_TIMEOUT_SECONDS (its default): an answer later than this is
a hang."""
_CLIENT_TIMEOUT_SECONDS = 60.0
_KEY_PREFIX = "faults"


@dataclass
class Fault:
    name: str
    began: float = 0.0
    ended: float = 0.0
    """When the server was back (PostgreSQL started, the store answering)."""
    restart_seconds: float = 0.0


async def _load(driver: Driver, *, concurrency: int, seed: int, stop: asyncio.Event) -> None:
    """`concurrency` systems, each taking one appeal after another through its journey until
    told to stop (the journey under way is finished). A journey refused on the way is an
    invariant failure; the system goes on with the next."""

    async def system(index: int) -> None:
        rng = random.Random(f"{seed}-{index}")
        while not stop.is_set():
            try:
                await driver.journey(rng)
            except (Refused, httpx.TransportError) as error:
                driver.figures.fail(f"journey of system {index}: {error}")

    await asyncio.gather(*(system(index) for index in range(concurrency)))


async def _faults(
    database: EmbeddedPostgres,
    store: SeaweedFSProcess,
    faults: list[Fault],
    *,
    outage: float,
    steady: float,
) -> None:
    await asyncio.sleep(steady)
    stopped = faults[0]
    stopped.began = time.monotonic()
    await asyncio.to_thread(database.halt)
    await asyncio.sleep(max(0.0, outage - (time.monotonic() - stopped.began)))
    restarting = time.monotonic()
    await asyncio.to_thread(database.resume)
    stopped.ended = time.monotonic()
    stopped.restart_seconds = stopped.ended - restarting

    await asyncio.sleep(steady)
    killed = faults[1]
    killed.began = time.monotonic()
    store.kill()
    await asyncio.sleep(outage)
    restarting = time.monotonic()
    await asyncio.to_thread(store.start)
    killed.ended = time.monotonic()
    killed.restart_seconds = killed.ended - restarting
    await asyncio.sleep(steady)


def _touches_store(answer: Answer) -> bool:
    return answer.template.endswith("/documents") or answer.template.endswith("/content")


@dataclass
class FaultFigures:
    during: collections.Counter[str]
    recover_seconds: float | None
    unavailable_after: int


def _judge(fault: Fault, answers: list[Answer], *, until: float) -> FaultFigures:
    """The answers to requests sent during the fault, and how long after its end the first 2xx
    came to a request sent after it and before `until` (the next fault), of the store's
    requests for the store."""
    relevant = _touches_store if fault.name == "store" else (lambda answer: True)
    during = collections.Counter(
        f"{answer.status} {answer.code}".strip()
        for answer in answers
        if fault.began <= answer.began < fault.ended and relevant(answer)
    )
    after = sorted(
        (answer for answer in answers if fault.ended <= answer.began < until and relevant(answer)),
        key=lambda answer: answer.ended,
    )
    first = next((answer for answer in after if 200 <= answer.status < 300), None)
    unavailable_after = sum(1 for answer in after if answer.status == 503)
    return FaultFigures(
        during=during,
        recover_seconds=None if first is None else first.ended - fault.ended,
        unavailable_after=unavailable_after,
    )


async def run(
    *, outage: float, concurrency: int, steady: float, seed: int, keep: bool
) -> tuple[Figures, list[Fault]]:
    figures = Figures()
    faults = [Fault("database"), Fault("store")]
    started = time.monotonic()
    receiver = Receiver()
    try:
        with (
            data_folder("faults", figures, keep=keep) as folder,
            embedded_database(folder) as (database, database_url),
            running_seaweedfs(folder / "seaweedfs") as store,
        ):
            cluster = Cluster(folder, database_url)
            cluster.env.update(store.store.environment(prefix=_KEY_PREFIX))
            cluster.env["KLAGEAPI_DB_POOL_TIMEOUT_SECONDS"] = str(_POOL_TIMEOUT_SECONDS)
            async with running(cluster, receiver, figures, ("api", "worker-1"), since=started):
                await _play(
                    cluster,
                    receiver,
                    figures,
                    faults,
                    database=database,
                    store=store,
                    outage=outage,
                    concurrency=concurrency,
                    steady=steady,
                    seed=seed,
                    dsn=asyncpg_dsn(database_url),
                )
    finally:
        receiver.stop()
    return figures, faults


async def _play(
    cluster: Cluster,
    receiver: Receiver,
    figures: Figures,
    faults: list[Fault],
    *,
    database: EmbeddedPostgres,
    store: SeaweedFSProcess,
    outage: float,
    concurrency: int,
    steady: float,
    seed: int,
    dsn: str,
) -> None:
    async with client_of(
        cluster, concurrency=concurrency, timeout=_CLIENT_TIMEOUT_SECONDS
    ) as client:
        driver = Driver(cluster, client, figures, wait_out_unavailable=True)
        paths = await subscribe(driver, receiver)
        stop = asyncio.Event()
        began = time.monotonic()
        load = asyncio.create_task(_load(driver, concurrency=concurrency, seed=seed, stop=stop))
        try:
            await _faults(database, store, faults, outage=outage, steady=steady)
        finally:
            stop.set()
            await load
        figures.seconds["load"] = time.monotonic() - began
        await check(driver, receiver, paths, dsn=dsn)


def report(figures: Figures, faults: list[Fault], *, outage: float) -> bool:
    """Prints the figures; returns whether every goal was met."""
    answers = figures.answers
    statuses = collections.Counter(answer.status for answer in answers)
    five_hundreds = sum(1 for answer in answers if answer.status == 500)
    hangs = [answer for answer in answers if answer.ended - answer.began > _POOL_TIMEOUT_SECONDS]
    print(
        f"faults: {len(answers)} requests of the load, {figures.appeals} appeals;"
        f" statuses {dict(sorted(statuses.items()))}"
    )
    goals = True
    judged_faults = [
        _judge(fault, answers, until=following.began if following else float("inf"))
        for fault, following in zip(faults, [*faults[1:], None], strict=True)
    ]
    for fault, judged in zip(faults, judged_faults, strict=True):
        recover = "never" if judged.recover_seconds is None else f"{judged.recover_seconds:.2f} s"
        what = "PostgreSQL stopped" if fault.name == "database" else "S3 store killed"
        print(
            f"  {what} for {outage:.0f} s (back {fault.restart_seconds:.1f} s after the start"
            f" command): answers to requests sent meanwhile"
            f" {dict(sorted(judged.during.items()))}; recovered {recover} after it was back;"
            f" 503 to requests sent after that {judged.unavailable_after}"
        )
        goals &= judged.recover_seconds is not None
    print(
        f"  accepted (2xx POST) {figures.accepted}, of them replayed {figures.replayed};"
        f" 409 idempotency_key_in_use waited out {figures.in_use_retries};"
        f" connection errors {sum(1 for answer in answers if answer.status == 0)}"
    )
    report_checks(figures)
    print(f"  answered 500: {five_hundreds} (goal 0)")
    slowest = max((answer.ended - answer.began for answer in answers), default=0.0)
    print(
        f"  answered later than the pool's wait ({_POOL_TIMEOUT_SECONDS:.0f} s): {len(hangs)}"
        f" (goal 0); slowest answer {slowest:.2f} s"
    )
    for hang in hangs:
        when = ", ".join(
            f"{hang.began - fault.began:+.1f} s from the {fault.name} fault" for fault in faults
        )
        print(
            f"    later than the pool's wait: {hang.method} {hang.template}"
            f" {hang.status} {hang.code} after {hang.ended - hang.began:.1f} s, sent {when}"
        )
    report_end(figures)
    goals &= not figures.failures and not five_hundreds and not hangs
    verdict = "every goal met" if goals else "a goal MISSED"
    print(
        f"faults: lost {figures.lost}, duplicated {figures.duplicated}, 500s {five_hundreds},"
        f" hangs {len(hangs)}; recovered "
        + ", ".join(
            f"{fault.name} "
            + ("never" if judged.recover_seconds is None else f"{judged.recover_seconds:.2f} s")
            for fault, judged in zip(faults, judged_faults, strict=True)
        )
        + f"; {verdict}"
    )
    return goals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=10.0, help="seconds each fault lasts")
    parser.add_argument("--concurrency", type=int, default=6, help="journeys at once")
    parser.add_argument(
        "--steady", type=float, default=10.0, help="seconds of load before, between and after"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    args = parser.parse_args()
    exit_on_sigterm()
    figures, faults = asyncio.run(
        run(
            outage=args.outage,
            concurrency=args.concurrency,
            steady=args.steady,
            seed=args.seed,
            keep=args.keep,
        )
    )
    return 0 if report(figures, faults, outage=args.outage) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
