"""Which blob store the settings give, and which storage settings production refuses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from klageapi.core.config import IssuerSettings, Settings
from klageapi.document.storage import FilesystemBlobStore, S3BlobStore, blob_store_from_settings

PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "database_url": "postgresql+asyncpg://klageapi:db-password-7f3a@db.internal/klageapi",
    "issuers": [
        IssuerSettings(issuer="https://maskinporten.no/", jwks_url="https://maskinporten.no/jwk")
    ],
    "secret_key": "k9Vq3xL0pRz7Yt2mWb8NcD4sJf6Hg1Ae",
}
S3: dict[str, Any] = {
    "document_storage": "s3",
    "s3_bucket": "klageapi-documents",
    "s3_endpoint_url": "https://s3.example.no",
    "s3_access_key_id": "klageapi",
    "s3_secret_access_key": "Zt8bQ2mX5vR9pL3kW7nC1yH6sD4fG0jA",
}


@pytest.fixture(autouse=True)
def _no_klageapi_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KLAGEAPI_"):
            monkeypatch.delenv(name)


def test_the_default_store_is_a_folder_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    store = blob_store_from_settings(settings)

    assert settings.document_max_bytes == 100 * 1024 * 1024
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == tmp_path / "documents"
    assert (tmp_path / "documents" / "tmp").is_dir()


def test_s3_settings_give_an_s3_store() -> None:
    store = blob_store_from_settings(Settings(**S3, s3_key_prefix="/klager/"))

    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("klageapi-documents", "klager")


def test_s3_without_a_bucket_is_refused() -> None:
    with pytest.raises(ValidationError, match="KLAGEAPI_S3_BUCKET is required"):
        Settings(**{**S3, "s3_bucket": None})


def test_production_with_the_filesystem_store_is_accepted() -> None:
    assert Settings(**PRODUCTION).document_storage == "filesystem"


def test_production_with_s3_and_real_credentials_is_accepted() -> None:
    assert Settings(**PRODUCTION, **S3).document_storage == "s3"


@pytest.mark.parametrize(
    "credentials",
    [
        {"s3_secret_access_key": "changeme"},
        {"s3_secret_access_key": None},
        {"s3_access_key_id": None},
    ],
)
def test_production_with_s3_and_placeholder_credentials_is_refused(
    credentials: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**PRODUCTION, **{**S3, **credentials})

    message = str(caught.value)
    assert "refusing to start in production" in message
    assert "KLAGEAPI_S3_SECRET_ACCESS_KEY" in message
    assert "changeme" not in message  # the input, secrets and all, is kept out of the message
