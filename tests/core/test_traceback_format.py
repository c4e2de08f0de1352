"""Flare's traceback text is Python's own, minus the ``^^^`` marker lines."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable

import pytest

from fastapi_flare.capture import entries, fingerprint
from fastapi_flare.capture.entries import format_exception
from fastapi_flare.capture.fingerprint import exception_fingerprint

# Lines made only of the stdlib's position markers (``^``, ``~``): Flare leaves them out.
MARKERS = re.compile(r"^\s*[~^]+\s*$")


class PaymentDeclined(Exception):
    """An app-defined exception: printed with its module."""


def stdlib_text(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception(exc)).splitlines(keepends=True)
    return "".join(line for line in lines if not MARKERS.match(line))


def caught(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("no exception")


def nested() -> None:
    def inner(values: dict[str, int]) -> int:
        return values["missing"] + 1

    inner({})


def chained() -> None:
    try:
        nested()
    except KeyError as exc:
        raise PaymentDeclined("card 4242 declined") from exc


def during_handling() -> None:
    try:
        1 / 0  # noqa: B018 - the ZeroDivisionError is the point
    except ZeroDivisionError:
        raise ValueError("while handling")  # noqa: B904 - the implicit context is the point


def recursive(depth: int) -> int:
    if depth == 0:
        raise RecursionError("bottom")
    return recursive(depth - 1) + 1


def with_notes() -> None:
    exc = PaymentDeclined("noted")
    exc.add_note("order ord_1")
    exc.add_note("retry in 30 s")
    raise exc


@pytest.mark.parametrize(
    "fn",
    [nested, chained, during_handling, lambda: recursive(40), with_notes],
    ids=["nested", "cause", "context", "recursion", "notes"],
)
def test_text_matches_the_standard_library_without_markers(fn: Callable[[], object]) -> None:
    exc = caught(fn)
    assert format_exception(exc) == stdlib_text(exc)
    # Formatting the same exception again (its frames now cached) gives the same text.
    assert format_exception(exc) == stdlib_text(exc)


def test_frame_caches_stay_bounded_and_change_nothing() -> None:
    exc = caught(chained)  # six distinct frames over two tracebacks
    fingerprint_before = exception_fingerprint(exc, "m")
    assert entries._frame_text.cache_info().maxsize == fingerprint.MAX_CACHED_FRAMES
    assert fingerprint._code_label.cache_info().maxsize == fingerprint.MAX_CACHED_FRAMES
    for _ in range(3):
        assert format_exception(exc) == stdlib_text(exc)
        assert exception_fingerprint(exc, "m") == fingerprint_before
        entries._frame_text.cache_clear()
        fingerprint._code_label.cache_clear()
