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
KNOWN_GAPS = {
    # Passes since the Dropped card got its own provider; kept non-strict until proven stable.
    "test_read_only_file_system_at_start_then_writable": "recovery from a read-only start",
    # Fixed for SQLite (the Dropped card has its own provider now); the PostgreSQL
    # outage tests still fail for reasons not yet diagnosed beyond that.
    "test_database_down_at_start_then_up": "no Dropped card while storage is down",
    "test_server_restarted_under_load": "no Dropped card while storage is down",
    # The storage panel only reflects reads: it says "Connected" while every write fails.
    "test_full_disk_drops_are_counted_and_writes_resume": "storage panel hides write failures",
    "test_write_lock_held_by_another_process": "storage panel hides write failures",
    # storage/sqlite*.py: SQLite keeps writing to the unlinked file; entries are lost.
    "test_file_deleted_mid_run_is_recreated": "deleted SQLite file is never recreated",
    # storage/postgres_schema.py: conn.transaction() inside a manual BEGIN raises.
    "test_fresh_database_without_pg_trgm": "cannot open a database without pg_trgm",
    # auth/browser.py: the login router is not built with the dashboard's FlareRoute.
    "test_login_routes_carry_security_headers": "login routes lack security headers",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the known gaps as expected failures (non-strict: a fix makes them pass)."""
    for item in items:
        reason = KNOWN_GAPS.get(getattr(item, "originalname", item.name))
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
