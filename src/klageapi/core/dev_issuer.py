"""The development token issuer: a key pair in the data folder that signs local test tokens.

Only trusted when the service runs in development; `klageapi dev-token` uses it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from klageapi.core.config import DEFAULT_AUDIENCE, DEV_ISSUER, IssuerSettings

__all__ = ["DevIssuer"]


class DevIssuer:
    """Signs tokens with an ES256 key kept at `<data_dir>/dev-issuer-key.json`."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / "dev-issuer-key.json"
        self._key = self._load_or_create()

    def _load_or_create(self) -> ECKey:
        if self._path.exists():
            return ECKey.import_key(json.loads(self._path.read_text()))
        key = ECKey.generate_key("P-256", auto_kid=True)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(key.as_dict(private=True), file)
        temporary.replace(self._path)
        return key

    def settings(self) -> IssuerSettings:
        public = KeySet([self._key]).as_dict(private=False)
        return IssuerSettings(issuer=DEV_ISSUER, jwks=dict(public), algorithms=["ES256"])

    def mint(self, claims: dict[str, object], *, lifetime_seconds: int = 3600) -> str:
        now = int(time.time())
        body = {
            "iss": DEV_ISSUER,
            "aud": DEFAULT_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        return jwt.encode({"alg": "ES256", "kid": self._key.kid}, body, self._key)

    def organisation_token(
        self, organisation: str, scopes: str, *, supplier: str | None = None
    ) -> str:
        """A Maskinporten-shaped token; `organisation` is `0192:<orgnr>` or a bare orgnr."""
        consumer = {"authority": "iso6523-actorid-upis", "ID": _iso6523(organisation)}
        claims: dict[str, object] = {"consumer": consumer, "scope": scopes}
        if supplier:
            claims["supplier"] = {"authority": "iso6523-actorid-upis", "ID": _iso6523(supplier)}
        return self.mint(claims)

    def citizen_token(self, national_id: str, *, acr: str = "idporten-loa-high") -> str:
        return self.mint({"pid": national_id, "acr": acr, "sub": str(uuid.uuid4())})


def _iso6523(organisation: str) -> str:
    return organisation if organisation.startswith("0192:") else f"0192:{organisation}"
