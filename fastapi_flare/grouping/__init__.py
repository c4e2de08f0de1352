"""Error grouping: one issue per fingerprint, counters kept at write time.

``install_grouping(storage)`` registers the issue tables and hooks with a
storage before it opens; ``issue_store(storage)`` reads and changes issues.
"""

from __future__ import annotations

import weakref
from typing import Any

from fastapi_flare.grouping.model import Issue, IssueChange, IssuePage, IssueQuery
from fastapi_flare.grouping.store import IssueDatabase, IssueStore

__all__ = [
    "Issue",
    "IssueChange",
    "IssuePage",
    "IssueQuery",
    "IssueStore",
    "install_grouping",
    "issue_store",
]

# Storages that already carry the issue extension (setup() and the dashboard may both ask).
_INSTALLED: weakref.WeakSet[Any] = weakref.WeakSet()


def supports_grouping(storage: object) -> bool:
    """True for the built-in SQLite and PostgreSQL storages."""
    return isinstance(storage, IssueDatabase) and storage.backend_name in ("sqlite", "postgresql")


def install_grouping(storage: object) -> bool:
    """Add the issue tables and write hooks to ``storage`` (before ``open()``; idempotent).

    False when the storage cannot hold them (a custom backend).
    """
    if not supports_grouping(storage):
        return False
    assert isinstance(storage, IssueDatabase)
    if storage in _INSTALLED:
        return True
    if storage.backend_name == "postgresql":
        from fastapi_flare.storage import postgres_issues

        storage.add_extension(postgres_issues.extension(getattr(storage, "names")))  # noqa: B009
    else:
        from fastapi_flare.storage import sqlite_issues

        storage.add_extension(sqlite_issues.extension())
    _INSTALLED.add(storage)
    return True


def issue_store(storage: object) -> IssueStore | None:
    """The issue store beside ``storage``, or None for a backend without issue tables."""
    if not supports_grouping(storage):
        return None
    assert isinstance(storage, IssueDatabase)
    if storage.backend_name == "postgresql":
        from fastapi_flare.storage import postgres_issues

        return postgres_issues.issue_store(storage, getattr(storage, "names"))  # noqa: B009
    from fastapi_flare.storage import sqlite_issues

    return sqlite_issues.issue_store(storage)
