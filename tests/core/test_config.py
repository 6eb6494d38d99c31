"""Settings: what production refuses to start with, and what development fills in."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from klageapi.core.config import DEFAULT_AUDIENCE, DEV_ISSUER, IssuerSettings, Settings

DATABASE_URL = "postgresql+asyncpg://klageapi:db-password-7f3a@db.internal/klageapi"
SECRET_KEY = "k9Vq3xL0pRz7Yt2mWb8NcD4sJf6Hg1Ae"  # 32 characters
MASKINPORTEN = IssuerSettings(
    issuer="https://maskinporten.no/", jwks_url="https://maskinporten.no/jwk"
)


@pytest.fixture(autouse=True)
def _no_klageapi_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings read KLAGEAPI_* from the environment; a developer's or CI's must not leak in.
    for name in list(os.environ):
        if name.startswith("KLAGEAPI_"):
            monkeypatch.delenv(name)


def _production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": DATABASE_URL,
        "issuers": [MASKINPORTEN],
        "secret_key": SECRET_KEY,
    }
    values.update(overrides)
    return Settings(**values)


def _refusal(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        _production(**overrides)
    message = str(caught.value)
    assert "refusing to start in production" in message
    return message


def test_complete_production_config_is_accepted() -> None:
    settings = _production()

    assert settings.environment == "production"
    assert settings.is_development is False
    assert settings.uses_embedded_database is False
    assert settings.should_migrate_on_start is False
    assert [issuer.issuer for issuer in settings.issuers] == ["https://maskinporten.no/"]


def test_production_without_database_url_is_refused() -> None:
    message = _refusal(database_url=None)

    assert "KLAGEAPI_DATABASE_URL is required" in message
    assert "KLAGEAPI_ISSUERS" not in message
    assert "KLAGEAPI_SECRET_KEY" not in message


def test_production_without_issuers_is_refused() -> None:
    message = _refusal(issuers=[])

    assert "KLAGEAPI_ISSUERS must name at least one token issuer" in message
    assert "KLAGEAPI_DATABASE_URL" not in message


def test_production_with_the_development_issuer_is_refused() -> None:
    development = IssuerSettings(issuer=DEV_ISSUER, jwks={"keys": []}, algorithms=["ES256"])

    message = _refusal(issuers=[MASKINPORTEN, development])

    assert "the development token issuer is not allowed in production" in message


def test_production_without_secret_key_is_refused() -> None:
    message = _refusal(secret_key=None)

    assert "KLAGEAPI_SECRET_KEY must be a real secret of at least 32 characters" in message


@pytest.mark.parametrize("placeholder", ["changeme", "ChangeMe" + " " * 32, " " * 40, "secret"])
def test_production_with_placeholder_secret_key_is_refused(placeholder: str) -> None:
    message = _refusal(secret_key=placeholder)

    assert "KLAGEAPI_SECRET_KEY must be a real secret" in message


def test_production_with_secret_key_one_character_short_is_refused() -> None:
    message = _refusal(secret_key=SECRET_KEY[:31])

    assert "KLAGEAPI_SECRET_KEY must be a real secret of at least 32 characters" in message


def test_production_refusal_names_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(environment="production")

    message = str(caught.value)
    assert "KLAGEAPI_DATABASE_URL is required" in message
    assert "KLAGEAPI_ISSUERS must name at least one token issuer" in message
    assert "KLAGEAPI_SECRET_KEY must be a real secret" in message


def test_production_refusal_does_not_show_the_secrets_it_was_given() -> None:
    # The message ends up in start-up logs; the database password and key must not.
    long_key = "k" * 24 + "TAIL-OF-THE-SECRET-KEY-93xQ"
    with pytest.raises(ValidationError) as caught:
        _production(issuers=[], secret_key=long_key)

    message = str(caught.value)
    assert "KLAGEAPI_ISSUERS" in message
    assert "db-password-7f3a" not in message
    assert "SECRET-KEY-93xQ" not in message


def test_production_config_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAGEAPI_ENVIRONMENT", "production")
    monkeypatch.setenv("KLAGEAPI_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("KLAGEAPI_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv(
        "KLAGEAPI_ISSUERS",
        json.dumps(
            [{"issuer": "https://maskinporten.no/", "jwks_url": "https://maskinporten.no/jwk"}]
        ),
    )

    settings = Settings()

    assert settings.environment == "production"
    assert settings.database_url == SecretStr(DATABASE_URL)
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == SECRET_KEY


def test_issuers_are_parsed_from_a_json_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuers = [
        {"issuer": "https://maskinporten.no/", "jwks_url": "https://maskinporten.no/jwk"},
        {
            "issuer": "https://idporten.no",
            "audience": "nav-klage",
            "jwks": {"keys": []},
            "algorithms": ["RS256"],
        },
    ]
    monkeypatch.setenv("KLAGEAPI_ISSUERS", json.dumps(issuers))

    settings = Settings()

    maskinporten, idporten = settings.issuers
    assert maskinporten.issuer == "https://maskinporten.no/"
    assert str(maskinporten.jwks_url) == "https://maskinporten.no/jwk"
    assert maskinporten.jwks is None
    assert maskinporten.audience == DEFAULT_AUDIENCE
    assert "RS256" in maskinporten.algorithms
    assert idporten.audience == "nav-klage"
    assert idporten.jwks == {"keys": []}
    assert idporten.jwks_url is None
    assert idporten.algorithms == ["RS256"]


def test_empty_issuers_environment_variable_means_no_issuers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KLAGEAPI_ISSUERS", "")

    assert Settings().issuers == []


def test_issuers_environment_variable_that_is_not_json_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KLAGEAPI_ISSUERS", "https://maskinporten.no/")

    with pytest.raises(ValidationError):
        Settings()


def test_issuer_from_the_environment_with_both_key_sources_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = {"issuer": "https://x.test", "jwks_url": "https://x.test/jwk", "jwks": {"keys": []}}
    monkeypatch.setenv("KLAGEAPI_ISSUERS", json.dumps([issuer]))

    with pytest.raises(ValidationError) as caught:
        Settings()

    assert "needs exactly one of jwks_url and jwks" in str(caught.value)


def test_issuer_without_any_key_source_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        IssuerSettings(issuer="https://x.test")

    assert "needs exactly one of jwks_url and jwks" in str(caught.value)


def test_issuer_named_by_a_placeholder_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        IssuerSettings(issuer=" changeme ", jwks={"keys": []})

    assert "issuer is a placeholder" in str(caught.value)


def test_development_defaults() -> None:
    settings = Settings()

    assert settings.environment == "development"
    assert settings.is_development is True
    assert settings.database_url is None
    assert settings.uses_embedded_database is True
    assert settings.should_migrate_on_start is True
    assert settings.data_dir == Path(".klageapi")
    assert settings.issuers == []
    assert settings.secret_key is None
    assert settings.db_pool_size == 30
    assert settings.db_max_overflow == 10
    assert settings.max_json_body_bytes == 1024 * 1024
    assert settings.jwt_leeway_seconds == 30
    assert settings.jwks_refresh_min_seconds == 30
    assert settings.log_level == "INFO"
    assert settings.log_json is True


def test_development_accepts_a_placeholder_secret_and_no_issuers() -> None:
    settings = Settings(environment="development", secret_key="changeme", issuers=[])

    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "changeme"


def test_development_with_a_database_url_does_not_migrate_on_start_unless_told() -> None:
    assert Settings(database_url=DATABASE_URL).should_migrate_on_start is False
    assert Settings(database_url=DATABASE_URL, migrate_on_start=True).should_migrate_on_start


def test_embedded_database_can_be_told_not_to_migrate_on_start() -> None:
    assert Settings(migrate_on_start=False).should_migrate_on_start is False


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="staging")


def test_secrets_are_not_shown_in_the_settings_repr() -> None:
    text = repr(_production())

    assert SECRET_KEY not in text
    assert "db-password-7f3a" not in text


def test_document_media_types_from_the_environment_are_split_and_lower_cased(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KLAGEAPI_DOCUMENT_MEDIA_TYPES", " Application/PDF, image/PNG ,, text/plain")

    assert Settings().document_media_types == ["application/pdf", "image/png", "text/plain"]


def test_document_media_types_default_to_pdf_jpeg_and_png() -> None:
    assert Settings().document_media_types == ["application/pdf", "image/jpeg", "image/png"]
