"""Fold a batch of saved entries into per-issue counter changes.

Backends apply these changes in the transaction that writes the entries (and
undo them in a trigger on delete), so the issue counters always describe
exactly the entries that exist. Every list is sorted by key: concurrent
transactions then lock rows in the same order and cannot deadlock each other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fastapi_flare.capture.fingerprint import fingerprint_of
from fastapi_flare.grouping.model import (
    HOUR_SECONDS,
    MAX_CULPRIT_CHARS,
    MAX_TITLE_CHARS,
    epoch_hour,
)
from fastapi_flare.schema import FlareLogEntry, Level
from fastapi_flare.storage._common import clean_text
from fastapi_flare.storage.extensions import SavedLog

# (row id, fingerprint as stored, entry)
Keyed = tuple[int, str, FlareLogEntry]


def issue_title(entry: FlareLogEntry) -> str:
    """The exception line for exceptions, else the message (first line, capped)."""
    text = entry.error if entry.error and entry.stack_trace else entry.message
    text = text or entry.error or entry.event
    first_line = text.strip().split("\n", 1)[0]
    return clean_text(first_line[:MAX_TITLE_CHARS] or entry.event[:MAX_TITLE_CHARS])


def issue_culprit(entry: FlareLogEntry) -> str:
    """Where it happened: ``GET /items/{item_id}``, the raw endpoint, or nothing."""
    where = entry.route or entry.endpoint or ""
    if where and entry.http_method:
        where = f"{entry.http_method} {where}"
    return clean_text(where[:MAX_CULPRIT_CHARS])


@dataclass(slots=True)
class IssueDelta:
    """What one batch adds to one issue; title, event and level come from its latest entry.

    The latest entry is the one with the newest timestamp (the highest row id among
    equal timestamps): ``latest_id`` always points at the ``last_seen`` occurrence.
    """

    fingerprint: str
    title: str
    culprit: str
    event: str
    level: Level
    count: int
    first_seen: datetime
    last_seen: datetime
    latest_id: int
    ips: dict[str, int] = field(default_factory=dict)
    hours: dict[int, int] = field(default_factory=dict)


def _hour(moment: datetime) -> int:
    """``epoch_hour`` for the hot loop: the float timestamp, exact away from hour edges.

    A float timestamp is off by far less than a second, so only a whole second that
    touches an hour boundary can land in the wrong hour; those take the exact path.
    """
    whole = math.floor(moment.timestamp())
    if whole % HOUR_SECONDS in (0, HOUR_SECONDS - 1):
        return epoch_hour(moment)
    return whole // HOUR_SECONDS


def keyed(saved: Sequence[SavedLog]) -> list[Keyed]:
    """Saved entries with the fingerprint their row holds (derived when they had none)."""
    return [(item.id, clean_text(fingerprint_of(item.entry)), item.entry) for item in saved]


@dataclass(slots=True)
class _Tally:
    count: int
    first_seen: datetime
    last_seen: datetime
    latest_id: int
    latest: FlareLogEntry
    ips: dict[str, int] = field(default_factory=dict)
    hours: dict[int, int] = field(default_factory=dict)


def deltas_for(entries: Iterable[Keyed]) -> list[IssueDelta]:
    """Per-fingerprint additions for saved entries, sorted by fingerprint.

    Runs inside the write transaction for every entry, so it only counts; texts are
    cleaned once per issue and per IP at the end.
    """
    tallies: dict[str, _Tally] = {}
    for row_id, fingerprint, entry in entries:
        moment = entry.timestamp
        tally = tallies.get(fingerprint)
        if tally is None:
            tally = tallies[fingerprint] = _Tally(0, moment, moment, row_id, entry)
        tally.count += 1
        if moment < tally.first_seen:
            tally.first_seen = moment
        if (moment, row_id) >= (tally.last_seen, tally.latest_id):
            tally.last_seen, tally.latest_id, tally.latest = moment, row_id, entry
        ip = entry.ip_address
        if ip:
            tally.ips[ip] = tally.ips.get(ip, 0) + 1
        hour = _hour(moment)
        tally.hours[hour] = tally.hours.get(hour, 0) + 1
    deltas = []
    for fingerprint in sorted(tallies):
        tally = tallies[fingerprint]
        ips: dict[str, int] = {}
        for ip, n in tally.ips.items():
            key = clean_text(ip)
            ips[key] = ips.get(key, 0) + n
        latest = tally.latest
        deltas.append(
            IssueDelta(
                fingerprint=fingerprint,
                title=issue_title(latest),
                culprit=issue_culprit(latest),
                event=clean_text(latest.event),
                level=latest.level,
                count=tally.count,
                first_seen=tally.first_seen,
                last_seen=tally.last_seen,
                latest_id=tally.latest_id,
                ips=ips,
                hours=tally.hours,
            )
        )
    return deltas


def ip_rows(deltas: Sequence[IssueDelta]) -> list[tuple[str, str, int]]:
    """(fingerprint, ip, count) rows in lock order."""
    return [(d.fingerprint, ip, n) for d in deltas for ip, n in sorted(d.ips.items())]


def hour_rows(deltas: Sequence[IssueDelta]) -> list[tuple[str, int, int]]:
    """(fingerprint, hour, count) rows in lock order."""
    return [(d.fingerprint, hour, n) for d in deltas for hour, n in sorted(d.hours.items())]
