"""The development token issuer: a key pair in the data folder that signs local test tokens.

Only trusted when the service runs in development; `klageapi dev-token` uses it.

The settings module imports the names below from here, and this module imports nothing of the
settings at its top: `klageapi dev-token` signs a token without importing pydantic-settings,
which was most of the command's time (bench/dev_token.py).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from klageapi.core.files import read_or_create

if TYPE_CHECKING:
    from klageapi.core.config import IssuerSettings

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEV_ISSUER",
    "KEY_FILE",
    "DevIssuer",
    "last_served",
    "remember_served",
]

DEFAULT_DATA_DIR = Path(".klageapi")
"""The data folder when KLAGEAPI_DATA_DIR names none."""
DEV_ISSUER = "klageapi-development-issuer"
DEFAULT_AUDIENCE = "klageapi"
"""The audience klageapi's tokens carry, unless an issuer's settings say another."""

KEY_FILE = "dev-issuer-key.json"


def _served_record() -> Path:
    return Path.home() / ".cache" / "klageapi" / "served-data-dir"


def remember_served(data_dir: Path) -> None:
    """Leave the data folder of a development `klageapi serve` where `dev-token`, run from
    another folder, finds it (the issuer's key is in it)."""
    record = _served_record()
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(str(data_dir.resolve()), encoding="utf-8")
    except OSError:
        pass  # a read-only home: dev-token then needs KLAGEAPI_DATA_DIR


def last_served() -> Path | None:
    """The data folder of the last development `klageapi serve` on this machine, if its key
    is still there."""
    try:
        folder = Path(_served_record().read_text(encoding="utf-8").strip())
    except OSError:
        return None
    return folder if (folder / KEY_FILE).is_file() else None


class DevIssuer:
    """Signs tokens with an ES256 key kept at `<data_dir>/dev-issuer-key.json`."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / KEY_FILE
        self._key = self._load_or_create()

    def _load_or_create(self) -> ECKey:
        def fresh() -> bytes:
            key = ECKey.generate_key("P-256", auto_kid=True)
            return json.dumps(key.as_dict(private=True)).encode()

        return ECKey.import_key(json.loads(read_or_create(self._path, fresh)))

    def settings(self) -> IssuerSettings:
        from klageapi.core.config import IssuerSettings

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
