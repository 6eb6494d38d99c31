"""Fuzzing over the contract: schemathesis generates requests from the committed OpenAPI
document and sends them, with a token of each kind, to the app served by uvicorn on loopback
over a committed scratch database. Every answer must be one the document declares (status,
content type, headers, schema), none a 5xx, and every 4xx an RFC 9457 problem with our `code`.

Each generated case is sent by all four kinds of caller (NAV, Statsforvalter, admin, citizen).
KLAGEAPI_FUZZ_EXAMPLES sets the cases per operation and mode, positive and negative (default 8:
about 3,600 requests in half a minute); KLAGEAPI_FUZZ_SEED the seed (default fixed,
so CI is repeatable; `random` for a new one each run).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import pkgutil
import queue
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import ignored_auth

from tests import journey
from tests.conftest import (
    NAV_STAVANGER_ORG,
    SF_ROGALAND_ORG,
    CommittedApp,
    TokenFactory,
    loopback_listener,
)
from tests.factories import NATIONAL_ID
from tests.journey import AuthHeaders
from tests.webhook.conftest import Receiver, make_dispatcher

OPENAPI_DOCUMENT = Path(__file__).parents[2] / "openapi" / "openapi.json"
DEFAULT_EXAMPLES = 8
EXAMPLES = int(os.environ.get("KLAGEAPI_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
SEED = os.environ.get("KLAGEAPI_FUZZ_SEED", "20261102")
MINIMUM_REQUESTS = 2_000
# Operations whose refusal of a missing and of an invalid token is confirmed by the probes (35
# of 56 at the default seed and examples: the rest never answered a 2xx to a generated case).
MINIMUM_AUTH_CONFIRMED = 30
SENDERS = 3  # threads sending; one more draws the cases
ADMIN_ORG = "955555551"  # an operator's organisation: not in the registry, only the admin scope
TOKEN_KEPT_SECONDS = 300

PROBLEM_JSON = "application/problem+json"


# --- the callers -----------------------------------------------------------------------------


def _callers(make_token: TokenFactory) -> dict[str, Callable[[], str]]:
    """A token of each kind on demand, as a client holds one: the same until it is five
    minutes old, then a new one (a long run outlives a token's ten minutes). A new token for
    every request signed 3,500 tokens a run and had the app check each signature."""
    kinds: dict[str, Callable[[], str]] = {
        "nav": lambda: make_token(org=NAV_STAVANGER_ORG),
        "statsforvalter": lambda: make_token(org=SF_ROGALAND_ORG),
        "admin": lambda: make_token(org=ADMIN_ORG, scope="klageapi:admin"),
        "citizen": lambda: make_token(
            org=None, scope=None, pid=NATIONAL_ID, acr="idporten-loa-high"
        ),
    }
    return {kind: _held(mint) for kind, mint in kinds.items()}


def _held(mint: Callable[[], str]) -> Callable[[], str]:
    minted_at, token = 0.0, ""

    def current() -> str:
        nonlocal minted_at, token
        if time.monotonic() - minted_at > TOKEN_KEPT_SECONDS:
            minted_at, token = time.monotonic(), mint()
        return token

    return current


# --- the checks beyond schemathesis' own -----------------------------------------------------


def problem_document(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every refusal is an RFC 9457 problem document with our stable `code`."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"a {response.status_code} as {content_type!r}, not {PROBLEM_JSON}"
    )
    problem = json.loads(response.content)
    assert isinstance(problem, dict), "the problem document is not a JSON object"
    for name, kind in (("type", str), ("title", str), ("status", int), ("code", str)):
        assert isinstance(problem.get(name), kind), f"the problem has no {kind.__name__} {name!r}"
    assert problem["status"] == response.status_code, "the problem's status is not the response's"
    assert problem["code"].replace("_", "").isalnum(), f"an unstable code {problem['code']!r}"
    return True


def _auth_confirmed_once(confirmed: set[str]) -> Callable[[CheckContext, Response, Case], Any]:
    """schemathesis' `ignored_auth` as its own runner makes it: an operation whose refusal of a
    missing and of an invalid token is confirmed (two probes after a 2xx) is not probed again in
    the run. Called case by case, as here, it keeps no such record and probed after every 2xx
    answer of every caller: some 500 requests more, and 8 s, in a run of 3,600."""

    def check(ctx: CheckContext, response: Response, case: Case) -> bool | None:
        ctx.auth_enforced_operations = confirmed
        return ignored_auth(ctx, response, case)

    return check


def _config() -> schemathesis.Config:
    """schemathesis' default checks, all of them. A request valid by the schema may still be
    refused for rules a JSON schema cannot say: 422 (check digits, dates in order, an office
    that exists, a webhook URL that answers its ping), 412/428 (If-Match), 416 (a Range past
    the end), 400 (an opaque cursor that is not one of ours)."""
    accepted = ["2xx", "3xx", "400", "401", "403", "404", "409", "412", "416", "422", "428", "429"]
    # An invalid body with a stale If-Match is 412: preconditions come before the content
    # (RFC 9110, 13.2.1).
    rejected = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429"]
    return schemathesis.Config.from_dict(
        {
            # The API ignores query parameters and headers it does not know (as HTTP APIs
            # commonly do), so a request made invalid only by an extra one is not refused.
            "generation": {"allow-extra-parameters": False},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": accepted},
                "negative_data_rejection": {"expected-statuses": rejected},
            },
        }
    )


# --- the app on loopback ---------------------------------------------------------------------


@dataclass
class Served:
    base_url: str
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> None:
        with self._lock:
            self.requests += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1


@contextlib.asynccontextmanager
async def _served(track: CommittedApp) -> AsyncIterator[Served]:
    """The race track's app behind uvicorn on a free loopback port, counting what it answers."""
    sock = loopback_listener()
    served = Served(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}")

    async def counting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def counted_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                served.count(message["status"])
            await send(message)

        await track.app(scope, receive, counted_send)

    config = uvicorn.Config(
        counting, lifespan="off", log_level="warning", access_log=False, timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield served
    finally:
        server.should_exit = True
        await task


# --- seeding ---------------------------------------------------------------------------------


async def _seed(track: CommittedApp, auth: AuthHeaders, receiver: Receiver) -> dict[str, list[str]]:
    """Real objects in each state for path parameters to hit: id pools by parameter name."""
    client = track.client
    sub = await client.post(
        "/v1/webhook-subscriptions",
        json={"url": receiver.url, "event_types": ["appeal.received", "appeal.status_changed"]},
        headers=auth(),
    )
    assert sub.status_code == 201, sub.text
    registered = await journey.register(client, auth)
    reviewed, documents = await journey.ready_to_forward(client, auth)
    forwarded, _, package = await journey.forwarded(client, auth)
    working, _, received = await journey.under_statsforvalter_review(client, auth)
    waiting, _, _ = await journey.under_statsforvalter_review(client, auth)
    request = await journey.request_documentation(client, auth, waiting["id"])
    await make_dispatcher(track).drain()
    deliveries = await client.get(
        f"/v1/webhook-subscriptions/{sub.json()['id']}/deliveries", headers=auth()
    )
    delivery_ids = [d["id"] for d in deliveries.json()["items"]]
    assert delivery_ids, deliveries.text
    appeals = [registered, reviewed, forwarded, working, waiting]
    return {
        "appeal_id": [a["id"] for a in appeals],
        "document_id": [d["id"] for d in documents],
        "package_id": [package["id"], received["id"]],
        "request_id": [request["id"]],
        "subscription_id": [sub.json()["id"]],
        "delivery_id": delivery_ids[:3],
        "unit_number": ["1103", "0301"],
        "office_id": ["sf-rogaland", "sf-oslo-akershus-ostfold-buskerud"],
        "county": ["11", "03"],
    }


# --- generation ------------------------------------------------------------------------------


def _strategy(
    operation: schemathesis.APIOperation, mode: GenerationMode, known: dict[str, list[str]]
) -> st.SearchStrategy[Case]:
    """Generated cases, half of them with their path parameters on seeded objects."""
    generated = operation.as_strategy(mode)
    names = [p.name for p in operation.path_parameters]
    if not names or not all(name in known for name in names):
        return generated
    pools = [dict(zip(names, values, strict=True)) for values in _combinations(names, known)]
    seeded = st.one_of([operation.as_strategy(mode, path_parameters=p) for p in pools])
    return st.one_of(generated, seeded)


def _combinations(names: list[str], known: dict[str, list[str]]) -> list[tuple[str, ...]]:
    combos: list[tuple[str, ...]] = [()]
    for name in names:
        combos = [(*combo, value) for combo in combos for value in known[name]]
    return combos


def _negatable(operation: schemathesis.APIOperation) -> bool:
    """Whether there is anything to make invalid: a parameter or a body."""
    return bool(list(operation.iter_parameters())) or bool(operation.body)


def _keep_webhooks_local(case: Case, receiver_root: str) -> None:
    """A webhook URL is pinged when a subscription is made or changed: one whose host would be
    looked up or reached (a name, a public address) is pointed at the loopback receiver, keeping
    its path (under the receiver's root), so the fuzzer never sends anything off this machine. A
    URL the app must refuse before any lookup (no host, a bad port or bracket, a host with no
    IDNA form) is sent as generated."""
    if not isinstance(case.body, dict) or not isinstance(case.body.get("url"), str):
        return
    url: str = case.body["url"]
    try:
        parts = urlsplit(url)
        _ = parts.port
        host = parts.hostname
    except ValueError:
        return
    if not host or host in ("127.0.0.1", "::1"):
        return
    try:
        host.encode("idna")
    except UnicodeError:
        return  # no IDNA form: the lookup fails before it is sent
    root = urlsplit(receiver_root)
    case.body["url"] = parts._replace(netloc=root.netloc, path=root.path + parts.path).geturl()


def _described(failure: BaseException) -> str:
    """schemathesis' report (the failed checks, the answer, a curl line); for anything else,
    such as hypothesis' flaky replay, each exception with its traceback."""
    if isinstance(failure, FailureGroup):
        return str(failure) + "".join(f"\n{note}" for note in getattr(failure, "__notes__", []))
    return "".join(traceback.format_exception(failure))


@dataclass
class Findings:
    """The first failure of each operation and mode, and how many cases failed in all."""

    failures: dict[str, str] = field(default_factory=dict)
    failed_cases: int = 0
    cases: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self) -> None:
        with self._lock:
            self.cases += 1

    def failed(self, label: str, failure: BaseException) -> None:
        with self._lock:
            self.failed_cases += 1
            self.failures.setdefault(label, _described(failure))


Job = tuple[str, Case, list[str]]
_DONE = None


def _enqueue(label: str, jobs: queue.Queue[Job | None]) -> Callable[[Case, list[str]], None]:
    def enqueue(case: Case, order: list[str]) -> None:
        jobs.put((label, case, order))

    return enqueue


def _import_all(package: ModuleType) -> None:
    """schemathesis imports many modules lazily, inside its checks. Two threads importing at
    once can see a module half made, and on Python 3.11 two threads compiling at once (pytest
    rewrites the asserts of plugin modules) can fail: the senders find everything imported."""
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        with contextlib.suppress(ImportError):  # optional extras (allure)
            importlib.import_module(module.name)


def _generate(
    operations: list[schemathesis.APIOperation],
    known: dict[str, list[str]],
    kinds: list[str],
    jobs: queue.Queue[Job | None],
    senders: int,
) -> None:
    """Each operation's cases, positive and negative, onto the queue as they are drawn. Only
    this thread draws: hypothesis' source inspection is not safe across threads on 3.11."""
    seed = None if SEED == "random" else int(SEED)
    try:
        for operation in operations:
            modes = [GenerationMode.POSITIVE]
            if _negatable(operation):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                label = f"{operation.label} ({mode.value})"

                draw = hypothesis.given(
                    case=_strategy(operation, mode, known), order=st.permutations(kinds)
                )(_enqueue(label, jobs))
                draw = hypothesis.settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )(draw)
                (draw if seed is None else hypothesis.seed(seed)(draw))()
    finally:
        for _ in range(senders):
            jobs.put(_DONE)


def _send(
    jobs: queue.Queue[Job | None],
    served: Served,
    callers: dict[str, Callable[[], str]],
    receiver_root: str,
    findings: Findings,
    confirmed: set[str],
) -> None:
    """Send each case from every kind of caller, in its drawn order (one caller's step changes
    what the next finds), and check each answer."""
    checks = [problem_document, _auth_confirmed_once(confirmed)]
    with requests.Session() as session:
        while (job := jobs.get()) is not _DONE:
            label, case, order = job
            _keep_webhooks_local(case, receiver_root)
            findings.sent()
            for caller in order:
                try:
                    case.call_and_validate(
                        base_url=served.base_url,
                        session=session,
                        headers={"Authorization": f"Bearer {callers[caller]()}"},
                        additional_checks=checks,
                        excluded_checks=[ignored_auth],
                        timeout=30,
                    )
                except (Exception, BaseExceptionGroup) as failure:
                    failure.add_note(f"sent with the token of the {caller} caller")
                    findings.failed(label, failure)
                    break


def _bearer_for_schemathesis() -> dict[str, Any]:
    """The committed document, its OAuth2 requirements also named as what they are on the wire,
    an HTTP bearer token: schemathesis checks that authentication is not ignored only for `http`
    and `apiKey` schemes, and the contract's Maskinporten and ID-porten schemes are OAuth2."""
    document: dict[str, Any] = json.loads(OPENAPI_DOCUMENT.read_text(encoding="utf-8"))
    document["components"]["securitySchemes"]["bearer"] = {"type": "http", "scheme": "bearer"}
    for operations in document["paths"].values():
        for operation in operations.values():
            for requirement in operation.get("security", []):
                requirement["bearer"] = []
    return document


async def test_the_app_keeps_its_contract_under_generated_requests(
    race_track: CommittedApp,
    auth: AuthHeaders,
    make_token: TokenFactory,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    known = await _seed(race_track, auth, receiver)
    _import_all(schemathesis)
    callers = _callers(make_token)
    schema = schemathesis.openapi.from_dict(_bearer_for_schemathesis(), config=_config())
    started = time.monotonic()
    findings = Findings()
    jobs: queue.Queue[Job | None] = queue.Queue()
    operations = [result.ok() for result in schema.get_all_operations()]
    auth_confirmed: set[str] = set()  # shared by the senders, as the runner's is by its workers
    async with _served(race_track) as served:
        # One thread draws; the senders' requests overlap the drawing, the app's work and
        # PostgreSQL's.
        await asyncio.gather(
            asyncio.to_thread(_generate, operations, known, sorted(callers), jobs, SENDERS),
            *(
                asyncio.to_thread(
                    _send, jobs, served, callers, receiver.root, findings, auth_confirmed
                )
                for _ in range(SENDERS)
            ),
        )
    took = time.monotonic() - started
    with capsys.disabled():  # the figures show in every run, not only a failing one
        print(
            f"\nfuzz: {served.requests} requests from {findings.cases} generated cases"
            f" in {took:.0f} s; statuses {dict(sorted(served.statuses.items()))};"
            f" {findings.failed_cases} failing cases in {len(findings.failures)} operations;"
            f" authentication confirmed enforced on {len(auth_confirmed)} operations"
        )
    report = "\n\n".join(f"== {label}\n{text}" for label, text in findings.failures.items())
    assert not findings.failures, report
    # Scaled for a shorter run by hand; the default run must send at least 2,000.
    assert served.requests >= MINIMUM_REQUESTS * EXAMPLES // DEFAULT_EXAMPLES, served.requests
    if EXAMPLES >= DEFAULT_EXAMPLES:  # the probes ran, once per operation, not never
        assert len(auth_confirmed) >= MINIMUM_AUTH_CONFIRMED, sorted(auth_confirmed)
