"""FlareConfig: every setting, with defaults, read from ``FLARE_*`` env vars too."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
StrList = Annotated[list[str], NoDecode]


class FlareConfig(BaseSettings):
    """Settings for ``setup(app, config=...)``; each field is also ``FLARE_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="FLARE_",
        extra="forbid",
        validate_default=True,
        arbitrary_types_allowed=True,
    )

    # ── Storage ──────────────────────────────────────────────────────────
    storage_backend: Literal["sqlite", "postgresql"] = "sqlite"
    sqlite_path: str = "flare.db"
    pg_dsn: str | None = None
    pg_table_name: str = "flare_logs"
    pg_pool_min_size: NonNegativeInt = 1
    pg_pool_max_size: PositiveInt = 4
    pg_connect_timeout_seconds: PositiveFloat = 5.0
    pg_command_timeout_seconds: PositiveFloat = 10.0

    # ── Retention ────────────────────────────────────────────────────────
    max_entries: PositiveInt = 10_000
    retention_hours: PositiveInt = 168

    # ── Dashboard ────────────────────────────────────────────────────────
    dashboard_path: str = "/flare"
    dashboard_title: str = "fastapi-flare"
    dashboard_auth_dependency: Any = Field(default=None, exclude=True)

    # ── Request tracking ─────────────────────────────────────────────────
    track_requests: bool = True
    track_2xx_requests: bool = False
    request_max_entries: PositiveInt = 1000
    capture_request_headers: bool = False
    capture_request_body: bool = False
    max_request_body_bytes: PositiveInt = 16_384

    # ── Capture limits and privacy ───────────────────────────────────────
    max_message_chars: PositiveInt = 8_192
    max_stack_trace_chars: PositiveInt = 65_536
    max_context_chars: PositiveInt = 32_768
    trust_forwarded_for: bool = False
    redact_headers: StrList = Field(default_factory=list)
    redact_fields: StrList = Field(default_factory=list)

    # ── Worker ───────────────────────────────────────────────────────────
    worker_interval_seconds: PositiveFloat = 5
    worker_batch_size: PositiveInt = 100
    # While a backlog waits, one write takes up to this many entries (see worker.py).
    worker_max_batch_size: PositiveInt = 2_000
    queue_max_size: PositiveInt = 10_000

    # ── Metrics ──────────────────────────────────────────────────────────
    metrics_enabled: bool = True
    metrics_retention_days: PositiveInt = 30
    metrics_max_routes: PositiveInt = 500

    # ── Zitadel ──────────────────────────────────────────────────────────
    zitadel_domain: str | None = None
    zitadel_client_id: str | None = None
    zitadel_project_id: str | None = None
    zitadel_redirect_uri: str | None = None
    zitadel_session_secret: str | None = None
    zitadel_api_client_id: str | None = None
    zitadel_api_client_secret: str | None = None
    zitadel_required_roles: StrList = Field(default_factory=list)
    zitadel_session_max_age_seconds: PositiveInt = 8 * 3600

    # The running FlareRuntime once setup() bound this config to an app.
    _runtime: Any = PrivateAttr(default=None)

    @property
    def runtime(self) -> Any:
        """The runtime bound by ``setup()``, or None before that."""
        return self._runtime

    @field_validator("redact_headers", "redact_fields", "zitadel_required_roles", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        """Env vars give ``a,b,c``; code gives a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("pg_table_name")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not IDENTIFIER_PATTERN.match(value):
            raise ValueError(
                "pg_table_name must be a plain SQL identifier "
                "(letters, digits and _, not starting with a digit, at most 63 chars)"
            )
        return value

    @field_validator("dashboard_path")
    @classmethod
    def _dashboard_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("dashboard_path must start with '/', e.g. '/flare'")
        trimmed = value.rstrip("/")
        if not trimmed:
            raise ValueError("dashboard_path cannot be '/': the dashboard needs its own prefix")
        if any(ch in trimmed for ch in "?#{} \t\n"):
            raise ValueError("dashboard_path must be a plain path without ?, #, {} or spaces")
        return trimmed

    @field_validator("sqlite_path")
    @classmethod
    def _sqlite_path(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("sqlite_path must not be empty")
        return value

    @field_validator("zitadel_domain")
    @classmethod
    def _zitadel_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return zitadel_issuer_origin(value)

    @model_validator(mode="after")
    def _cross_field(self) -> FlareConfig:
        if self.storage_backend == "postgresql" and not self.pg_dsn:
            raise ValueError("pg_dsn is required when storage_backend is 'postgresql'")
        if self.pg_pool_min_size > self.pg_pool_max_size:
            raise ValueError("pg_pool_min_size must not exceed pg_pool_max_size")
        if self.zitadel_domain and not (self.zitadel_client_id and self.zitadel_project_id):
            raise ValueError(
                "zitadel_client_id and zitadel_project_id are required with zitadel_domain"
            )
        return self

    @property
    def zitadel_enabled(self) -> bool:
        """True when the dashboard is protected by Zitadel."""
        return self.zitadel_domain is not None

    @property
    def zitadel_browser_mode(self) -> bool:
        """Browser (PKCE) mode when a redirect URI is set, else bearer mode."""
        return self.zitadel_enabled and bool(self.zitadel_redirect_uri)


def zitadel_issuer_origin(domain: str) -> str:
    """Turn ``auth.example.com`` or ``http://localhost:8080`` into an origin URL.

    A bare host means https. Plain http is only accepted for loopback hosts,
    because tokens and codes would otherwise travel in clear.
    """
    raw = domain.strip().rstrip("/")
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"zitadel_domain {domain!r} is not a host or an http(s) origin")
    if parts.path or parts.query or parts.fragment:
        raise ValueError("zitadel_domain must be a host or origin without a path")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ValueError("zitadel_domain may use plain http only for localhost, 127.0.0.1 or ::1")
    return f"{parts.scheme}://{parts.netloc}"
