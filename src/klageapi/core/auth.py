"""Who is calling: bearer JWTs from configured issuers, turned into an organisation or a citizen.

Organisations come with Maskinporten-style tokens (`consumer.ID` = `0192:<orgnr>`, `scope`);
citizens with ID-porten-style tokens (`pid`, `acr`). What an organisation may touch is decided
by the registry, not here; here we only establish identity and scopes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from klageapi.core.config import IssuerSettings
from klageapi.core.errors import Forbidden, InsufficientScope, Unauthenticated, raises
from klageapi.core.logging import get_logger
from klageapi.core.metrics import Metrics
from klageapi.core.validation import validate_national_id

__all__ = [
    "SCOPE_ADMIN",
    "SCOPE_READ",
    "SCOPE_WRITE",
    "AdminDep",
    "Citizen",
    "CitizenDep",
    "CitizenTokenRequired",
    "Organisation",
    "Principal",
    "ReaderDep",
    "ReaderOrAdminDep",
    "TokenVerifier",
    "WriterDep",
    "require_reader_or_admin",
    "require_scope",
    "scopes_required_by",
]

SCOPE_READ = "klageapi:read"
SCOPE_WRITE = "klageapi:write"
SCOPE_ADMIN = "klageapi:admin"

_log = get_logger(__name__)

CITIZEN_ACRS = frozenset({"idporten-loa-high", "Level4"})
_MAX_TOKEN_LENGTH = 16 * 1024
_VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Organisation:
    """An organisation calling with a machine token; `supplier` is a vendor acting for it."""

    organisation_number: str
    scopes: frozenset[str]
    supplier: str | None = None

    @property
    def actor(self) -> str:
        """The organisation as an ISO 6523 identifier, as the audit log and history keep it."""
        return f"0192:{self.organisation_number}"

    @property
    def supplier_actor(self) -> str | None:
        return f"0192:{self.supplier}" if self.supplier else None


@dataclass(frozen=True)
class Citizen:
    """A citizen logged in at the highest assurance level."""

    national_id: str = field(repr=False)
    acr: str


Principal = Organisation | Citizen


class _IssuerKeys:
    """The keys of one issuer: static, or fetched from its JWKS URL and refreshed on unknown kid."""

    def __init__(
        self,
        settings: IssuerSettings,
        *,
        refresh_min_seconds: float,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self._metrics = metrics
        self._keys = KeySet.import_key_set(settings.jwks) if settings.jwks else None  # type: ignore[arg-type]
        self._fetched_at = 0.0
        self._refresh_min_seconds = refresh_min_seconds
        self._lock = asyncio.Lock()

    async def get(self, kid: str | None, client: httpx.AsyncClient) -> KeySet:
        if self.settings.jwks_url is None:
            assert self._keys is not None
            return self._keys
        if self._keys is None or not self._has(kid):
            await self._refresh(client)
        if self._keys is None:
            raise Unauthenticated(
                "The token issuer's keys could not be fetched.", reason="keys_unavailable"
            )
        return self._keys

    def _has(self, kid: str | None) -> bool:
        assert self._keys is not None
        return kid is None or any(key.kid == kid for key in self._keys)

    async def _refresh(self, client: httpx.AsyncClient) -> None:
        async with self._lock:
            if self._fetched_at and time.monotonic() - self._fetched_at < self._refresh_min_seconds:
                # Refreshed a moment ago: an unknown kid is no reason to hammer the issuer.
                return
            try:
                response = await client.get(str(self.settings.jwks_url), timeout=5.0)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as error:
                _log.warning(
                    "jwks_fetch_failed", issuer=self.settings.issuer, error=type(error).__name__
                )
                if self._metrics is not None:
                    self._metrics.jwks_fetch_failed(self.settings.issuer)
                return  # keep the keys we had; the caller refuses the token if none fit
            finally:
                self._fetched_at = time.monotonic()


def _unverified_part(token: str, index: int) -> dict[str, Any]:
    try:
        part = token.split(".")[index]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    # RecursionError: JSON nested deeper than the parser descends, sent by anyone, unsigned.
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as error:
        raise Unauthenticated(
            "The bearer token is not a well-formed JWT.", reason="malformed"
        ) from error
    if not isinstance(value, dict):
        raise Unauthenticated("The bearer token is not a well-formed JWT.", reason="malformed")
    return value


class TokenVerifier:
    """Checks signature, issuer, audience, expiry and not-before, and names the caller."""

    def __init__(
        self,
        issuers: list[IssuerSettings],
        *,
        http_client: httpx.AsyncClient,
        leeway_seconds: int = 30,
        refresh_min_seconds: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._issuers = {
            issuer.issuer: _IssuerKeys(
                issuer, refresh_min_seconds=refresh_min_seconds, metrics=metrics
            )
            for issuer in issuers
        }
        self._client = http_client
        self._leeway = leeway_seconds
        # Checking a signature costs more than the rest of a small request. A client sends the
        # same token until it expires, so a token that passed is remembered, by the digest of
        # its exact text, until its `exp` (the leeway is not extended to the remembered copy).
        # The price: a key the issuer withdraws still admits the tokens already verified with
        # it, for the rest of their short lives.
        self._verified: dict[bytes, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            principal, expires_at = remembered
            if time.time() < expires_at:
                return principal
            del self._verified[digest]
        principal, expires_at = await self._verify(token)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[digest] = (principal, expires_at)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        if len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise Unauthenticated("The bearer token is not a well-formed JWT.", reason="malformed")
        header = _unverified_part(token, 0)
        issuer = self._issuers.get(str(_unverified_part(token, 1).get("iss")))
        if issuer is None:
            raise Unauthenticated(
                "The token's issuer is not trusted here.", reason="untrusted_issuer"
            )
        algorithm = header.get("alg")
        if algorithm not in issuer.settings.algorithms:
            raise Unauthenticated(
                "The token's signing algorithm is not accepted.", reason="algorithm_not_accepted"
            )
        keys = await issuer.get(header.get("kid"), self._client)
        try:
            decoded = jwt.decode(token, keys, algorithms=[algorithm])
            jwt.JWTClaimsRegistry(
                leeway=self._leeway,
                iss={"essential": True, "value": issuer.settings.issuer},
                aud={"essential": True, "value": issuer.settings.audience},
                exp={"essential": True},
            ).validate(decoded.claims)
        except JoseError as error:
            raise Unauthenticated(
                f"The bearer token was refused: {error.error}.", reason=_jose_reason(error)
            ) from error
        return _principal_from(decoded.claims), float(decoded.claims["exp"])


_JOSE_REASONS = frozenset(
    {"bad_signature", "expired_token", "invalid_claim", "missing_claim", "decode_error"}
)


def _jose_reason(error: JoseError) -> str:
    """joserfc's error code when it is one of the known few (the label stays a short list)."""
    return error.error if error.error in _JOSE_REASONS else "invalid"


# The claims read here and by joserfc's checks, and the JSON types they must have when present.
_CLAIM_TYPES: dict[str, tuple[type, ...]] = {
    "iss": (str,),
    "aud": (str, list),
    "exp": (int, float),
    "nbf": (int, float),
    "iat": (int, float),
    "pid": (str,),
    "acr": (str,),
    "scope": (str,),
    "consumer": (dict,),
    "supplier": (dict,),
}


def _is_national_id(pid: str) -> bool:
    try:
        validate_national_id(pid)
    except ValueError:
        return False
    return True


def _organisation_number(claim: object) -> str | None:
    if not isinstance(claim, dict):
        return None
    identifier = claim.get("ID")
    if isinstance(identifier, str) and identifier.startswith("0192:"):
        number = identifier.removeprefix("0192:")
        if len(number) == 9 and number.isascii() and number.isdigit():
            return number
    return None


def _claims_of_their_types(claims: dict[str, Any]) -> None:
    """Refuse a token whose claims klageapi reads are not of their JSON type: a signed token
    from a trusted issuer is still input, and a list where a string belongs is no identity."""
    for name, types in _CLAIM_TYPES.items():
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise Unauthenticated(
                f"The token's {name!r} claim is not of its type.", reason="claim_type"
            )


def _principal_from(claims: dict[str, Any]) -> Principal:
    _claims_of_their_types(claims)
    if "pid" in claims:
        pid, acr = claims.get("pid"), claims.get("acr")
        if not (isinstance(pid, str) and _is_national_id(pid)):
            raise Unauthenticated(
                "The citizen token's pid is not a national identity number.", reason="invalid_pid"
            )
        if acr not in CITIZEN_ACRS:
            raise Unauthenticated(
                "Citizen access needs assurance level idporten-loa-high.",
                error="insufficient_user_authentication",
                reason="insufficient_assurance",
            )
        return Citizen(national_id=pid, acr=str(acr))
    organisation = _organisation_number(claims.get("consumer"))
    if organisation is None:
        raise Unauthenticated(
            "The token names no organisation (consumer.ID 0192:<orgnr>).", reason="no_organisation"
        )
    scopes = frozenset(str(claims.get("scope", "")).split())
    return Organisation(
        organisation_number=organisation,
        scopes=scopes,
        supplier=_organisation_number(claims.get("supplier")),
    )


_bearer = HTTPBearer(auto_error=False, description="A Maskinporten or ID-porten access token.")

# Each scope dependency's alternatives (any one admits): the contract's security requirements.
_SCOPES: dict[Any, tuple[str, ...]] = {}


def scopes_required_by(dependency: Any) -> tuple[str, ...] | None:
    """The scopes of which a scope dependency needs one (none for the citizen's, which needs a
    citizen's token); None for any other callable."""
    return _SCOPES.get(dependency)


@raises(Unauthenticated)
async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 when the token is missing or refused."""
    if credentials is None:
        raise Unauthenticated("A bearer token is required.", error=None, reason="missing")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    request.state.principal = principal
    return principal


def require_scope(scope: str) -> Any:
    """A dependency that admits organisations holding `scope`; others get 403."""

    @raises(InsufficientScope)
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Organisation:
        if not isinstance(principal, Organisation) or scope not in principal.scopes:
            raise InsufficientScope(scope=scope)
        return principal

    _SCOPES[dependency] = (scope,)
    return dependency


def require_reader_or_admin() -> Any:
    """A dependency that admits organisations holding the read or the admin scope: figures an
    administrator may read without also holding the read scope."""

    @raises(InsufficientScope)
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Organisation:
        if not isinstance(principal, Organisation) or not principal.scopes & {
            SCOPE_READ,
            SCOPE_ADMIN,
        }:
            raise InsufficientScope(scope=SCOPE_READ)
        return principal

    _SCOPES[dependency] = (SCOPE_READ, SCOPE_ADMIN)
    return dependency


ReaderDep = Annotated[Organisation, Depends(require_scope(SCOPE_READ))]
ReaderOrAdminDep = Annotated[Organisation, Depends(require_reader_or_admin())]
WriterDep = Annotated[Organisation, Depends(require_scope(SCOPE_WRITE))]
AdminDep = Annotated[Organisation, Depends(require_scope(SCOPE_ADMIN))]


class CitizenTokenRequired(Forbidden):
    code = "citizen_token_required"
    refused_because = "citizen_token_required"

    def __init__(self) -> None:
        super().__init__("This is the citizen's view: it needs an ID-porten token of a citizen.")


@raises(CitizenTokenRequired)
async def _citizen(principal: Annotated[Principal, Depends(get_principal)]) -> Citizen:
    if not isinstance(principal, Citizen):
        raise CitizenTokenRequired()
    return principal


_SCOPES[_citizen] = ()
CitizenDep = Annotated[Citizen, Depends(_citizen)]
