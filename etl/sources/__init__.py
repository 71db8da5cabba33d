"""Event sources: what they give (one record type for all) and how they fail."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.sources.timezones import STATE_TIMEZONES
from etl.sources.titles import names_in_title
from shared.links import is_web_link
from shared.names import clean_text

logger = logging.getLogger(__name__)

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
    """An event lacks what a concert needs (id, venue, start, performers) or has it garbled.

    Its `reason` is how the skip is counted; the subclasses are events that are well formed but
    cannot be listed, counted apart from the garbled ones.
    """

    reason = "malformed"


class DateUnknownError(MalformedEvent):
    """The source says the show's date is still to be determined: no date window can hold it."""

    reason = "date to be determined"


class OutsideUSError(MalformedEvent):
    """The venue is outside the United States, which Local Shows does not cover."""

    reason = "outside the US"


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
    # Read out of the event's title because the listing named no performers: a guess at a
    # name, so the matcher takes exact matches only.
    from_title: bool = False


@dataclass(frozen=True)
class Event:
    """An event as any source lists it."""

    source: str
    event_id: str
    title: str
    url: str
    starts_at: datetime  # UTC, timezone-aware; local midnight when the time is not known yet
    # ISO 8601 without offset, as the venue's clock shows it; the date alone ("2026-12-05")
    # when the time is not known yet.
    starts_at_local: str
    time_tbd: bool
    venue: Venue
    performers: tuple[Performer, ...]
    genres: tuple[str, ...] = ()


@dataclass
class StateFetch:
    """What one source gave for one state: its events, and what it skipped or dropped, and why."""

    source: str
    state: str
    events: list[Event] = field(default_factory=list)
    skipped_reasons: Counter[str] = field(default_factory=Counter)  # reason -> events skipped
    notes: Counter[str] = field(default_factory=Counter)  # kept events' oddities, e.g. a bad URL
    truncated: int = 0  # events past what the source lets us page through
    requests: int = 0

    @property
    def skipped(self) -> int:
        """Return how many events were skipped, whatever the reason."""
        return sum(self.skipped_reasons.values())


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


def clean(value: Any) -> str:
    """Return a name or title a source sent as one clean line: no controls, no bidi overrides.

    Sources pass on whatever their data holds; a NUL or an unclosed U+202E in a name would reach
    the datasets, our pages and the playlist descriptions we write.
    """
    return clean_text(str(value or "")).strip()


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


def as_list(value: Any) -> list[Any]:
    """Return value when it is a JSON array, else an empty one (odd shapes are not a crash)."""
    return value if isinstance(value, list) else []


def safe_url(value: Any, what: str, notes: Counter[str] | None = None) -> str:
    """Return an absolute http(s) URL as given, else '' (logged and noted): only those are links.

    A source sends whatever its data holds; a `javascript:` or `data:` URL must never become a
    link on our pages.
    """
    text = str(value or "").strip()
    if not text:
        return ""
    if is_web_link(text):
        return text
    logger.warning("dropped an event URL that is not http(s)", extra={"event": what})
    if notes is not None:
        notes["url not http(s), dropped"] += 1
    return ""


US_COUNTRIES = {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}


def venue_state(state: Any, country: Any, queried_state: str, what: str) -> str:
    """Return a venue's state code: its own, else the state queried for a US venue.

    OutsideUSError for a venue in another country; MalformedEvent when no state is known.
    """
    country_text = str(country or "").strip().upper()
    if country_text and country_text not in US_COUNTRIES:
        raise OutsideUSError(f"{what}: venue in {country!r}")
    if isinstance(state, str) and state.strip():
        return state.strip().upper()
    if queried_state:
        return queried_state.upper()
    raise MalformedEvent(f"{what}: venue without a state")


def venue_zone(names: list[Any], state: str, what: str) -> tuple[str, ZoneInfo]:
    """Return the first usable time zone of names (venue's, event's), else the state's main one.

    Never UTC by default: a US show placed in UTC is listed on the wrong day.
    """
    for name in [*names, STATE_TIMEZONES.get(state)]:
        if isinstance(name, str) and name:
            try:
                return name, ZoneInfo(name)
            except (ValueError, ZoneInfoNotFoundError):
                continue
    raise MalformedEvent(f"{what}: no time zone for a venue in {state!r}")


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the start of a day on a venue's clock, in UTC (where a show with no time sorts)."""
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def performers_from_title(title: str) -> tuple[Performer, ...]:
    """Return the performers an event's title names, marked as read from it, headliner first."""
    return tuple(
        Performer(
            performer_id="",
            name=name,
            is_headliner=order == 0,
            billing_order=order + 1,
            from_title=True,
        )
        for order, name in enumerate(names_in_title(title))
    )
