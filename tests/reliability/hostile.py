"""Hypothesis strategies for attacker-controlled data, and the fuzz settings.

Examples are bounded so the whole fuzz run takes seconds (``FLARE_FUZZ_EXAMPLES``
raises the count); no example database is
written (the repository stays clean) and the deadline is off because the machine
is shared and one slow example is not a bug.
"""

from __future__ import annotations

import enum
import json
import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# FLARE_FUZZ_EXAMPLES raises the count for a deeper run; the default keeps `make test` quick.
FUZZ_EXAMPLES = int(os.environ.get("FLARE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# Any code point, lone surrogates and NUL included.
ANY_CHAR = st.characters(codec=None, categories=None)
NASTY_STRINGS = st.sampled_from(
    [
        "",
        "\x00",
        "\ud800",
        "'; DROP TABLE flare_logs; --",
        "%_%",
        "<script>alert(1)</script>",
        "{{ 7*7 }}",
        "../../etc/passwd",
        "\u202e\u0000\uffff",
        "-1",
        "9" * 40,
        "1e999",
        "NaN",
    ]
)
# Short enough to travel in a URL (httpx refuses URLs over 64 kB).
URL_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    NASTY_STRINGS,
    st.integers(1, 3).map(lambda n: "é" * (10**n)),
)
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    NASTY_STRINGS,
    st.integers(1, 6).map(lambda n: "é" * (10**n)),  # up to a million characters
)


class Colour(enum.Enum):
    """An enum value in a context."""

    RED = "red"


class Unprintable:
    """An object whose str() and repr() both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenModel:
    """Looks like a pydantic model, but dumping it raises."""

    def model_dump(self, **_: Any) -> Any:
        raise ValueError("cannot dump")


@dataclass
class Point:
    """A dataclass in a context."""

    x: int
    y: object


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**200), 2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    HOSTILE_TEXT,
    st.binary(max_size=64),
    st.datetimes(timezones=st.just(UTC)) | st.datetimes(),
    st.timedeltas(),
    st.uuids(),
    st.decimals(allow_nan=True),
    st.just(Colour.RED),
    st.builds(Unprintable),
    st.builds(BrokenModel),
    st.builds(PurePosixPath, st.text(max_size=10)),
    st.builds(Point, st.integers(), st.text(max_size=5)),
    st.integers(1, 5).map(lambda n: b"\xff" * (10**n)),
)
KEYS = st.one_of(
    HOSTILE_TEXT,
    st.integers(),
    st.sampled_from(["password", "api_key", "Token", "secret", "", "\x00"]),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.none(),
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists, tuples, sets and dicts with hostile keys."""
    return st.one_of(
        st.lists(children, max_size=6),
        st.tuples(children, children),
        st.frozensets(st.integers() | st.text(max_size=5), max_size=5),
        st.dictionaries(KEYS, children, max_size=6),
    )


VALUES = st.recursive(SCALARS, containers, max_leaves=25)


def deep(depth: int) -> Any:
    """A dict nested ``depth`` levels deep."""
    value: Any = {"leaf": 1}
    for n in range(depth):
        value = {f"level{n}": value}
    return value


def wide(items: int) -> dict[str, Any]:
    """A dict with ``items`` keys."""
    return {f"k{n}": n for n in range(items)}


@st.composite
def contexts(draw: st.DrawFn) -> Any:
    """A push_log context: usually a dict, sometimes not; maybe cyclic, deep or huge."""
    shape = draw(st.sampled_from(["dict", "dict", "dict", "value", "cycle", "deep", "wide"]))
    if shape == "value":
        return draw(VALUES)
    if shape == "deep":
        return deep(draw(st.integers(10, 2000)))
    if shape == "wide":
        return wide(draw(st.integers(100, 20_000)))
    base: dict[Any, Any] = draw(st.dictionaries(KEYS, VALUES, max_size=8))
    if shape == "cycle":
        inner: list[Any] = [base]
        base["self"] = base
        base["list"] = inner
        inner.append(inner)
    return base


def assert_json_capped(value: Any, max_chars: int) -> None:
    """A stored JSON value: plain JSON (no NaN), within ``max_chars`` plus the marker."""
    if value is None:
        return
    encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    json.loads(encoded)
    assert len(encoded) <= max_chars + 200, len(encoded)


def finite(value: Any) -> bool:
    """True when no float in ``value`` is NaN or infinite (strict JSON can hold it)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def now_ish() -> tuple[datetime, datetime]:
    """A window around now, for checking stored timestamps."""
    now = datetime.now(UTC)
    return now - timedelta(minutes=5), now + timedelta(minutes=5)


def unique() -> str:
    """A unique marker."""
    return uuid.uuid4().hex
