"""Short human-readable numbers for charts, cards and tables (plain text, escaped later)."""

from __future__ import annotations

import math
from datetime import datetime


def format_latency(seconds: float | None) -> str:
    """``0.42 ms``, ``8.5 ms``, ``120 ms``, ``1.25 s``; an em dash when unknown."""
    if seconds is None or math.isnan(seconds):
        return "—"
    ms = seconds * 1000
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def format_rate(share: float | None) -> str:
    """A share as a percentage: ``0 %``, ``0.05 %``, ``1.7 %``, ``25 %``."""
    if share is None:
        return "—"
    percent = share * 100
    if percent == 0:
        return "0 %"
    if percent < 0.1:
        return f"{percent:.2f} %"
    if percent < 10:
        return f"{percent:.1f} %"
    return f"{percent:.0f} %"


def format_count(value: float) -> str:
    """``7``, ``2.5``, ``1.2k``, ``3.4M`` (axis labels and rates)."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    if value >= 100:
        return f"{value:.0f}"
    text = f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (1 for nothing)."""
    if value <= 0 or math.isnan(value):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= value * (1 - 1e-12):
            return factor * magnitude
    return 10 * magnitude


def tick_count(top: float) -> int:
    """Intervals on an axis ending at ``top`` (a ``nice_ceiling``) so every label is round."""
    magnitude = 10.0 ** math.floor(math.log10(top))
    leading = round(top / magnitude, 3)
    return 4 if leading in (2.0, 4.0) else 5


def bucket_label(start: datetime, seconds: int) -> str:
    """``14:05 UTC``, ``Tue 14:00–14:15 UTC`` or ``Tue 02 Jun 14:00–15:00 UTC``."""
    end = datetime.fromtimestamp(start.timestamp() + seconds, start.tzinfo)
    if seconds <= 60:
        return f"{start:%H:%M} UTC"
    if seconds < 3600:
        return f"{start:%a %H:%M}–{end:%H:%M} UTC"
    return f"{start:%a %d %b %H:%M}–{end:%H:%M} UTC"
