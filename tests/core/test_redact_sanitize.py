"""Masking and sanitising: pure functions, no I/O."""

from __future__ import annotations

import pytest

from fastapi_flare.capture.context import sane_request_id
from fastapi_flare.capture.fingerprint import normalise_message
from fastapi_flare.capture.redact import Redactor
from fastapi_flare.capture.sanitize import Sanitizer, cap_text, clean_text


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "cookie",
        "X-API-Key",
        "x-refresh-token",
        "client_secret",
        "DB_PASSWORD",
        "passwd",
        "apiKey",
        "session_id",
        "X-Amz-Signature",
        "private_key",
    ],
)
def test_secret_names_are_detected(name: str) -> None:
    assert Redactor().is_secret(name)


@pytest.mark.parametrize(
    "name", ["accept", "user-agent", "content-type", "keyword", "order_id", "amount"]
)
def test_ordinary_names_are_kept(name: str) -> None:
    assert not Redactor().is_secret(name)


def test_extra_names_are_configurable() -> None:
    redactor = Redactor(extra_headers=["X-Tenant"], extra_fields=["ssn"])
    assert redactor.is_secret("x-tenant")
    assert redactor.is_secret("SSN")


def test_repeated_headers_are_joined_and_masked() -> None:
    headers = Redactor().headers(
        [(b"accept", b"a"), (b"accept", b"b"), (b"cookie", b"s=1"), (b"cookie", b"t=2")]
    )
    assert headers == {"accept": "a, b", "cookie": "[redacted], [redacted]"}


def test_query_string_masking_keeps_other_parameters() -> None:
    masked = Redactor().query_string("q=shoes&password=x&page=2&access_token=y")
    assert masked == "q=shoes&password=[redacted]&page=2&access_token=[redacted]"


def test_nested_secrets_are_masked_recursively() -> None:
    data = Sanitizer(Redactor(), 10_000).mapping(
        {
            "user": {"name": "ann", "credentials": {"x": 1}, "tokens": ["a", "b"]},
            "list": [{"api_key": "k"}],
        }
    )
    assert data == {
        "user": {"name": "ann", "credentials": "[redacted]", "tokens": "[redacted]"},
        "list": [{"api_key": "[redacted]"}],
    }


def test_non_dict_values_are_wrapped() -> None:
    assert Sanitizer(Redactor(), 1000).mapping([1, 2]) == {"value": [1, 2]}


def test_cap_and_clean_text() -> None:
    assert cap_text("abcdef", 3) == "abc…[truncated 3 chars]"
    assert cap_text("abc", 3) == "abc"
    assert clean_text("a\x00b\ud800c", 100) == "a\\x00b\\ud800c"


def test_request_id_rules() -> None:
    assert sane_request_id(b"abc-123") == "abc-123"
    for bad in (None, b"", b"x" * 129, b"tab\tin", b"caf\xc3\xa9", b" padded "):
        generated = sane_request_id(bad)
        assert len(generated) == 36 and generated.count("-") == 4


def test_message_normalisation() -> None:
    a = normalise_message("User 42 (ann@example.com) failed order 7f3a9c21e8 at 'Paris'")
    b = normalise_message("User 977 (bob@corp.io) failed order 00ab12cd34ef at 'Lyon'")
    assert a == b == "User <n> (<email>) failed order <hex> at <str>"
    assert normalise_message("id 123e4567-e89b-12d3-a456-426614174000 gone") == "id <uuid> gone"
