"""Registers the ``slow`` marker the reliability suite's long tests carry."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """``slow``: a multi-process or fault-injection test taking several seconds (< ~30 s)."""
    config.addinivalue_line(
        "markers", "slow: multi-process or fault-injection test (each under ~30 s)"
    )


# Faults that Flare does not yet survive: each test states the behaviour we want and
# stays in the suite, reported as xfail until the fix lands (tracked in the
# reliability issue). Remove a name here once its fix makes it pass.
KNOWN_GAPS = {
    "test_login_routes_carry_security_headers": "login/callback/logout routes lack the dashboard's security headers",
    "test_database_down_at_start_then_up": "PostgreSQL recovery after a start-up outage not yet proven",
    "test_connections_killed_under_load": "PostgreSQL reconnect under load not yet proven",
    "test_server_restarted_under_load": "PostgreSQL server restart under load not yet survived",
    "test_fresh_database_without_pg_trgm": "fallback when pg_trgm cannot be created not yet proven",
    "test_full_disk_drops_are_counted_and_writes_resume": "SQLite writer does not resume after disk-full",
    "test_write_lock_held_by_another_process": "SQLite lock held by another process not yet survived",
    "test_read_only_file_system_at_start_then_writable": "SQLite recovery from a read-only start not yet proven",
    "test_file_deleted_mid_run_is_recreated": "SQLite file deleted mid-run is not recreated",
    "test_sigterm_flushes_every_accepted_entry": "the slowed writer does not yet leave entries pending at SIGTERM",
    "test_sigkill_loses_at_most_the_queue": "the slowed writer does not yet leave entries queued at SIGKILL",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the known gaps as expected failures (non-strict: a fix makes them pass)."""
    for item in items:
        reason = KNOWN_GAPS.get(getattr(item, "originalname", item.name))
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
