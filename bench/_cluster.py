"""What bench/crash.py and bench/faults.py share: klageapi's API and workers as processes on one
PostgreSQL, NAV's and the Statsforvalter's systems taking appeals through their journey over
HTTP (every POST with an Idempotency-Key, sent again after a failure), and the checks afterwards:
every answer of 2xx is in the database once, every event is in each organisation's feed once and
was delivered to its subscription, and no national id is in the feed or the processes' logs.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime as dt
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _bulk import (
    NATIONAL_ID,
    NAV_ORGANISATION,
    STATSFORVALTER_ORGANISATION,
    oslo_today,
    registration,
)
from _harness import free_port, stop_process, wait_ready
from webhooks import Receiver

from klageapi.core.dev_issuer import DevIssuer
from klageapi.event.outbox import EVENT_TYPES

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # XDG_RUNTIME_DIR unset: pgserver's lock file goes to /tmp
    from klageapi.core.embedded_postgres import EmbeddedPostgres

__all__ = [
    "Answer",
    "Cluster",
    "Driver",
    "Figures",
    "Refused",
    "check",
    "client_of",
    "data_folder",
    "embedded_database",
    "report_checks",
    "running",
    "subscribe",
]

_SCOPES = "klageapi:read klageapi:write"
_REQUIRED = ("appeal", "decision", "forwarding_letter", "application")
_MAX_TRANSPORT_ERRORS = 100
"""Connection errors one request may meet before the run gives up on it."""
_DRAIN_SECONDS = 120.0


@dataclass
class Answer:
    """One attempt of a request: status 0 and the error's name as code for a connection error."""

    began: float
    ended: float
    method: str
    template: str
    status: int
    code: str


@dataclass
class Figures:
    """What the run counted, and the invariants that failed (empty: all held)."""

    requests: int = 0
    answers: list[Answer] = field(default_factory=list)
    """Every attempt of the load's requests."""
    accepted: int = 0
    replayed: int = 0
    in_use_retries: int = 0
    lost: int = 0
    duplicated: int = 0
    appeals: int = 0
    documents: int = 0
    feed: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    error_log_lines: int = 0
    blobs: dict[str, int] = field(default_factory=dict)
    """Files in the document store on disk: referenced, unreferenced (an upload whose
    transaction was killed), and partial ones left in tmp/; empty with the S3 store."""
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)


@dataclass
class Accepted:
    """The effects of every 2xx answer, to be found in the database afterwards."""

    appeals: dict[str, str] = field(default_factory=dict)
    """external_reference -> appeal id"""
    documents: dict[str, str] = field(default_factory=dict)
    """document id -> sha256 of the bytes sent"""
    actions: dict[str, collections.Counter[str]] = field(default_factory=dict)
    """appeal id -> history actions answered 2xx"""

    def action(self, appeal_id: str, name: str) -> None:
        self.actions.setdefault(appeal_id, collections.Counter())[name] += 1


class Refused(Exception):
    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        code = problem_code(response)
        super().__init__(f"{method} {path}: {response.status_code} {code}")


def template(path: str) -> str:
    """The path with its ids replaced by {id}."""
    return "/".join(
        "{id}" if len(part) == 36 and part.count("-") == 4 else part for part in path.split("/")
    )


def problem_code(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            return str(body.get("code", ""))
    return ""


class Cluster:
    """The API and the workers as processes on this machine, on one PostgreSQL that this
    process keeps running, so that killing them never takes the database down."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "KLAGEAPI_ENVIRONMENT": "development",
            "KLAGEAPI_DATA_DIR": str(folder),
            "KLAGEAPI_DATABASE_URL": database_url,
            "KLAGEAPI_RUN_WORKER": "false",
            "KLAGEAPI_LOG_LEVEL": "WARNING",
            "KLAGEAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            # A lease of 2 x 2 + 5 = 9 s: what a killed worker was sending is sent again soon.
            "KLAGEAPI_WEBHOOK_TIMEOUT_SECONDS": "2",
            "KLAGEAPI_WEBHOOK_RETRY_SCHEDULE_SECONDS": "0.5,1,2,4,8,16",
            "KLAGEAPI_WORKER_POLL_SECONDS": "0.5",
            # A request killed with its process leaves its Idempotency-Key claimed until the
            # claim expires; the retries wait that long (409 idempotency_key_in_use).
            "KLAGEAPI_IDEMPOTENCY_CLAIM_SECONDS": "5",
            # Crash safety, not fairness: one organisation sends everything.
            "KLAGEAPI_ORGANISATION_MAX_CONCURRENT_REQUESTS": "0",
            "KLAGEAPI_ORGANISATION_REQUESTS_PER_SECOND": "0",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.up = asyncio.Event()
        self.killed_at = 0.0
        self.issuer = DevIssuer(folder)

    @property
    def documents_folder(self) -> Path | None:
        """Where the document store keeps its files; None with the S3 store."""
        if self.env.get("KLAGEAPI_DOCUMENT_STORAGE") == "s3":
            return None
        return self.folder / "documents"

    def headers(self, organisation: str) -> dict[str, str]:
        token = self.issuer.organisation_token(organisation, _SCOPES)
        return {"Authorization": f"Bearer {token}"}

    def migrate(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "klageapi", "migrate"], env=self.env, capture_output=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"klageapi migrate failed:\n{done.stderr.decode()[-2000:]}")

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        command = ["serve", "--port", str(self.port)] if name == "api" else ["worker"]
        with self.log(name).open("ab") as output:
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "klageapi", *command],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    async def start(self, name: str) -> None:
        process = self._spawn(name)
        if name == "api":
            await asyncio.to_thread(wait_ready, process, self.base_url, self.log(name))
            self.up.set()

    def kill(self, names: tuple[str, ...]) -> None:
        """SIGKILL, with no await in between: no request starts against a dead API."""
        if "api" in names:
            self.up.clear()
            self.killed_at = time.monotonic()
        for name in names:
            process = self.processes[name]
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            stop_process(process)


class Driver:
    """NAV Stavanger's and Statsforvalteren i Rogaland's systems: every POST with an
    Idempotency-Key, sent again unchanged after a connection error (see `send`)."""

    def __init__(
        self,
        cluster: Cluster,
        client: httpx.AsyncClient,
        figures: Figures,
        *,
        wait_out_unavailable: bool = False,
    ) -> None:
        self.cluster = cluster
        self.client = client
        self.figures = figures
        self.wait_out_unavailable = wait_out_unavailable
        self.accepted = Accepted()
        self.nav = cluster.headers(NAV_ORGANISATION)
        self.sf = cluster.headers(STATSFORVALTER_ORGANISATION)

    async def send(self, method: str, path: str, **options: Any) -> httpx.Response:
        """The request, sent again while the API is down, the connection fails, its
        Idempotency-Key is still claimed, or (`wait_out_unavailable`) once a 503's Retry-After
        has passed; every attempt is noted in the figures' answers."""
        errors = 0
        while True:
            await self.cluster.up.wait()
            self.figures.requests += 1
            began = time.monotonic()
            try:
                response = await self.client.request(method, path, **options)
            except httpx.TransportError as error:
                self._note(began, method, path, 0, type(error).__name__)
                errors += 1
                if errors >= _MAX_TRANSPORT_ERRORS:
                    raise
                await asyncio.sleep(0.2)
                continue
            code = problem_code(response)
            self._note(began, method, path, response.status_code, code)
            if response.status_code == 503 and self.wait_out_unavailable:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code == 409 and code == "idempotency_key_in_use":
                # The killed or failed request's transaction has not ended yet.
                self.figures.in_use_retries += 1
                await asyncio.sleep(0.5)
                continue
            if not response.is_success:
                raise Refused(method, path, response)
            return response

    def _note(self, began: float, method: str, path: str, status: int, code: str) -> None:
        ended = time.monotonic()
        self.figures.answers.append(Answer(began, ended, method, template(path), status, code))

    async def post(self, path: str, *, headers: dict[str, str], **options: Any) -> dict[str, Any]:
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        response = await self.send("POST", path, headers=headers, **options)
        self.figures.accepted += 1
        if response.headers.get("idempotent-replayed") == "true":
            self.figures.replayed += 1
        body: dict[str, Any] = response.json()
        return body

    async def etag(self, appeal_id: str, headers: dict[str, str]) -> str:
        response = await self.send("GET", f"/v1/appeals/{appeal_id}", headers=headers)
        return response.headers["etag"]

    async def upload(
        self, appeal_id: str, category: str, headers: dict[str, str], rng: random.Random
    ) -> str:
        data = b"%PDF-1.7\n" + rng.randbytes(rng.randint(2_000, 64_000))
        digest = hashlib.sha256(data)
        document = await self.post(
            f"/v1/appeals/{appeal_id}/documents",
            params={"category": category, "title": category, "file_name": f"{category}.pdf"},
            content=data,
            headers={
                **headers,
                "Content-Type": "application/pdf",
                "Content-Digest": f"sha-256=:{base64.b64encode(digest.digest()).decode()}:",
            },
        )
        self.accepted.documents[document["id"]] = digest.hexdigest()
        return str(document["id"])

    async def step(
        self, appeal_id: str, action: str, path: str, *, headers: dict[str, str], **options: Any
    ) -> dict[str, Any]:
        body = await self.post(path, headers=headers, **options)
        self.accepted.action(appeal_id, action)
        return body

    async def journey(self, rng: random.Random) -> None:
        """One appeal from registration to the Statsforvalter's decision, in the order of
        tests/journey.py; about a third with a documentation request on the way."""
        body = registration()
        appeal = await self.post("/v1/appeals", json=body, headers=self.nav)
        appeal_id = str(appeal["id"])
        self.accepted.appeals[body["external_reference"]] = appeal_id
        self.accepted.action(appeal_id, "register")
        today = oslo_today().isoformat()
        nav, sf = self.nav, self.sf
        await self.step(
            appeal_id, "start_nav_review", f"/v1/appeals/{appeal_id}/nav-review", headers=nav
        )
        for category in _REQUIRED:
            await self.upload(appeal_id, category, nav, rng)
        await self.step(
            appeal_id,
            "record_nav_outcome",
            f"/v1/appeals/{appeal_id}/nav-outcome",
            json={"outcome": "upheld", "decided_on": today, "reasoning": "Vedtaket står."},
            headers={**nav, "If-Match": await self.etag(appeal_id, nav)},
        )
        package = await self.step(
            appeal_id, "forward", f"/v1/appeals/{appeal_id}/packages", headers=nav
        )
        await self.step(
            appeal_id,
            "acknowledge_receipt",
            f"/v1/packages/{package['id']}/receipt",
            json={"statsforvalter_case_number": f"2026/{rng.randint(1, 99_999)}"},
            headers=sf,
        )
        await self.step(
            appeal_id,
            "start_statsforvalter_review",
            f"/v1/appeals/{appeal_id}/statsforvalter-review",
            headers=sf,
        )
        if rng.random() < 0.35:
            due = (oslo_today() + dt.timedelta(days=14)).isoformat()
            request = await self.step(
                appeal_id,
                "request_documentation",
                f"/v1/appeals/{appeal_id}/documentation-requests",
                json={"description": "Send husleiekontrakten.", "due_on": due},
                headers=sf,
            )
            answer = await self.upload(appeal_id, "documentation_response", nav, rng)
            supplementary = await self.step(
                appeal_id,
                "fulfil_documentation",
                f"/v1/documentation-requests/{request['id']}/fulfilment",
                json={"document_ids": [answer]},
                headers=nav,
            )
            await self.step(
                appeal_id,
                "acknowledge_supplementary",
                f"/v1/packages/{supplementary['id']}/receipt",
                json={"statsforvalter_case_number": f"2026/{rng.randint(1, 99_999)}"},
                headers=sf,
            )
        letter = await self.upload(appeal_id, "statsforvalter_decision", sf, rng)
        await self.step(
            appeal_id,
            "decide",
            f"/v1/appeals/{appeal_id}/decision",
            json={
                "outcome": rng.choice(["upheld", "new_decision", "annulled"]),
                "decided_on": today,
                "document_id": letter,
            },
            headers={**sf, "If-Match": await self.etag(appeal_id, sf)},
        )


async def subscribe(driver: Driver, receiver: Receiver) -> dict[str, str]:
    """One subscription per organisation to every event type; path on the receiver ->
    organisation's headers key. What was sent so far is not counted as load."""
    paths = {"/hooks/nav": "nav", "/hooks/sf": "sf"}
    for path, who in paths.items():
        await driver.post(
            "/v1/webhook-subscriptions",
            json={
                "url": f"http://127.0.0.1:{receiver.port}{path}",
                "event_types": list(EVENT_TYPES),
            },
            headers=driver.nav if who == "nav" else driver.sf,
        )
    figures = driver.figures
    figures.accepted = figures.replayed = figures.requests = 0
    figures.answers.clear()
    return paths


async def _feed(driver: Driver, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every event of the caller's feed, paged with the cursor until a page comes back empty."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor is not None:
            params["after"] = cursor
        response = await driver.send("GET", "/v1/events", params=params, headers=headers)
        page = response.json()
        events.extend(page["items"])
        if not page["items"]:
            return events
        cursor = page["next_cursor"]


async def _counts(client: httpx.AsyncClient, receiver: Receiver) -> dict[str, dict[str, int]]:
    response = await client.get(f"http://127.0.0.1:{receiver.port}/counts")
    counts: dict[str, dict[str, int]] = response.json()
    return counts


async def _check_database(driver: Driver, pool: asyncpg.Pool) -> None:
    """Every write answered 2xx is stored once: appeals by external reference, each step in the
    history as often as it was answered, each document, with the bytes sent."""
    accepted, figures = driver.accepted, driver.figures
    by_reference: dict[str, list[str]] = collections.defaultdict(list)
    for row in await pool.fetch("SELECT id, external_reference FROM appeal"):
        by_reference[row["external_reference"]].append(str(row["id"]))
    figures.appeals = len(by_reference)
    for reference, appeal_id in accepted.appeals.items():
        stored = by_reference.get(reference, [])
        if appeal_id not in stored:
            figures.lost += 1
            figures.fail(f"registration {appeal_id}: stored as {stored}")
        figures.duplicated += max(0, len(stored) - 1)
    figures.duplicated += len(set(by_reference) - set(accepted.appeals))
    history: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for row in await pool.fetch("SELECT appeal_id, action FROM appeal_history"):
        history[str(row["appeal_id"])][row["action"]] += 1
    for appeal_id, actions in accepted.actions.items():
        stored_actions = history.get(appeal_id, collections.Counter())
        if stored_actions != actions:
            figures.fail(f"appeal {appeal_id}: history {dict(stored_actions)}, 2xx {actions}")
        figures.lost += sum((actions - stored_actions).values())
        figures.duplicated += sum((stored_actions - actions).values())
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
    figures.duplicated += len(stored_documents - set(accepted.documents))
    if figures.duplicated:
        figures.fail(f"{figures.duplicated} writes stored more often than answered")
    if driver.cluster.documents_folder is not None:
        await _check_blobs(driver.cluster.documents_folder, pool, figures)


async def _check_blobs(root: Path, pool: asyncpg.Pool, figures: Figures) -> None:
    """The document store on disk has every referenced blob; counts what else it holds."""
    referenced = {row["sha256"] for row in await pool.fetch("SELECT DISTINCT sha256 FROM document")}
    on_disk = {path.name for path in (root / "sha256").rglob("*") if path.is_file()}
    figures.blobs = {
        "referenced": len(on_disk & referenced),
        "unreferenced": len(on_disk - referenced),
        "partial": sum(1 for path in (root / "tmp").rglob("*") if path.is_file()),
    }
    if referenced - on_disk:
        figures.fail(f"{len(referenced - on_disk)} documents' blobs are missing")


_VISIBLE = {
    "nav": "SELECT event_id FROM event WHERE nav_office_unit_number = '1103'",
    "sf": "SELECT event_id FROM event"
    " WHERE statsforvalter_office_id = 'sf-rogaland' AND statsforvalter_visible",
}


async def _check_feeds(driver: Driver, pool: asyncpg.Pool) -> dict[str, set[str]]:
    """Each organisation's feed against the event table; returns the ids in each feed."""
    figures = driver.figures
    feeds: dict[str, set[str]] = {}
    for who, headers in (("nav", driver.nav), ("sf", driver.sf)):
        events = await _feed(driver, headers)
        ids = [event["id"] for event in events]
        stored = {str(row["event_id"]) for row in await pool.fetch(_VISIBLE[who])}
        figures.feed[who] = len(ids)
        repeated = len(ids) - len(set(ids))
        if repeated:
            figures.fail(f"{who} feed: {repeated} events served more than once")
        if set(ids) != stored:
            figures.fail(
                f"{who} feed: {len(stored - set(ids))} events missing,"
                f" {len(set(ids) - stored)} not visible to it"
            )
        if any(NATIONAL_ID in str(event) for event in events):
            figures.fail(f"{who} feed: an event carries a national id")
        feeds[who] = set(ids)
    return feeds


async def _check_webhooks(
    client: httpx.AsyncClient,
    receiver: Receiver,
    paths: dict[str, str],
    feeds: dict[str, set[str]],
    pool: asyncpg.Pool,
    figures: Figures,
) -> None:
    """Wait until each subscription has every event of its feed, then compare."""
    deadline = time.monotonic() + _DRAIN_SECONDS
    while True:
        counts = await _counts(client, receiver)
        missing = {path: feeds[who] - set(counts.get(path, {})) for path, who in paths.items()}
        if not any(missing.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    for path, who in paths.items():
        received = {
            key: count for key, count in counts.get(path, {}).items() if not key.startswith("ping_")
        }
        figures.deliveries[who] = sum(received.values())
        figures.duplicates[who] = sum(received.values()) - len(received)
        unique = set(received)
        if missing[path]:
            figures.fail(f"{who} subscription: {len(missing[path])} events never arrived")
        unexpected = unique - feeds[who]
        if unexpected:
            figures.fail(f"{who} subscription: {len(unexpected)} events not in its feed")
    pending = await pool.fetchval(
        "SELECT count(*) FROM webhook_delivery WHERE status <> 'delivered'"
    )
    if pending:
        figures.fail(f"{pending} deliveries not recorded as delivered")


def _check_logs(cluster: Cluster, figures: Figures) -> None:
    for name in cluster.processes:
        text = cluster.log(name).read_text(errors="replace")
        if NATIONAL_ID in text:
            figures.fail(f"{name} log: carries a national id")
        figures.error_log_lines += sum(
            1
            for line in text.splitlines()
            if '"level": "error"' in line or '"level":"error"' in line or "Traceback" in line
        )


async def check(driver: Driver, receiver: Receiver, paths: dict[str, str], *, dsn: str) -> None:
    """After the load: the database, the feeds and the subscriptions against what was answered.
    The checks' own requests are not counted as the load's."""
    figures = driver.figures
    load_requests, load_answers = figures.requests, list(figures.answers)
    started = time.monotonic()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await _check_database(driver, pool)
        feeds = await _check_feeds(driver, pool)
        figures.seconds["checks"] = time.monotonic() - started
        started = time.monotonic()
        await _check_webhooks(driver.client, receiver, paths, feeds, pool, figures)
        figures.seconds["webhooks"] = time.monotonic() - started
    finally:
        await pool.close()
    figures.requests, figures.answers = load_requests, load_answers


@contextlib.contextmanager
def data_folder(name: str, figures: Figures, *, keep: bool) -> Iterator[Path]:
    """A temporary folder for the run, removed at the end unless an invariant failed or `keep`
    is set."""
    folder = Path(tempfile.mkdtemp(prefix=f"klageapi-{name}-"))
    try:
        yield folder
    finally:
        if figures.failures or keep:
            print(f"{name}: the data folder and logs are kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def embedded_database(folder: Path) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """The run's PostgreSQL, kept by this process so that killing the API never takes it down;
    yields it and its URL."""
    database = EmbeddedPostgres(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        url = database.start()
    try:
        yield database, url
    finally:
        database.stop()


@contextlib.asynccontextmanager
async def running(
    cluster: Cluster, receiver: Receiver, figures: Figures, names: tuple[str, ...], *, since: float
) -> AsyncIterator[None]:
    """The database migrated and the named processes started (seconds since `since` counted as
    the start); stopped on exit, and their logs checked after a run that ended normally."""
    try:
        await asyncio.to_thread(cluster.migrate)
        await receiver.wait_ready()
        for name in names:
            await cluster.start(name)
        figures.seconds["start"] = time.monotonic() - since
        yield
    finally:
        cluster.stop()
    _check_logs(cluster, figures)


def client_of(cluster: Cluster, *, concurrency: int, timeout: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency * 2, keepalive_expiry=2.0)
    return httpx.AsyncClient(base_url=cluster.base_url, timeout=timeout, limits=limits)


def report_checks(figures: Figures) -> None:
    """The lines of the checks after the load, as both scripts print them."""
    print(
        f"  stored: {figures.appeals} appeals, {figures.documents} documents;"
        f" lost {figures.lost} (goal 0), duplicated {figures.duplicated} (goal 0)"
    )
    if figures.blobs:
        print(
            f"  blobs on disk: {figures.blobs['referenced']} referenced,"
            f" {figures.blobs['unreferenced']} unreferenced,"
            f" {figures.blobs['partial']} partial in tmp/"
        )
    print(f"  events in feed: nav {figures.feed.get('nav', 0)}, sf {figures.feed.get('sf', 0)}")
    print(
        f"  deliveries: nav {figures.deliveries.get('nav', 0)}, sf"
        f" {figures.deliveries.get('sf', 0)}; duplicates before dedup: nav"
        f" {figures.duplicates.get('nav', 0)}, sf {figures.duplicates.get('sf', 0)};"
        f" after dedup by webhook-id: one of each event of the feed, nothing else"
        f" {'(held)' if not any('subscription' in f for f in figures.failures) else '(FAILED)'}"
    )


def report_end(figures: Figures) -> None:
    print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.seconds.items()))
    print(f"  error lines in the processes' logs: {figures.error_log_lines}")
    for failure in figures.failures[:30]:
        print(f"  FAILED: {failure}")
