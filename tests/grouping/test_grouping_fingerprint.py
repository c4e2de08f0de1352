"""Fingerprints: what makes two entries the same problem, and what keeps them apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from fastapi_flare.capture.fingerprint import (
    exception_fingerprint,
    fingerprint_for,
    fingerprint_of,
    http_fingerprint,
    message_fingerprint,
    normalise_message,
)
from fastapi_flare.schema import FlareLogEntry

VARIANTS = [
    "User 42 (ann@example.com) failed order 7f3a9c21e8 for 'Paris' in 1.5 s, request 123e4567-e89b-12d3-a456-426614174000",
    "User 977 (bob.smith+x@corp.example.io) failed order 00ab12cd34ef for 'Lyon' in 12 s, request 6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    'User 1 (c@d.fr) failed order 0xdeadbeef for "Saint-Étienne" in 0.25 s, request 550E8400-E29B-41D4-A716-446655440000',
    "User 18446744073709551616 (q@q.io) failed order 9c8b7a6f5e4d3c2b for '' in 3 s, request 00000000-0000-0000-0000-000000000001",
    "User   7   (e@f.gh)   failed order   deadbeef1234   for 'Metz'  in 7 s, request a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
]


def test_variants_of_one_message_normalise_alike() -> None:
    assert {normalise_message(text) for text in VARIANTS} == {
        "User <n> (<email>) failed order <hex> for <str> in <n> s, request <uuid>"
    }
    assert len({message_fingerprint("checkout", text) for text in VARIANTS}) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Item 5 not found", "Item 123456 not found"),
        ("timeout after 30.5s on db-7", "timeout after 2.25s on db-12"),
        (
            "token 550e8400-e29b-41d4-a716-446655440000 expired",
            "token 6ba7b810-9dad-11d1-80b4-00c04fd430c8 expired",
        ),
        ("KeyError: 'user_123'", "KeyError: 'order_9'"),
        ("can't reach 'db1'", "can't reach 'db2'"),
        ("object at 0x7f3a2b1c9d80 is closed", "object at 0x7f00aa00bb11 is closed"),
        ("request req_8f7a6b5c4d failed", "request req_1a2b3c4d5e failed"),
    ],
)
def test_variable_parts_do_not_split_an_issue(a: str, b: str) -> None:
    assert message_fingerprint("e", a) == message_fingerprint("e", b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Item 5 not found", "Item 5 deleted"),
        ("can't reach 'db1'", "cannot parse 'db1'"),
        ("card declined", "card expired"),
    ],
)
def test_different_messages_are_different_issues(a: str, b: str) -> None:
    assert message_fingerprint("e", a) != message_fingerprint("e", b)
    assert message_fingerprint("e1", a) != message_fingerprint("e2", a)


def test_long_messages_group_however_long_their_numbers() -> None:
    prefix = "x " * 300
    assert normalise_message(prefix + "id 1") == normalise_message(prefix + "id 1234567890123")


def _lookup(key: str) -> Any:
    if key == "odd":
        raise KeyError(f"missing {key}")  # a different line than the one below
    raise KeyError(f"no such key {key!r}")


def _handler(key: str) -> Any:
    return _lookup(key)


def _other_handler(key: str) -> Any:
    return _lookup(key)


def _recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("too deep")
    _recurse(depth - 1)


def _caught(call: Any, *args: Any) -> BaseException:
    try:
        call(*args)
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_exceptions_group_by_type_and_in_app_frames_not_lines_or_messages() -> None:
    same = {
        exception_fingerprint(_caught(_handler, key), "message")
        for key in ("odd", "even", "user-42", "ann@example.com")
    }
    assert len(same) == 1
    assert exception_fingerprint(_caught(_other_handler, "odd"), "m") not in same  # other stack
    assert exception_fingerprint(_caught(_recurse, 3), "a") == exception_fingerprint(
        _caught(_recurse, 30), "b"
    )


def test_library_frames_and_type_shape_the_fingerprint() -> None:
    def parse(text: str) -> Any:
        return json.loads(text)  # frames inside the json module are library code

    short, long = _caught(parse, "{"), _caught(parse, '{"a": [1, 2, 3, }')
    assert exception_fingerprint(short, "x") == exception_fingerprint(long, "y")
    assert exception_fingerprint(_caught(parse, "{"), "") != exception_fingerprint(
        _caught(_handler, "k"), ""
    )


def test_http_errors_group_by_status_route_and_type() -> None:
    base = http_fingerprint(404, "GET", "/items/{item_id}", "fastapi.HTTPException")
    assert base == http_fingerprint(404, "GET", "/items/{item_id}", "fastapi.HTTPException")
    assert base != http_fingerprint(410, "GET", "/items/{item_id}", "fastapi.HTTPException")
    assert base != http_fingerprint(404, "GET", "/users/{user_id}", "fastapi.HTTPException")
    assert base != http_fingerprint(404, "GET", "/items/{item_id}", "")
    assert http_fingerprint(404, "GET", None, "") == http_fingerprint(404, "GET", None, "")


def _entry(**fields: Any) -> FlareLogEntry:
    values: dict[str, Any] = {
        "timestamp": datetime(2030, 1, 1, tzinfo=UTC),
        "level": "ERROR",
        "event": "custom",
        "message": "m",
    }
    values.update(fields)
    return FlareLogEntry(**values)


def test_fingerprint_for_each_kind_of_entry() -> None:
    http = _entry(event="http_exception", http_status=404, http_method="GET", route="/i/{x}")
    assert fingerprint_for(http, None, from_request=True) == http_fingerprint(
        404, "GET", "/i/{x}", ""
    )
    exc = _caught(_handler, "k")
    crash = _entry(event="unhandled_exception", http_status=500, route="/i/{x}")
    assert fingerprint_for(crash, exc, from_request=True) == exception_fingerprint(exc, "m")
    custom = _entry(event="payment_failed", message="Card 4242 declined")
    assert fingerprint_for(custom, None, from_request=False) == message_fingerprint(
        "payment_failed", "Card 1111 declined"
    )


def test_fingerprint_of_keeps_an_explicit_one_and_derives_the_rest() -> None:
    assert fingerprint_of(_entry(fingerprint="checkout-timeout")) == "checkout-timeout"
    plain = [_entry(http_status=404, http_method="GET", endpoint=f"/items/{i}") for i in (1, 22)]
    assert fingerprint_of(plain[0]) == fingerprint_of(plain[1])
    assert fingerprint_of(_entry(message="a 1")) == fingerprint_of(_entry(message="a 2"))
