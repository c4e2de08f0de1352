"""Registers the ``slow`` marker the reliability suite's long tests carry."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """``slow``: a multi-process or fault-injection test taking several seconds (< ~30 s)."""
    config.addinivalue_line(
        "markers", "slow: multi-process or fault-injection test (each under ~30 s)"
    )


# Behaviour this suite demands that the code does not deliver yet. Each test stays in
# the suite and is reported as xfail (non-strict) until its fix lands; remove its name
# here in the same change as the fix. Diagnoses and patches: docs/reliability.md.
KNOWN_GAPS: dict[str, str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the known gaps as expected failures (non-strict: a fix makes them pass)."""
    for item in items:
        reason = KNOWN_GAPS.get(getattr(item, "originalname", item.name))
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
