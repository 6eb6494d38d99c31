"""Bearer token authentication: which tokens are refused (401), which lack rights (403), and
how an issuer's keys are fetched from its JWKS URL."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from klageapi.api.app import create_app
from klageapi.core import auth as auth_module
from klageapi.core.auth import Citizen, Organisation, TokenVerifier
from klageapi.core.clock import FixedClock
from klageapi.core.config import IssuerSettings, Settings
from klageapi.core.dev_issuer import DevIssuer
from klageapi.core.errors import Unauthenticated
from klageapi.core.schemas import PROBLEM_MEDIA_TYPE
from klageapi.models import Appeal, AuditEntry
from tests.conftest import (
    NAV_STAVANGER_ORG,
    TEST_AUDIENCE,
    TEST_ISSUER,
    TokenFactory,
    on_the_test_transaction,
)
from tests.factories import NATIONAL_ID, appeal_body, count, make_appeal

AuthHeaders = Callable[..., dict[str, str]]

SUPPLIER_ORG = "923456783"
JWKS_ISSUER = "https://maskinporten.test"
JWKS_URL = "https://maskinporten.test/jwk"


def _now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> tuple[str, str]:
    """The first two parts of a compact JWT, built by hand."""
    return _b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode())


def _claims(**overrides: Any) -> dict[str, Any]:
    now = _now()
    claims: dict[str, Any] = {
        "iss": TEST_ISSUER,
        "aud": TEST_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "scope": "klageapi:read",
        "consumer": {"authority": "iso6523-actorid-upis", "ID": f"0192:{NAV_STAVANGER_ORG}"},
    }
    claims.update(overrides)
    return claims


async def _get_some_appeal(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get(f"/v1/appeals/{uuid.uuid4()}", headers=headers)


def _assert_unauthenticated(
    response: httpx.Response, *, error: str | None = "invalid_token"
) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["code"] == "unauthenticated"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    if error is None:  # RFC 6750 section 3.1: no error code when credentials are missing
        assert "error=" not in challenge
    else:
        assert f'error="{error}"' in challenge


def _assert_insufficient_scope(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["code"] == "insufficient_scope"
    assert problem["required_scope"] == scope
    assert f'scope="{scope}"' in response.headers["www-authenticate"]


@pytest.fixture(scope="module")
def stranger_key() -> RSAKey:
    """A key nobody configured klageapi to trust."""
    return RSAKey.generate_key(2048, auto_kid=True)


# --- The baseline: a good token passes ---------------------------------------------------------


async def test_valid_token_passes_authentication(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await _get_some_appeal(client, auth(scope="klageapi:read"))

    # Past authentication and authorisation: the (random) appeal is simply not there.
    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"


# --- 401: no token, or a token that is refused -------------------------------------------------


async def test_missing_token_is_refused_with_a_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await _get_some_appeal(client, {})

    _assert_unauthenticated(response, error=None)
    assert response.json()["status"] == 401
    assert 'realm="klageapi"' in response.headers["www-authenticate"]


async def test_basic_credentials_are_refused_as_a_missing_token(
    client: httpx.AsyncClient,
) -> None:
    response = await _get_some_appeal(client, {"Authorization": "Basic a2xhZ2U6YXBp"})

    _assert_unauthenticated(response, error=None)


async def test_missing_token_on_an_admin_endpoint_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/offices/nav")

    _assert_unauthenticated(response, error=None)


@pytest.mark.parametrize(
    "garbage",
    ["not-a-jwt", "a.b.c", "e30.e30.", "W10.e30.c2ln", "x" * 100 + "." + "y" * 20_000 + ".z"],
    ids=["no-dots", "not-base64-json", "empty-objects", "header-not-an-object", "too-long"],
)
async def test_garbage_token_is_refused(client: httpx.AsyncClient, garbage: str) -> None:
    response = await _get_some_appeal(client, _bearer(garbage))

    _assert_unauthenticated(response)


async def test_token_signed_by_an_untrusted_key_is_refused(
    client: httpx.AsyncClient, stranger_key: RSAKey
) -> None:
    token = jwt.encode({"alg": "RS256", "kid": stranger_key.kid}, _claims(), stranger_key)

    response = await _get_some_appeal(client, _bearer(token))

    _assert_unauthenticated(response)


async def test_token_signed_by_another_key_under_the_trusted_kid_is_refused(
    client: httpx.AsyncClient, stranger_key: RSAKey, signing_key: RSAKey
) -> None:
    token = jwt.encode({"alg": "RS256", "kid": signing_key.kid}, _claims(), stranger_key)

    response = await _get_some_appeal(client, _bearer(token))

    _assert_unauthenticated(response)


async def test_token_with_tampered_claims_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    header, _payload, signature = make_token(scope="klageapi:read").split(".")
    _, admin_payload = _unsigned({}, _claims(scope="klageapi:read klageapi:admin"))

    response = await client.get(
        "/v1/offices/nav", headers=_bearer(f"{header}.{admin_payload}.{signature}")
    )

    _assert_unauthenticated(response)


async def test_token_from_an_untrusted_issuer_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(iss="https://evil.example")))

    _assert_unauthenticated(response)
    assert "issuer" in response.json()["detail"]


async def test_token_for_another_audience_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(aud="another-api")))

    _assert_unauthenticated(response)


async def test_token_without_audience_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(aud=None)))

    _assert_unauthenticated(response)


async def test_token_whose_audiences_include_klageapi_is_accepted(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(scope="klageapi:read", aud=["another-api", TEST_AUDIENCE])

    response = await _get_some_appeal(client, _bearer(token))

    assert response.status_code == 404


async def test_token_expired_beyond_the_leeway_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(iat=_now() - 700, exp=_now() - 60)

    response = await _get_some_appeal(client, _bearer(token))

    _assert_unauthenticated(response)
    assert "expired" in response.json()["detail"]


async def test_token_expired_within_the_leeway_is_accepted(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(scope="klageapi:read", iat=_now() - 700, exp=_now() - 10)

    response = await _get_some_appeal(client, _bearer(token))

    assert response.status_code == 404


async def test_token_without_expiry_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(exp=None)))

    _assert_unauthenticated(response)


async def test_token_not_yet_valid_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(nbf=_now() + 120)))

    _assert_unauthenticated(response)


async def test_token_valid_from_within_the_leeway_is_accepted(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(scope="klageapi:read", nbf=_now() + 10)

    response = await _get_some_appeal(client, _bearer(token))

    assert response.status_code == 404


async def test_token_issued_in_the_future_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(iat=_now() + 300)))

    _assert_unauthenticated(response)


async def test_unsigned_token_with_alg_none_is_refused(
    client: httpx.AsyncClient, signing_key: RSAKey
) -> None:
    header, payload = _unsigned({"alg": "none", "kid": signing_key.kid}, _claims())

    response = await _get_some_appeal(client, _bearer(f"{header}.{payload}."))

    _assert_unauthenticated(response)


async def test_hs256_token_keyed_with_the_public_key_is_refused(
    client: httpx.AsyncClient, signing_key: RSAKey
) -> None:
    # The classic algorithm confusion: an HMAC keyed with the issuer's public key.
    header, payload = _unsigned({"alg": "HS256", "kid": signing_key.kid}, _claims())
    secret = signing_key.as_pem(private=False)
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()

    response = await _get_some_appeal(client, _bearer(f"{header}.{payload}.{_b64(signature)}"))

    _assert_unauthenticated(response)
    assert "algorithm" in response.json()["detail"]


async def test_token_naming_no_organisation_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(org=None)))

    _assert_unauthenticated(response)


async def test_token_whose_consumer_is_not_an_organisation_number_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    consumer = {"authority": "iso6523-actorid-upis", "ID": f"0088:{NAV_STAVANGER_ORG}"}

    response = await _get_some_appeal(client, _bearer(make_token(consumer=consumer)))

    _assert_unauthenticated(response)


# --- 403: a valid token without the right --------------------------------------------------------


async def test_read_only_token_cannot_register_an_appeal(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    response = await client.post(
        "/v1/appeals", json=appeal_body(), headers=auth(scope="klageapi:read")
    )

    _assert_insufficient_scope(response, "klageapi:write")
    assert await count(session, Appeal) == 0


async def test_token_without_any_scope_cannot_read(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    response = await _get_some_appeal(client, _bearer(make_token(scope=None)))

    _assert_insufficient_scope(response, "klageapi:read")


async def test_non_admin_cannot_list_nav_offices(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get(
        "/v1/offices/nav", headers=auth(scope="klageapi:read klageapi:write")
    )

    _assert_insufficient_scope(response, "klageapi:admin")


async def test_scope_must_match_exactly(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    response = await client.get("/v1/offices/nav", headers=auth(scope="klageapi:administrator"))

    _assert_insufficient_scope(response, "klageapi:admin")


async def test_citizen_token_on_an_organisation_endpoint_is_forbidden(
    client: httpx.AsyncClient, make_token: TokenFactory, session: AsyncSession
) -> None:
    appeal = await make_appeal(session, national_id=NATIONAL_ID)
    token = make_token(org=None, scope=None, pid=NATIONAL_ID, acr="idporten-loa-high")

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=_bearer(token))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert NATIONAL_ID not in response.text
    assert await count(session, AuditEntry) == 0


async def test_citizen_token_carrying_organisation_claims_is_still_a_citizen(
    client: httpx.AsyncClient, make_token: TokenFactory, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)
    token = make_token(scope="klageapi:read", pid=NATIONAL_ID, acr="idporten-loa-high")

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=_bearer(token))

    assert response.status_code == 403
    assert await count(session, AuditEntry) == 0


async def test_citizen_token_with_substantial_assurance_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(org=None, scope=None, pid=NATIONAL_ID, acr="idporten-loa-substantial")

    response = await _get_some_appeal(client, _bearer(token))

    _assert_unauthenticated(response, error="insufficient_user_authentication")


async def test_citizen_token_whose_pid_is_not_a_national_id_is_refused(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(org=None, scope=None, pid="1234", acr="idporten-loa-high")

    response = await _get_some_appeal(client, _bearer(token))

    _assert_unauthenticated(response)


# --- Who is recorded --------------------------------------------------------------------------


async def test_supplier_acting_for_the_organisation_is_written_to_the_audit_log(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)
    supplier = {"authority": "iso6523-actorid-upis", "ID": f"0192:{SUPPLIER_ORG}"}

    response = await client.get(
        f"/v1/appeals/{appeal.id}", headers=auth(scope="klageapi:read", supplier=supplier)
    )

    assert response.status_code == 200
    entries = (await session.scalars(select(AuditEntry))).all()
    assert [(e.actor_organisation, e.actor_supplier, e.actor_kind) for e in entries] == [
        (f"0192:{NAV_STAVANGER_ORG}", f"0192:{SUPPLIER_ORG}", "organisation")
    ]


async def test_read_without_a_supplier_leaves_the_supplier_empty_in_the_audit_log(
    client: httpx.AsyncClient, auth: AuthHeaders, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=auth(scope="klageapi:read"))

    assert response.status_code == 200
    entry = (await session.scalars(select(AuditEntry))).one()
    assert entry.actor_supplier is None


# --- The development issuer ---------------------------------------------------------------------


async def test_development_issuer_token_is_accepted_in_development(
    client: httpx.AsyncClient, settings: Settings, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)
    token = DevIssuer(settings.data_dir).organisation_token(NAV_STAVANGER_ORG, "klageapi:read")

    response = await client.get(f"/v1/appeals/{appeal.id}", headers=_bearer(token))

    assert settings.is_development
    assert response.status_code == 200
    assert response.json()["id"] == str(appeal.id)


async def test_development_issuer_admin_token_reaches_the_registry(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = DevIssuer(settings.data_dir).organisation_token(
        f"0192:{NAV_STAVANGER_ORG}", "klageapi:admin"
    )

    response = await client.get("/v1/offices/nav", headers=_bearer(token))

    assert response.status_code == 200


@pytest.fixture
async def production_client(
    settings: Settings, engine: AsyncEngine, session: AsyncSession, clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as production builds it: the test issuer only, no development issuer."""
    production = Settings(
        environment="production",
        data_dir=settings.data_dir,
        database_url="postgresql+asyncpg://unused@localhost/unused",
        secret_key="production-secret-key-that-is-long-enough-42",
        issuers=settings.issuers,
    )
    app: FastAPI = create_app(production, engine=engine, clock=clock)

    on_the_test_transaction(app, session)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klageapi.test") as client:
        yield client


async def test_development_issuer_token_is_refused_in_production(
    production_client: httpx.AsyncClient, settings: Settings
) -> None:
    token = DevIssuer(settings.data_dir).organisation_token(NAV_STAVANGER_ORG, "klageapi:read")

    response = await _get_some_appeal(production_client, _bearer(token))

    _assert_unauthenticated(response)


async def test_configured_issuer_token_is_accepted_in_production(
    production_client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await _get_some_appeal(production_client, auth(scope="klageapi:read"))

    assert response.status_code == 404


# --- Keys from a JWKS URL -----------------------------------------------------------------------


class _FakeMonotonic:
    """Stands in for the `time` module inside klageapi.core.auth, so tests move time by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _JwksServer:
    """An issuer's JWKS endpoint: serves whatever keys it holds now and counts the fetches."""

    def __init__(self, *keys: ECKey) -> None:
        self.keys: list[Key] = list(keys)
        self.fetches = 0
        self.status = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        if self.status != 200:
            return httpx.Response(self.status)
        return httpx.Response(200, json=KeySet(self.keys).as_dict(private=False))


def _es256_token(key: ECKey, **claims: Any) -> str:
    now = _now()
    body: dict[str, Any] = {
        "iss": JWKS_ISSUER,
        "aud": TEST_AUDIENCE,
        "exp": now + 600,
        "scope": "klageapi:read",
        "consumer": {"authority": "iso6523-actorid-upis", "ID": f"0192:{NAV_STAVANGER_ORG}"},
        **claims,
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid}, body, key)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> _FakeMonotonic:
    fake = _FakeMonotonic()
    monkeypatch.setattr(auth_module, "time", fake)
    return fake


@pytest.fixture
def old_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


@pytest.fixture
def new_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


@pytest.fixture
def jwks_server(old_key: ECKey) -> _JwksServer:
    return _JwksServer(old_key)


@pytest.fixture
async def jwks_verifier(jwks_server: _JwksServer) -> AsyncIterator[TokenVerifier]:
    issuer = IssuerSettings(issuer=JWKS_ISSUER, audience=TEST_AUDIENCE, jwks_url=JWKS_URL)
    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks_server.handle)) as client:
        yield TokenVerifier([issuer], http_client=client, refresh_min_seconds=30)


async def test_keys_are_fetched_from_the_jwks_url_once_and_cached(
    jwks_verifier: TokenVerifier,
    jwks_server: _JwksServer,
    old_key: ECKey,
    fake_time: _FakeMonotonic,
) -> None:
    first = await jwks_verifier.verify(_es256_token(old_key))
    fake_time.now += 3600
    second = await jwks_verifier.verify(_es256_token(old_key))

    assert first == second == Organisation(NAV_STAVANGER_ORG, frozenset({"klageapi:read"}))
    assert jwks_server.fetches == 1


async def test_rotated_key_triggers_exactly_one_refetch(
    jwks_verifier: TokenVerifier,
    jwks_server: _JwksServer,
    old_key: ECKey,
    new_key: ECKey,
    fake_time: _FakeMonotonic,
) -> None:
    await jwks_verifier.verify(_es256_token(old_key))
    fake_time.now += 31
    jwks_server.keys = [old_key, new_key]  # the issuer publishes its next key

    principals = await asyncio.gather(
        *(jwks_verifier.verify(_es256_token(new_key)) for _ in range(5))
    )
    await jwks_verifier.verify(_es256_token(old_key))

    assert all(isinstance(principal, Organisation) for principal in principals)
    assert jwks_server.fetches == 2


async def test_unknown_kid_does_not_refetch_within_the_refresh_interval(
    jwks_verifier: TokenVerifier,
    jwks_server: _JwksServer,
    old_key: ECKey,
    new_key: ECKey,
    fake_time: _FakeMonotonic,
) -> None:
    await jwks_verifier.verify(_es256_token(old_key))
    fake_time.now += 31
    unknown = _es256_token(new_key)  # new_key is never published

    with pytest.raises(Unauthenticated):
        await jwks_verifier.verify(unknown)
    assert jwks_server.fetches == 2
    fake_time.now += 29
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await jwks_verifier.verify(unknown)
    assert jwks_server.fetches == 2

    fake_time.now += 2
    with pytest.raises(Unauthenticated):
        await jwks_verifier.verify(unknown)
    assert jwks_server.fetches == 3


async def test_key_rotated_within_the_refresh_interval_waits_for_it(
    jwks_verifier: TokenVerifier,
    jwks_server: _JwksServer,
    old_key: ECKey,
    new_key: ECKey,
    fake_time: _FakeMonotonic,
) -> None:
    await jwks_verifier.verify(_es256_token(old_key))
    jwks_server.keys = [old_key, new_key]
    fake_time.now += 5

    with pytest.raises(Unauthenticated):
        await jwks_verifier.verify(_es256_token(new_key))
    fake_time.now += 30
    principal = await jwks_verifier.verify(_es256_token(new_key))

    assert isinstance(principal, Organisation)
    assert jwks_server.fetches == 2


async def test_unreachable_jwks_url_refuses_the_token(
    jwks_verifier: TokenVerifier, jwks_server: _JwksServer, old_key: ECKey
) -> None:
    jwks_server.status = 503

    with pytest.raises(Unauthenticated) as caught:
        await jwks_verifier.verify(_es256_token(old_key))

    assert "could not be fetched" in caught.value.detail
    assert caught.value.status == 401


async def test_jwks_outage_keeps_the_keys_already_fetched(
    jwks_verifier: TokenVerifier,
    jwks_server: _JwksServer,
    old_key: ECKey,
    new_key: ECKey,
    fake_time: _FakeMonotonic,
) -> None:
    await jwks_verifier.verify(_es256_token(old_key))
    jwks_server.status = 500
    fake_time.now += 31

    with pytest.raises(Unauthenticated):
        await jwks_verifier.verify(_es256_token(new_key))  # refetch attempted, fails
    principal = await jwks_verifier.verify(_es256_token(old_key))

    assert isinstance(principal, Organisation)
    assert jwks_server.fetches == 2


async def test_jwks_issuer_verifies_citizens_too(
    jwks_verifier: TokenVerifier, old_key: ECKey
) -> None:
    token = _es256_token(old_key, consumer=None, pid=NATIONAL_ID, acr="idporten-loa-high")

    principal = await jwks_verifier.verify(token)

    assert principal == Citizen(national_id=NATIONAL_ID, acr="idporten-loa-high")
    assert NATIONAL_ID not in repr(principal)


async def test_verified_token_is_remembered_without_checking_it_again(
    jwks_verifier: TokenVerifier, jwks_server: _JwksServer, old_key: ECKey
) -> None:
    token = _es256_token(old_key)
    first = await jwks_verifier.verify(token)
    jwks_server.keys = []  # a signature check now would need a refetch, and would fail

    assert await jwks_verifier.verify(token) == first
    assert jwks_server.fetches == 1


async def test_remembered_token_is_refused_once_it_expires(
    jwks_verifier: TokenVerifier, old_key: ECKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _es256_token(old_key, exp=_now() + 60)
    await jwks_verifier.verify(token)
    later = _now() + 3600.0  # past exp and the leeway, for the remembered copy and joserfc alike
    monkeypatch.setattr(time, "time", lambda: later)

    with pytest.raises(Unauthenticated):
        await jwks_verifier.verify(token)


# --- Hostile shapes: whatever a token holds, the answer is 401, never a 500 --------------------

_PROPERTY = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _nested(depth: int, kind: str) -> str:
    """JSON nested `depth` deep: closed (valid JSON) or left open (as deep, and invalid)."""
    if kind == "closed-arrays":
        return "[" * depth + "]" * depth
    if kind == "closed-objects":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth


@_PROPERTY
@given(
    depth=st.integers(min_value=1, max_value=11_000),
    kind=st.sampled_from(["closed-arrays", "closed-objects", "open"]),
    part=st.sampled_from(["header", "payload", "inside-a-claim"]),
)
async def test_token_with_deeply_nested_json_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, depth: int, kind: str, part: str
) -> None:
    nested = _nested(depth, kind)
    header, payload = _unsigned({"alg": "RS256", "typ": "JWT"}, _claims())
    if part == "header":
        header = _b64(nested.encode())
    elif part == "payload":
        payload = _b64(nested.encode())
    else:
        payload = _b64(json.dumps(_claims())[:-1].encode() + b', "x": ' + nested.encode() + b"}")
    audited = await count(session, AuditEntry)

    response = await _get_some_appeal(client, _bearer(f"{header}.{payload}.c2ln"))

    _assert_unauthenticated(response)
    assert await count(session, AuditEntry) == audited


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


# The JSON type each claim klageapi or joserfc reads must have.
_CLAIM_TYPES: dict[str, tuple[type, ...]] = {
    "acr": (str,),
    "pid": (str,),
    "scope": (str,),
    "consumer": (dict,),
    "supplier": (dict,),
    "iss": (str,),
    "aud": (str, list),
    "exp": (int, float),
    "nbf": (int, float),
    "iat": (int, float),
}


def _of_another_type(claim: str) -> st.SearchStrategy[Any]:
    """Any JSON value but null and the type the claim must have."""
    expected = _CLAIM_TYPES[claim]
    return _JSON_VALUES.filter(
        lambda value: (
            value is not None and not (isinstance(value, expected) and not isinstance(value, bool))
        )
    )


@_PROPERTY
@given(data=st.data(), claim=st.sampled_from(sorted(_CLAIM_TYPES)))
async def test_signed_token_with_a_claim_of_another_json_type_is_refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_token: TokenFactory,
    data: st.DataObject,
    claim: str,
) -> None:
    value = data.draw(_of_another_type(claim), label=claim)
    citizen = claim in {"acr", "pid"}
    claims: dict[str, Any] = {"pid": NATIONAL_ID, "acr": "idporten-loa-high"} if citizen else {}
    claims[claim] = value
    token = make_token(org=None if citizen else NAV_STAVANGER_ORG, **claims)
    audited = await count(session, AuditEntry)

    response = await _get_some_appeal(client, _bearer(token))

    _assert_unauthenticated(response)
    assert await count(session, AuditEntry) == audited


@pytest.mark.parametrize(
    "pid",
    ["15076500564", "15076500575", "00000000000", "99999999999", "15136500565"],
    ids=["second-check-digit", "first-check-digit", "zeros", "nines", "no-such-month"],
)
async def test_citizen_token_whose_pid_fails_the_check_digits_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, make_token: TokenFactory, pid: str
) -> None:
    token = make_token(org=None, scope=None, pid=pid, acr="idporten-loa-high")

    audited = await count(session, AuditEntry)

    response = await client.get("/v1/me/appeals", headers=_bearer(token))

    _assert_unauthenticated(response)
    assert await count(session, AuditEntry) == audited
