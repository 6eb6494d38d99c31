"""Who sees what (issue 8): every route of the app by every principal that must not reach its
object, with the answer DESIGN.md promises and nothing stored or emitted by the refusal.

- An object the caller may not see is 404 with the thing's own `*_not_found` code, the same
  document (ids aside) as for an id that exists nowhere, so ids reveal nothing.
- No token or a bad one is 401 `unauthenticated` with `WWW-Authenticate`; a valid token without
  the scope the route needs is 403 `insufficient_scope`; an organisation on the citizen's view
  is 403 `citizen_token_required`.
- A list asked by someone who may not see the object answers 200 without it.
- Nothing is stored: the row count of every table of the models' metadata, the audit rows that
  name the object's appeal and the blob store's files are the same before and after (a list may
  audit the other appeals it shows, never the hidden one).
- The owner of the object is a column too: it reaches the object (neither 401, 403 nor 404), so
  a 404 elsewhere is about the principal, not about an id that does not exist.

The rows are keyed by the routes the app has: a route without a row fails
`test_every_route_of_the_app_has_a_row`, naming it.
"""

from __future__ import annotations

import enum
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from klageapi.api.app import create_app
from klageapi.core.auth import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE
from klageapi.core.clock import FixedClock
from klageapi.core.config import Settings
from tests.access_world import Objects, Snapshot, World, build_world, dev_auth, snapshot
from tests.conftest import (
    NAV_OSLO_ORG,
    NAV_STAVANGER_ORG,
    NOW,
    OTHER_ORG,
    SF_ROGALAND_ORG,
    DatabaseTemplate,
    TokenFactory,
    on_the_test_transaction,
)
from tests.factories import NATIONAL_ID, OTHER_NATIONAL_ID, appeal_body
from tests.journey import SF_OSLO_ORG, content_digest, pdf

Json = dict[str, Any]

ALL_SCOPES = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN})
READ = frozenset({SCOPE_READ})
WRITE = frozenset({SCOPE_WRITE})
ADMIN = frozenset({SCOPE_ADMIN})
READ_OR_ADMIN = frozenset({SCOPE_READ, SCOPE_ADMIN})
NONE: frozenset[str] = frozenset()


# --- The world, once per module, in a database and a data folder of its own --------------


@pytest.fixture(scope="module")
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """conftest's settings with a data folder of the module's own, so the blob store that every
    test lists twice holds the world's files only. The shared one holds what every test before
    stored (some 1,100 files by the time the matrix runs): listing it made a test of the matrix
    take some 170 ms instead of 30."""
    return settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("matrix-data")})


@pytest.fixture(scope="module")
async def world_database(
    database_template: DatabaseTemplate, settings: Settings
) -> AsyncIterator[tuple[AsyncEngine, World]]:
    """A scratch database, migrated and seeded, with the world built and committed; dropped
    at the end of the module."""
    async with database_template.copy(settings, prefix="matrix") as engine:
        builder = create_app(settings, engine=engine, clock=FixedClock(NOW))
        transport = httpx.ASGITransport(app=builder)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client,
            AsyncSession(engine, expire_on_commit=False) as session,
        ):
            world = await build_world(client, dev_auth(settings.data_dir), session)
            await session.commit()
        await builder.state.http_client.aclose()
        yield engine, world


@pytest.fixture(scope="module")
def engine(world_database: tuple[AsyncEngine, World]) -> AsyncEngine:
    """conftest's `engine`, replaced for this module: the world's database. Each test still
    runs in a transaction that is rolled back (conftest's `connection`, `session`, `app`)."""
    return world_database[0]


@pytest.fixture(scope="module")
def world(world_database: tuple[AsyncEngine, World]) -> World:
    return world_database[1]


# --- Principals ------------------------------------------------------------------------------


class Principal(enum.StrEnum):
    owner = "owner"
    """Control: the party the object is for (NAV Stavanger, or the Statsforvalter in Rogaland
    for its steps, an administrator for admin routes, the appellant for the citizen's view)."""
    nav_other_office = "nav_other_office"
    """NAV Oslo's organisation, with read and write."""
    sf_not_forwarded_to = "sf_not_forwarded_to"
    """The Statsforvalter in Oslo og Akershus: the appeal went to Rogaland."""
    sf_before_forwarding = "sf_before_forwarding"
    """Rogaland, on the appeal that NAV has not forwarded to it yet."""
    sf_rerouted_away = "sf_rerouted_away"
    """Rogaland, on the appeal it rejected as not_ours (re-routed to Vestland)."""
    citizen_not_appellant = "citizen_not_appellant"
    citizen_appellant = "citizen_appellant"
    """The appellant: its own appeal on the citizen's view, refused on organisation routes."""
    no_scope = "no_scope"
    """The owner's organisation with every scope but the one(s) the route needs."""
    bad_token = "bad_token"
    """The owner's token with another token's signature."""
    no_token = "no_token"


def _situation(principal: Principal, world: World) -> Objects:
    if principal is Principal.sf_before_forwarding:
        return world.unforwarded
    if principal is Principal.sf_rerouted_away:
        return world.rerouted
    return world.main


# --- Rows ------------------------------------------------------------------------------------


class Kind(enum.Enum):
    object = "object"
    """One thing by id (or registering for an office): hidden is 404."""
    collection = "collection"
    """A list or figures: hidden is 200 without it."""
    own = "own"
    """Creates the caller's own thing (a webhook subscription): any organisation may."""
    admin = "admin"
    citizen_object = "citizen_object"
    citizen_collection = "citizen_collection"
    public = "public"


class Party(enum.Enum):
    nav = "nav"
    statsforvalter = "statsforvalter"
    admin = "admin"
    citizen = "citizen"
    anyone = "anyone"


Body = Callable[[Objects, World], Any]


@dataclass(frozen=True)
class Row:
    kind: Kind
    party: Party
    scopes: frozenset[str]
    """Any one of these admits an organisation's token (empty: not a scope matter)."""
    not_found: str | None = None
    json: Body | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    upload: bool = False
    owner_sees: Callable[[World], str] | None = None
    """For a collection: an id the owner finds in the body (the control of the list)."""


def _nav(kind: Kind, scopes: frozenset[str], not_found: str | None = None, **rest: Any) -> Row:
    return Row(kind, Party.nav, scopes, not_found, **rest)


def _sf(not_found: str, **rest: Any) -> Row:
    return Row(Kind.object, Party.statsforvalter, WRITE, not_found, **rest)


_ADMIN_READ = Row(Kind.admin, Party.admin, ADMIN)
_PUBLIC = Row(Kind.public, Party.anyone, NONE)
_IF_MATCH = {"If-Match": '"1"'}  # stale for every appeal of the world: judged after visibility
_APPEAL = "appeal_not_found"
_PACKAGE = "package_not_found"
_SUBSCRIPTION = "webhook_subscription_not_found"


def _main_appeal(world: World) -> str:
    return world.main.appeal_id


ROWS: dict[tuple[str, str], Row] = {
    # Operators and the documentation: public.
    ("GET", "/healthz"): _PUBLIC,
    ("GET", "/readyz"): _PUBLIC,
    ("GET", "/metrics"): _PUBLIC,
    ("GET", "/openapi.json"): _PUBLIC,
    ("GET", "/docs"): _PUBLIC,
    ("GET", "/docs/oauth2-redirect"): _PUBLIC,
    ("GET", "/redoc"): _PUBLIC,
    # Appeals.
    ("POST", "/v1/appeals"): _nav(
        Kind.object,
        WRITE,
        "nav_office_not_found",
        json=lambda objects, world: appeal_body(),
    ),
    ("GET", "/v1/appeals"): _nav(Kind.collection, READ, owner_sees=_main_appeal),
    ("GET", "/v1/appeals/{appeal_id}"): _nav(Kind.object, READ, _APPEAL),
    ("GET", "/v1/appeals/{appeal_id}/history"): _nav(Kind.object, READ, _APPEAL),
    ("POST", "/v1/appeals/{appeal_id}/nav-review"): _nav(Kind.object, WRITE, _APPEAL),
    ("POST", "/v1/appeals/{appeal_id}/nav-outcome"): _nav(
        Kind.object,
        WRITE,
        _APPEAL,
        json=lambda o, w: {"outcome": "upheld", "decided_on": "2026-11-02", "reasoning": "Står."},
        headers=_IF_MATCH,
    ),
    ("POST", "/v1/appeals/{appeal_id}/withdrawal"): _nav(Kind.object, WRITE, _APPEAL),
    ("POST", "/v1/appeals/{appeal_id}/preliminary-replies"): _nav(
        Kind.object, WRITE, _APPEAL, json=lambda o, w: {"expected_decision_on": "2027-01-15"}
    ),
    # The registry and the audit log: administrators only.
    ("GET", "/v1/offices/nav"): _ADMIN_READ,
    ("GET", "/v1/offices/nav/{unit_number}"): _ADMIN_READ,
    ("PUT", "/v1/offices/nav/{unit_number}"): Row(
        Kind.admin,
        Party.admin,
        ADMIN,
        json=lambda o, w: {
            "name": "NAV Stavanger (demo)",
            "organisation_number": NAV_STAVANGER_ORG,
            "municipality_numbers": ["1103"],
        },
    ),
    ("GET", "/v1/offices/statsforvalter"): _ADMIN_READ,
    ("GET", "/v1/offices/statsforvalter/{office_id}"): _ADMIN_READ,
    ("PUT", "/v1/offices/statsforvalter/{office_id}"): Row(
        Kind.admin,
        Party.admin,
        ADMIN,
        json=lambda o, w: {
            "name": "Statsforvalteren i Rogaland",
            "organisation_number": SF_ROGALAND_ORG,
        },
    ),
    ("GET", "/v1/offices/routing"): _ADMIN_READ,
    ("PUT", "/v1/offices/routing/{county}"): Row(
        Kind.admin,
        Party.admin,
        ADMIN,
        json=lambda o, w: {"statsforvalter_office_id": "sf-rogaland"},
    ),
    ("GET", "/v1/audit-log"): _ADMIN_READ,
    # Documents.
    ("POST", "/v1/appeals/{appeal_id}/documents"): _nav(
        Kind.object,
        WRITE,
        _APPEAL,
        params={"category": "correspondence", "title": "Brev", "file_name": "brev.pdf"},
        upload=True,
    ),
    ("GET", "/v1/appeals/{appeal_id}/documents"): _nav(Kind.object, READ, _APPEAL),
    ("GET", "/v1/documents/{document_id}/content"): _nav(Kind.object, READ, "document_not_found"),
    # Packages and the Statsforvalter's steps.
    ("POST", "/v1/appeals/{appeal_id}/packages"): _nav(Kind.object, WRITE, _APPEAL),
    ("GET", "/v1/packages"): Row(
        Kind.collection,
        Party.statsforvalter,
        READ,
        owner_sees=lambda world: world.main.package_id or "",
    ),
    ("GET", "/v1/packages/{package_id}"): _nav(Kind.object, READ, _PACKAGE),
    ("GET", "/v1/packages/{package_id}/bundle"): _nav(Kind.object, READ, _PACKAGE),
    ("POST", "/v1/packages/{package_id}/receipt"): _sf(
        _PACKAGE, json=lambda o, w: {"statsforvalter_case_number": "2026/9999"}
    ),
    ("POST", "/v1/packages/{package_id}/rejection"): _sf(
        _PACKAGE, json=lambda o, w: {"reason": "incomplete", "description": "Vedtaket mangler."}
    ),
    ("POST", "/v1/appeals/{appeal_id}/statsforvalter-review"): _sf(_APPEAL),
    ("POST", "/v1/appeals/{appeal_id}/documentation-requests"): _sf(
        _APPEAL, json=lambda o, w: {"description": "Husleiekontrakten.", "due_on": "2026-11-30"}
    ),
    ("GET", "/v1/appeals/{appeal_id}/documentation-requests"): _nav(Kind.object, READ, _APPEAL),
    ("POST", "/v1/documentation-requests/{request_id}/fulfilment"): _nav(
        Kind.object,
        WRITE,
        "documentation_request_not_found",
        json=lambda objects, world: {"document_ids": [objects.document_ids[0]]},
    ),
    ("POST", "/v1/appeals/{appeal_id}/decision"): _sf(
        _APPEAL,
        json=lambda objects, world: {
            "outcome": "upheld",
            "decided_on": "2026-11-02",
            "document_id": objects.document_ids[0],
        },
        headers=_IF_MATCH,
    ),
    # Events.
    ("GET", "/v1/events"): _nav(
        Kind.collection, READ, params={"limit": "1000"}, owner_sees=_main_appeal
    ),
    # Webhook subscriptions: the owning organisation only.
    ("POST", "/v1/webhook-subscriptions"): _nav(
        Kind.own,
        WRITE,
        # Nothing listens there: the ping fails (422), which is as far as the test needs.
        json=lambda o, w: {"url": "http://127.0.0.1:9/hooks", "event_types": ["appeal.received"]},
    ),
    ("GET", "/v1/webhook-subscriptions"): _nav(
        Kind.collection, READ, owner_sees=lambda world: world.subscription_id
    ),
    # An operator's view across organisations: for administrators only.
    ("GET", "/v1/webhook-subscriptions/failing"): _ADMIN_READ,
    ("GET", "/v1/webhook-subscriptions/{subscription_id}"): _nav(Kind.object, READ, _SUBSCRIPTION),
    ("PATCH", "/v1/webhook-subscriptions/{subscription_id}"): _nav(
        Kind.object, WRITE, _SUBSCRIPTION, json=lambda o, w: {"enabled": False}
    ),
    ("DELETE", "/v1/webhook-subscriptions/{subscription_id}"): _nav(
        Kind.object, WRITE, _SUBSCRIPTION
    ),
    ("POST", "/v1/webhook-subscriptions/{subscription_id}/secret-rotation"): _nav(
        Kind.object, WRITE, _SUBSCRIPTION
    ),
    ("GET", "/v1/webhook-subscriptions/{subscription_id}/deliveries"): _nav(
        Kind.object, READ, _SUBSCRIPTION
    ),
    (
        "POST",
        "/v1/webhook-subscriptions/{subscription_id}/deliveries/{delivery_id}/redelivery",
    ): _nav(Kind.object, WRITE, _SUBSCRIPTION),
    ("POST", "/v1/webhook-subscriptions/{subscription_id}/replay"): _nav(
        Kind.object, WRITE, _SUBSCRIPTION, json=lambda o, w: {"since": "2026-10-25T00:00:00Z"}
    ),
    # The citizen's view.
    ("GET", "/v1/me/appeals"): Row(
        Kind.citizen_collection, Party.citizen, NONE, owner_sees=_main_appeal
    ),
    ("GET", "/v1/me/appeals/{appeal_id}"): Row(Kind.citizen_object, Party.citizen, NONE, _APPEAL),
    # The citizen's tasks and documents: the appellant's own appeal only.
    ("POST", "/v1/me/appeals/{appeal_id}/comments"): Row(
        Kind.citizen_object, Party.citizen, NONE, _APPEAL, json=lambda o, w: {"text": "Merknad."}
    ),
    (
        "POST",
        "/v1/me/appeals/{appeal_id}/documentation-requests/{request_id}/documents",
    ): Row(
        Kind.citizen_object,
        Party.citizen,
        NONE,
        _APPEAL,
        params={"title": "Kontrakt"},
        upload=True,
    ),
    ("POST", "/v1/me/appeals/{appeal_id}/documents"): Row(
        Kind.citizen_object,
        Party.citizen,
        NONE,
        _APPEAL,
        params={"title": "Vedlegg", "sender_reference": "matrix-1"},
        upload=True,
    ),
    ("POST", "/v1/me/appeals/{appeal_id}/withdrawal"): Row(
        Kind.citizen_object, Party.citizen, NONE, _APPEAL
    ),
    ("GET", "/v1/me/appeals/{appeal_id}/documents"): Row(
        Kind.citizen_object, Party.citizen, NONE, _APPEAL
    ),
    ("GET", "/v1/me/appeals/{appeal_id}/documents/{document_id}/content"): Row(
        Kind.citizen_object, Party.citizen, NONE, _APPEAL
    ),
    # The appeal deadline for a notification date: no personal data, any reader.
    ("GET", "/v1/appeal-deadlines"): _nav(
        Kind.collection, READ, params={"notified_on": "2026-11-02"}
    ),
    # Statistics: figures over the appeals the caller may see.
    ("GET", "/v1/statistics/processing-times"): _nav(
        Kind.collection, READ_OR_ADMIN, params={"from": "2026-01-01", "to": "2026-12-31"}
    ),
    # The report: the same figures as a page, for the statistics' own callers.
    ("GET", "/v1/statistics/report"): _nav(
        Kind.collection, READ_OR_ADMIN, params={"from": "2026-01-01", "to": "2026-12-31"}
    ),
}


# --- What each principal gets ----------------------------------------------------------------


@dataclass(frozen=True)
class Reaches:
    """Past authentication, scope and visibility: neither 401, 403 nor 404."""


@dataclass(frozen=True)
class Public:
    """200 whoever asks."""


@dataclass(frozen=True)
class Refused:
    status: int
    code: str


@dataclass(frozen=True)
class Hidden:
    """404 with `code`, as for an id that exists nowhere."""

    code: str


@dataclass(frozen=True)
class NotListed:
    """200, and nothing of the object in the body."""


Expected = Reaches | Public | Refused | Hidden | NotListed

_CITIZEN_KINDS = (Kind.citizen_object, Kind.citizen_collection)
_UNAUTHENTICATED = Refused(401, "unauthenticated")
_NO_SCOPE = Refused(403, "insufficient_scope")
_NOT_A_CITIZEN = Refused(403, "citizen_token_required")


def expected(row: Row, principal: Principal) -> Expected:
    """The answer DESIGN.md and README.md promise."""
    if row.kind is Kind.public:
        return Public()
    if principal in (Principal.no_token, Principal.bad_token):
        return _UNAUTHENTICATED
    if principal is Principal.owner:
        return Reaches()
    citizen_route = row.kind in _CITIZEN_KINDS
    if principal is Principal.no_scope:
        return _NOT_A_CITIZEN if citizen_route else _NO_SCOPE
    if principal is Principal.citizen_appellant:
        return Reaches() if citizen_route else _NO_SCOPE
    if principal is Principal.citizen_not_appellant:
        if row.kind is Kind.citizen_object:
            return Hidden(_APPEAL)
        return NotListed() if row.kind is Kind.citizen_collection else _NO_SCOPE
    # An organisation with read and write that may not reach the object.
    if citizen_route:
        return _NOT_A_CITIZEN
    if row.kind is Kind.admin:
        return _NO_SCOPE
    if row.kind is Kind.own:
        return Reaches()
    if row.kind is Kind.collection:
        return NotListed()
    assert row.not_found is not None
    return Hidden(row.not_found)


def _label(expectation: Expected) -> str:
    if isinstance(expectation, Refused):
        return f"{expectation.status}-{expectation.code}"
    if isinstance(expectation, Hidden):
        return f"404-{expectation.code}"
    return {Reaches: "reaches", Public: "200-public", NotListed: "200-not-listed"}[
        type(expectation)
    ]


def _cases() -> Iterator[Any]:
    for (method, path), row in ROWS.items():
        for principal in Principal:
            label = _label(expected(row, principal))
            yield pytest.param(
                method, path, principal, id=f"{method} {path} | {principal} | {label}"
            )


# --- Requests --------------------------------------------------------------------------------


def _owner_org(row: Row) -> str:
    return SF_ROGALAND_ORG if row.party is Party.statsforvalter else NAV_STAVANGER_ORG


def _headers(row: Row, principal: Principal, make_token: TokenFactory) -> dict[str, str]:
    read_write = f"{SCOPE_READ} {SCOPE_WRITE}"

    def org(number: str, scopes: str = read_write) -> str:
        return make_token(org=number, scope=scopes)

    def citizen(pid: str) -> str:
        return make_token(org=None, scope=None, pid=pid, acr="idporten-loa-high")

    def owner() -> str:
        if row.party is Party.citizen:
            return citizen(NATIONAL_ID)
        if row.party is Party.admin:
            return org(NAV_STAVANGER_ORG, SCOPE_ADMIN)
        return org(_owner_org(row))

    tokens: dict[Principal, Callable[[], str]] = {
        Principal.owner: owner,
        Principal.nav_other_office: lambda: org(NAV_OSLO_ORG),
        Principal.sf_not_forwarded_to: lambda: org(SF_OSLO_ORG),
        Principal.sf_before_forwarding: lambda: org(SF_ROGALAND_ORG),
        Principal.sf_rerouted_away: lambda: org(SF_ROGALAND_ORG),
        Principal.citizen_not_appellant: lambda: citizen(OTHER_NATIONAL_ID),
        Principal.citizen_appellant: lambda: citizen(NATIONAL_ID),
        Principal.no_scope: lambda: org(_owner_org(row), " ".join(sorted(ALL_SCOPES - row.scopes))),
        Principal.bad_token: lambda: _with_foreign_signature(owner(), org(OTHER_ORG)),
    }
    if principal is Principal.no_token:
        return {}
    return {"Authorization": f"Bearer {tokens[principal]()}"}


def _with_foreign_signature(token: str, other: str) -> str:
    return token.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]


_PATH_PARAMETER = re.compile(r"{(\w+)}")
_UUID_PARAMETERS = frozenset(
    {"appeal_id", "document_id", "package_id", "request_id", "subscription_id", "delivery_id"}
)


def _path_values(objects: Objects, world: World) -> dict[str, str]:
    return {
        "appeal_id": objects.appeal_id,
        "document_id": objects.document_ids[0],
        # No package or request exists yet in this state: an id that exists nowhere.
        "package_id": objects.package_id or str(uuid.uuid4()),
        "request_id": objects.request_id or str(uuid.uuid4()),
        "subscription_id": world.subscription_id,
        "delivery_id": world.delivery_id,
        "unit_number": "1103",
        "office_id": "sf-rogaland",
        "county": "11",
    }


async def _send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    row: Row,
    values: dict[str, str],
    objects: Objects,
    world: World,
    headers: dict[str, str],
) -> httpx.Response:
    url = _PATH_PARAMETER.sub(lambda match: values[match.group(1)], path)
    headers = {**headers, **row.headers}
    if method == "POST":
        headers["Idempotency-Key"] = f"matrix-{uuid.uuid4()}"
    content: bytes | None = None
    if row.upload:
        content = pdf()
        headers |= {"Content-Type": "application/pdf", "Content-Digest": content_digest(content)}
    body = row.json(objects, world) if row.json is not None else None
    return await client.request(
        method, url, params=row.params, json=body, content=content, headers=headers
    )


# --- Checks ----------------------------------------------------------------------------------


def _problem(response: httpx.Response, status: int, code: str) -> Json:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: Json = response.json()
    assert (problem["status"], problem["code"]) == (status, code), problem
    if status == 401:
        assert "www-authenticate" in response.headers
    return problem


def _without_ids(problem: Json, ids: set[str]) -> str:
    kept = {key: value for key, value in problem.items() if key not in ("request_id", "instance")}
    shown = json.dumps(kept, sort_keys=True)
    for value in ids:
        shown = shown.replace(value, "<id>")
    return shown


def _hidden_ids(principal: Principal, objects: Objects, world: World) -> set[str]:
    if principal is Principal.citizen_not_appellant:
        return objects.ids()
    return objects.ids() | world.webhook_ids


def _check_not_listed(
    response: httpx.Response, path: str, principal: Principal, objects: Objects, world: World
) -> None:
    assert response.status_code == 200, response.text
    body = response.text
    hidden = _hidden_ids(principal, objects, world)
    if path == "/v1/events" and principal is Principal.sf_rerouted_away:
        # The events Rogaland was sent while the appeal was its stay in its feed (they carry
        # no personal data, and a consumer paging the feed must not find them vanish), and
        # the re-route's rejection reaches it; nothing recorded after the re-route is shown.
        items = response.json()["items"]
        of_appeal = {i["id"] for i in items if i["appeal_id"] == objects.appeal_id}
        assert of_appeal <= world.rerouted_events_seen_at_rogaland, of_appeal
        hidden = hidden - {objects.appeal_id, objects.package_id or ""}
    leaked = sorted(value for value in hidden if value in body)
    assert not leaked, f"{path} shows {leaked} to {principal}"
    # Of the world's three appeals (all the same citizen's, received in 2026), Rogaland may
    # see the one forwarded to it and kept there; the others see none.
    sees_main = principal in (Principal.sf_before_forwarding, Principal.sf_rerouted_away)
    assert sees_main or NATIONAL_ID not in body
    if path == "/v1/statistics/processing-times":
        assert response.json()["total"]["received"]["appeals"] == int(sees_main), body


def _check_unchanged(before: Snapshot, after: Snapshot, *, listing: bool) -> None:
    if listing:
        # A list audits the appeals it shows: the audit log may grow, never for the hidden one.
        before_tables = {k: v for k, v in before.tables.items() if k != "audit_log"}
        after_tables = {k: v for k, v in after.tables.items() if k != "audit_log"}
    else:
        before_tables, after_tables = before.tables, after.tables
    changed = {
        table: (before_tables[table], after_tables.get(table))
        for table in before_tables
        if before_tables[table] != after_tables.get(table)
    }
    assert not changed, f"rows stored by a refused request: {changed}"
    assert after.audit_rows_naming == before.audit_rows_naming, "the hidden appeal was audited"
    assert after.blobs == before.blobs, "a refused request left files in the blob store"


@pytest.fixture(scope="module")
async def shared_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """One app for the module: building one (its HTTP client's TLS context above all) costs
    more than most of the matrix's requests."""
    app = create_app(settings, engine=engine, clock=FixedClock(NOW))
    yield app
    await app.state.http_client.aclose()


@pytest.fixture
def app(shared_app: FastAPI, session: AsyncSession) -> FastAPI:
    """conftest's `app`, on the module's one app: each request in a savepoint of the test's
    transaction, which is rolled back."""

    on_the_test_transaction(shared_app, session)
    return shared_app


@pytest.fixture
def blob_root(app: FastAPI) -> Path:
    root: Path = app.state.blob_store.root
    return root


@pytest.mark.parametrize(("method", "path", "principal"), list(_cases()))
async def test_access(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_token: TokenFactory,
    world: World,
    blob_root: Path,
    method: str,
    path: str,
    principal: Principal,
) -> None:
    row = ROWS[(method, path)]
    expectation = expected(row, principal)
    objects = _situation(principal, world)
    values = _path_values(objects, world)
    headers = _headers(row, principal, make_token)
    appeal_ids = {objects.appeal_id}
    before = await snapshot(session, appeal_ids=appeal_ids, blob_root=blob_root)

    response = await _send(client, method, path, row, values, objects, world, headers)

    assert response.status_code < 500, response.text
    after = await snapshot(session, appeal_ids=appeal_ids, blob_root=blob_root)
    if isinstance(expectation, Reaches):
        assert response.status_code not in (401, 403, 404), response.text
        if row.owner_sees is not None and principal is Principal.owner:
            assert response.status_code == 200, response.text
            assert row.owner_sees(world) in response.text
        return
    if isinstance(expectation, Public):
        assert response.status_code == 200, response.text
        _check_unchanged(before, after, listing=False)
        return
    if isinstance(expectation, NotListed):
        _check_not_listed(response, path, principal, objects, world)
        _check_unchanged(before, after, listing=True)
        return
    assert NATIONAL_ID not in response.text
    if isinstance(expectation, Refused):
        _problem(response, expectation.status, expectation.code)
        _check_unchanged(before, after, listing=False)
        return
    problem = _problem(response, 404, expectation.code)
    _check_unchanged(before, after, listing=False)
    # The same answer, ids aside, as for ids that exist nowhere: the 404 tells nothing.
    fresh = {
        name: str(uuid.uuid4()) if name in _UUID_PARAMETERS else value
        for name, value in values.items()
    }
    if fresh.keys() & set(_PATH_PARAMETER.findall(path)) & _UUID_PARAMETERS:
        nowhere = await _send(client, method, path, row, fresh, objects, world, headers)
        ids = {values[name] for name in _UUID_PARAMETERS} | {fresh[n] for n in _UUID_PARAMETERS}
        assert _without_ids(problem, ids) == _without_ids(
            _problem(nowhere, 404, expectation.code), ids
        )


def _app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every method and path the app answers (HEAD aside: it follows GET)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path, methods = route.path, route.methods
        if path is None or not methods:
            continue
        found |= {(method, path) for method in methods if method != "HEAD"}
    return found


def test_every_route_of_the_app_has_a_row(app: FastAPI) -> None:
    missing = sorted(_app_routes(app) - ROWS.keys())
    assert not missing, "routes without a row in the access matrix: " + ", ".join(
        f"{method} {path}" for method, path in missing
    )


def test_every_row_is_a_route_of_the_app(app: FastAPI) -> None:
    stale = sorted(ROWS.keys() - _app_routes(app))
    assert not stale, "rows for routes the app does not have: " + ", ".join(
        f"{method} {path}" for method, path in stale
    )
