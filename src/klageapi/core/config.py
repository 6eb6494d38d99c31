"""The one settings object, read from `KLAGEAPI_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    HttpUrl,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from klageapi.core.dev_issuer import DEFAULT_AUDIENCE, DEFAULT_DATA_DIR, DEV_ISSUER

__all__ = ["DEFAULT_AUDIENCE", "DEV_ISSUER", "IssuerSettings", "Settings", "get_settings"]

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "placeholder", "todo", "xxx"}


class IssuerSettings(BaseModel):
    """A token issuer we trust: Maskinporten, ID-porten or a test issuer."""

    issuer: str
    audience: str = DEFAULT_AUDIENCE
    jwks_url: HttpUrl | None = None
    jwks: dict[str, object] | None = Field(
        default=None, description="Static keys as a JWKS document, instead of a JWKS URL."
    )
    algorithms: list[str] = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]

    @model_validator(mode="after")
    def _one_key_source(self) -> IssuerSettings:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError(f"issuer {self.issuer!r} needs exactly one of jwks_url and jwks")
        if self.issuer.strip().lower() in _PLACEHOLDERS:
            raise ValueError("issuer is a placeholder")
        return self


class Settings(BaseSettings):
    """Everything the service can be told from outside."""

    # hide_input_in_errors: a refusal is printed at start-up, and the input holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="KLAGEAPI_", env_file=None, extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "production"] = "development"
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql+asyncpg://... ; without it an embedded PostgreSQL is started.",
    )
    read_database_url: SecretStr | None = Field(
        default=None,
        description="A read replica (postgresql+asyncpg://...) for the reads that tolerate"
        " replication lag: the processing-time statistics and the audit log. Without it they"
        " read from the primary.",
    )
    data_dir: Path = DEFAULT_DATA_DIR
    issuers: Annotated[list[IssuerSettings], NoDecode] = []
    secret_key: SecretStr | None = Field(
        default=None, description="Signs cursors; generated into the data folder in development."
    )
    migrate_on_start: bool | None = Field(
        default=None,
        description="Apply migrations at start-up; by default only for the embedded database.",
    )
    db_pool_size: int = Field(
        default=30,
        ge=1,
        le=200,
        description="Connections kept per process: as many as requests run at once. A"
        " connection beyond it is closed when returned, so a steady load above the pool size"
        " connects (and prepares every statement again) on every request.",
    )
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long a request waits for a connection from a full pool before it is"
        " answered 503 database_unavailable.",
    )
    db_connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long opening a new database connection may take; a server that does"
        " not answer (a lost machine) costs a request no longer. As long as the pool's wait: a"
        " machine under heavy load took over 5 s to open one (bench/faults.py).",
    )
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    idempotency_retention_hours: int = Field(
        default=24, ge=24, le=24 * 90, description="How long a stored idempotent answer is kept."
    )
    idempotency_sweep_seconds: int = Field(default=600, ge=10)
    idempotency_claim_seconds: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="How long a claimed Idempotency-Key stays in flight without an answer"
        " before it is taken to have crashed and a retry may run.",
    )
    organisation_max_concurrent_requests: int = Field(
        default=32,
        ge=0,
        description="An organisation's requests running at once in one process; more get 429."
        " 0: no cap.",
    )
    organisation_requests_per_second: float = Field(
        default=100.0,
        ge=0,
        description="An organisation's steady request rate in one process (a token bucket);"
        " faster gets 429. 0: no limit.",
    )
    organisation_request_burst: int = Field(
        default=200,
        ge=1,
        description="How many requests an organisation may send at once above its steady rate"
        " (the bucket's size).",
    )
    retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days after an appeal is decided, closed or withdrawn (its packages received,"
        " rejected or withdrawn) before its documents and personal data are erased; the"
        " archive of record is the Statsforvalter's and NAV's.",
    )
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_refresh_min_seconds: int = Field(default=30, ge=0)
    document_storage: Literal["filesystem", "s3"] = Field(
        default="filesystem",
        description="Where document bytes live: <data_dir>/documents, or an S3-compatible bucket.",
    )
    # 5 GiB: the most one S3 CopyObject moves, and the S3 store copies each upload once.
    package_receipt_overdue_working_days: int = Field(
        default=2, ge=0, le=60, description="A package awaiting receipt longer is overdue."
    )
    document_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, le=5 * 1024**3)
    document_media_types: Annotated[list[str], NoDecode] = Field(
        default=["application/pdf", "image/jpeg", "image/png"],
        description="Accepted document types (comma-separated in the environment).",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="e.g. https://s3.example.no; AWS's regional endpoint if unset."
    )
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_path_style: bool = Field(
        default=False, description="Path-style URLs (endpoint/bucket/key), as most non-AWS stores."
    )
    s3_allow_http: bool = Field(default=False, description="Plain HTTP, for a loopback test store.")
    s3_key_prefix: str = Field(default="", description="Keys start with this within the bucket.")

    backdating_limit_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="In production, how far back a step reported late (`occurred_at`) may be"
        " dated.",
    )
    run_worker: bool = Field(
        default=True,
        description="Run the webhook dispatcher inside `klageapi serve`; turn off where separate"
        " `klageapi worker` processes run it.",
    )
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    webhook_retry_schedule_seconds: Annotated[list[float], NoDecode] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
        description="Delay before each retry (comma-separated); a delivery fails for good after"
        " the last. Each gets up to 20 % random jitter.",
    )
    webhook_retry_after_max_seconds: int = Field(
        default=86400, ge=1, description="A receiver's Retry-After is honoured up to this."
    )
    webhook_disable_after_hours: float = Field(
        default=120,
        gt=0,
        description="A subscription failing without a break this long is disabled.",
    )
    webhook_secret_overlap_hours: float = Field(
        default=24, ge=0, description="How long the old secret still signs after a rotation."
    )
    webhook_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default=[],
        description="Networks webhooks may reach though not public (comma-separated CIDRs),"
        " e.g. 127.0.0.0/8 for a receiver on this machine in development.",
    )
    worker_concurrency: int = Field(
        default=16, ge=1, le=256, description="Subscriptions one worker sends to at once."
    )
    worker_poll_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Polling when no notification arrives."
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="Where `klageapi worker` serves /metrics; 0.0.0.0 for a scraper elsewhere.",
    )
    worker_metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="The port of `klageapi worker`'s /metrics (0: any free one, logged as"
        " worker_metrics_listening).",
    )
    tracing_otlp_endpoint: HttpUrl | None = Field(
        default=None,
        description="Export traces over OTLP/HTTP to this collector URL (for example"
        " http://collector:4318/v1/traces). Unset, nothing is exported; an incoming traceparent"
        " is passed on all the same.",
    )

    @field_validator("webhook_retry_schedule_seconds", "webhook_allowed_networks", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("document_media_types", mode="before")
    @classmethod
    def _split_media_types(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="before")
    @classmethod
    def _parse_issuers(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("issuers"), str):
            import json

            data = {**data, "issuers": json.loads(data["issuers"] or "[]")}
        return data

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.document_storage == "s3" and not self.s3_bucket:
            raise ValueError("KLAGEAPI_S3_BUCKET is required when KLAGEAPI_DOCUMENT_STORAGE=s3")
        return self

    @model_validator(mode="after")
    def _replica_needs_a_primary(self) -> Settings:
        # The embedded database has no replicas; a replica URL beside it is a mistake.
        if self.read_database_url is not None and self.database_url is None:
            raise ValueError("KLAGEAPI_READ_DATABASE_URL needs KLAGEAPI_DATABASE_URL")
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        if self.database_url is None:
            problems.append(
                "KLAGEAPI_DATABASE_URL is required (no embedded database in production)"
            )
        if not self.issuers:
            problems.append("KLAGEAPI_ISSUERS must name at least one token issuer")
        if any(issuer.issuer == DEV_ISSUER for issuer in self.issuers):
            problems.append("the development token issuer is not allowed in production")
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if key.strip().lower() in _PLACEHOLDERS or len(key) < 32:
            problems.append("KLAGEAPI_SECRET_KEY must be a real secret of at least 32 characters")
        if self.document_storage == "s3":
            s3_secret = self.s3_secret_access_key
            secret = s3_secret.get_secret_value() if s3_secret else ""
            if not self.s3_access_key_id or secret.strip().lower() in _PLACEHOLDERS:
                problems.append(
                    "KLAGEAPI_DOCUMENT_STORAGE=s3 needs KLAGEAPI_S3_ACCESS_KEY_ID and a real"
                    " KLAGEAPI_S3_SECRET_ACCESS_KEY"
                )
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def should_migrate_on_start(self) -> bool:
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.uses_embedded_database


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
