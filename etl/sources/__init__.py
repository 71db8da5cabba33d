"""Event sources: what they give (one record type for all) and how they fail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

SPOTIFY_ARTIST = re.compile(r"(?:spotify:artist:|open\.spotify\.com/artist/)([A-Za-z0-9]{22})")


# Date windows: a query that holds too many events is split, first into the next three years
# and what lies beyond, then in halves down to an hour.
NEAR_YEARS = timedelta(days=3 * 365)
FURTHEST_SPLIT = timedelta(days=10 * 365)
SMALLEST_WINDOW = timedelta(hours=1)

Window = tuple[datetime, "datetime | None"]


def split_window(start: datetime, end: datetime | None, *, since: datetime) -> list[Window]:
    """Return the parts of a window that holds too many events, or [] when it is too small."""
    if end is None:
        if start - since > FURTHEST_SPLIT:
            return []
        return [(start, start + NEAR_YEARS), (start + NEAR_YEARS + timedelta(seconds=1), None)]
    if end - start <= SMALLEST_WINDOW:
        return []
    middle = start + (end - start) / 2
    return [(start, middle), (middle + timedelta(seconds=1), end)]


class SourceError(Exception):
    """A source could not give an answer, even after retries."""


class MalformedEvent(ValueError):
    """An event lacks what a concert needs (id, venue, start, performers) or has it garbled."""


@dataclass(frozen=True)
class Venue:
    """Where an event happens."""

    name: str
    city: str
    state: str
    postal_code: str
    lat: float | None
    lon: float | None
    timezone: str


@dataclass(frozen=True)
class Performer:
    """One act on an event's bill."""

    performer_id: str
    name: str
    is_headliner: bool
    billing_order: int
    genres: tuple[str, ...] = ()
    kind: str = ""  # the performer's own type ("band", "comedy"), not the event's
    spotify_artist_id: str = ""


@dataclass(frozen=True)
class Event:
    """An event as any source lists it."""

    source: str
    event_id: str
    title: str
    url: str
    starts_at: datetime  # UTC, timezone-aware; midnight local when the time is not known yet
    starts_at_local: str  # ISO 8601 without offset, as the venue's clock shows it
    time_tbd: bool
    venue: Venue
    performers: tuple[Performer, ...]
    genres: tuple[str, ...] = ()


@dataclass
class StateFetch:
    """What one source gave for one state: its events, the malformed ones it skipped."""

    source: str
    state: str
    events: list[Event] = field(default_factory=list)
    skipped: int = 0
    requests: int = 0


class EventSource(Protocol):
    """A source of upcoming concerts, fetched one state at a time."""

    name: str

    def fetch_state_events(self, state: str, *, since: datetime) -> StateFetch:
        """Return every upcoming concert in a state, paging through all results."""


def require(record: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """Return record[key] when present, non-empty and of the expected type; else MalformedEvent."""
    value = record.get(key) if isinstance(record, dict) else None
    if value is None or value == "" or not isinstance(value, kind):
        raise MalformedEvent(f"{what}: missing or invalid {key!r}")
    return value


def spotify_artist_id_in(text: Any) -> str:
    """Return the Spotify artist id in a URI or URL, or ''."""
    found = SPOTIFY_ARTIST.search(str(text or ""))
    return found.group(1) if found else ""


def to_float(value: Any) -> float | None:
    """Return value as a float, or None when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_dict(value: Any) -> dict[str, Any]:
    """Return value when it is a JSON object, else an empty one (odd shapes are not a crash)."""
    return value if isinstance(value, dict) else {}
