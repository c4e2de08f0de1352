"""FlareConfig: spec defaults, env vars, early and clear validation errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fastapi_flare import FlareConfig
from fastapi_flare.config import zitadel_issuer_origin


def test_spec_defaults() -> None:
    config = FlareConfig()
    assert config.storage_backend == "sqlite"
    assert config.sqlite_path == "flare.db"
    assert config.pg_table_name == "flare_logs"
    assert config.max_entries == 10_000
    assert config.retention_hours == 168
    assert config.dashboard_path == "/flare"
    assert config.dashboard_auth_dependency is None
    assert config.track_requests is True
    assert config.track_2xx_requests is False
    assert config.request_max_entries == 1000
    assert config.capture_request_headers is False
    assert config.capture_request_body is False
    assert config.worker_interval_seconds == 5
    assert config.worker_batch_size == 100
    assert config.worker_max_batch_size == 2000


def test_every_spec_variable_is_read_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "FLARE_STORAGE_BACKEND": "postgresql",
        "FLARE_PG_DSN": "postgresql://user:pass%40123@localhost:5432/mydb",
        "FLARE_PG_TABLE_NAME": "flare_logs_checkout",
        "FLARE_SQLITE_PATH": "/data/flare.db",
        "FLARE_RETENTION_HOURS": "72",
        "FLARE_MAX_ENTRIES": "5000",
        "FLARE_DASHBOARD_PATH": "/errors",
        "FLARE_DASHBOARD_TITLE": "Production Errors",
        "FLARE_TRACK_REQUESTS": "true",
        "FLARE_TRACK_2XX_REQUESTS": "true",
        "FLARE_REQUEST_MAX_ENTRIES": "1000",
        "FLARE_CAPTURE_REQUEST_HEADERS": "false",
        "FLARE_WORKER_INTERVAL_SECONDS": "2",
        "FLARE_WORKER_BATCH_SIZE": "250",
        "FLARE_WORKER_MAX_BATCH_SIZE": "5000",
        "FLARE_REDACT_FIELDS": "ssn, card_number",
        "FLARE_ZITADEL_DOMAIN": "auth.mycompany.com",
        "FLARE_ZITADEL_CLIENT_ID": "000000000000000001",
        "FLARE_ZITADEL_PROJECT_ID": "000000000000000002",
        "FLARE_ZITADEL_REDIRECT_URI": "https://myapp.com/flare/callback",
        "FLARE_ZITADEL_SESSION_SECRET": "ab" * 32,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = FlareConfig()
    assert config.storage_backend == "postgresql"
    assert config.pg_dsn == env["FLARE_PG_DSN"]
    assert config.pg_table_name == "flare_logs_checkout"
    assert config.sqlite_path == "/data/flare.db"
    assert config.retention_hours == 72
    assert config.max_entries == 5000
    assert config.dashboard_path == "/errors"
    assert config.dashboard_title == "Production Errors"
    assert config.track_2xx_requests is True
    assert config.worker_interval_seconds == 2
    assert config.worker_batch_size == 250
    assert config.worker_max_batch_size == 5000
    assert config.redact_fields == ["ssn", "card_number"]
    assert config.zitadel_domain == "https://auth.mycompany.com"
    assert config.zitadel_browser_mode is True


def test_code_arguments_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLARE_MAX_ENTRIES", "5000")
    assert FlareConfig(max_entries=42).max_entries == 42


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"storage_backend": "mysql"}, "storage_backend"),
        ({"max_entries": -1}, "max_entries"),
        ({"max_entries": 0}, "max_entries"),
        ({"retention_hours": -5}, "retention_hours"),
        ({"request_max_entries": -1}, "request_max_entries"),
        ({"worker_batch_size": 0}, "worker_batch_size"),
        ({"worker_max_batch_size": -1}, "worker_max_batch_size"),
        ({"queue_max_size": -10}, "queue_max_size"),
        ({"pg_table_name": "logs; DROP TABLE users"}, "pg_table_name"),
        ({"pg_table_name": "1logs"}, "pg_table_name"),
        ({"pg_table_name": "a" * 64}, "pg_table_name"),
        ({"pg_table_name": 'flare"logs'}, "pg_table_name"),
        ({"dashboard_path": "flare"}, "dashboard_path"),
        ({"dashboard_path": "/"}, "dashboard_path"),
        ({"dashboard_path": "/fl are"}, "dashboard_path"),
        ({"unknown_option": 1}, "unknown_option"),
    ],
)
def test_invalid_values_fail_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        FlareConfig(**kwargs)
    assert field in str(info.value)


def test_invalid_env_value_fails_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLARE_MAX_ENTRIES", "lots")
    with pytest.raises(ValidationError, match="max_entries"):
        FlareConfig()


def test_postgresql_needs_a_dsn() -> None:
    with pytest.raises(ValidationError, match="pg_dsn"):
        FlareConfig(storage_backend="postgresql")


def test_dashboard_path_trailing_slash_is_trimmed() -> None:
    assert FlareConfig(dashboard_path="/errors/").dashboard_path == "/errors"


def test_longest_valid_table_name() -> None:
    assert FlareConfig(pg_table_name="_" + "a" * 62).pg_table_name == "_" + "a" * 62


@pytest.mark.parametrize(
    ("domain", "origin"),
    [
        ("auth.mycompany.com", "https://auth.mycompany.com"),
        ("https://auth.mycompany.com/", "https://auth.mycompany.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_zitadel_domain_forms(domain: str, origin: str) -> None:
    assert zitadel_issuer_origin(domain) == origin


@pytest.mark.parametrize(
    "domain", ["http://auth.mycompany.com", "ftp://auth", "https://auth.example.com/path"]
)
def test_zitadel_domain_rejects_insecure_or_odd(domain: str) -> None:
    with pytest.raises(ValidationError, match="zitadel_domain"):
        FlareConfig(zitadel_domain=domain, zitadel_client_id="c", zitadel_project_id="p")
