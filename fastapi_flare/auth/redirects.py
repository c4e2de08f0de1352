"""Where a login may send the browser back to: same-origin dashboard paths only."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

MAX_NEXT_CHARS = 2048


def safe_next(target: str | None, dashboard_path: str, exclude: Iterable[str] = ()) -> str:
    """Return ``target`` if it is a relative path under ``dashboard_path``, else the dashboard.

    Anything a browser could resolve to another origin is refused: absolute
    URLs, scheme-relative ``//host``, backslashes (``/\\host``), control
    characters, encoded slashes or dots that climb out of the dashboard.
    """
    if not target or len(target) > MAX_NEXT_CHARS:
        return dashboard_path
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return dashboard_path
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return dashboard_path
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.fragment:
        return dashboard_path
    path = parts.path
    decoded = unquote(path)
    if "\\" in decoded or "//" in decoded or any(ord(ch) < 32 for ch in decoded):
        return dashboard_path
    if any(segment in (".", "..") for segment in decoded.split("/")):
        return dashboard_path
    if path != dashboard_path and not path.startswith(dashboard_path + "/"):
        return dashboard_path
    # Never bounce back into the login machinery itself.
    if path.startswith(dashboard_path + "/auth/") or path in exclude:
        return dashboard_path
    return target
