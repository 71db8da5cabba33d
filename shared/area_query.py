"""An area's choices (AreaQuery), read from a form: each value checked, each mistake named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from shared.places import short_day, state_label
from shared.shows_data import ShowsData
from shared.text import clean_name

DAY_CHOICES = (7, 14, 30, 90)
DEFAULT_DAYS = 30
MAX_RADIUS_MILES = 250
MAX_WINDOW_DAYS = 366
# The sources list shows about a year ahead; a date past this is a typo, and far dates overflow
# both Python's datetime (year 9999) and pandas' Timestamp (year 2262).
MAX_DAYS_AHEAD = 3 * 366
MAX_TEXT = 100
# The playlist's mix of artists the person knows and artists new to them (issue 17): the share
# of the playlist's artists that are known. "" plays everyone, as the shows come.
MIXES = {
    "": "Everyone playing",
    "all_known": "Only artists I know",
    "mostly_known": "Mostly artists I know",
    "half": "Half known, half new",
    "mostly_new": "Mostly new to me",
    "all_new": "Only artists new to me",
}
KNOWN_SHARE = {
    "all_known": 1.0,
    "mostly_known": 0.75,
    "half": 0.5,
    "mostly_new": 0.25,
    "all_new": 0.0,
}


class FormError(ValueError):
    """A form value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class AreaQuery:
    """Where, when and what: the choices of the area form."""

    state: str
    city: str = ""
    radius_miles: int = 0
    days: int | None = DEFAULT_DAYS
    date_from: date | None = None
    date_to: date | None = None
    genres: tuple[str, ...] = ()
    tracks_per_artist: int = 3
    headliners_only: bool = False
    known_only: bool = False  # only the shows of artists the person knows (their taste)
    mix: str = ""  # a key of MIXES

    @property
    def uses_taste(self) -> bool:
        """Tell whether the choices need the person's taste profile."""
        return self.known_only or bool(self.mix)

    def window(self, today: date) -> tuple[date, date]:
        """Return the first and last day of the shows wanted."""
        if self.date_from is not None and self.date_to is not None:
            return self.date_from, self.date_to
        return today, today + timedelta(days=(self.days or DEFAULT_DAYS) - 1)

    @property
    def area_label(self) -> str:
        """Name the area: 'Brooklyn, NY', 'Brooklyn, NY +25 mi', or 'New York (NY)'."""
        if not self.city:
            return state_label(self.state)
        label = f"{self.city}, {self.state}"
        return f"{label} +{self.radius_miles} mi" if self.radius_miles else label

    def window_label(self, today: date) -> str:
        """Say the dates chosen: "next 30 days", or "Nov 24 to Dec 3" for dates of one's own."""
        if self.date_from is not None and self.date_to is not None:
            first, last = self.window(today)
            return f"{short_day(first)} to {short_day(last)}"
        return f"next {self.days or DEFAULT_DAYS} days"

    def as_form(self) -> dict[str, Any]:
        """Return the query as form values, to fill the form and the create button's fields."""
        values: dict[str, Any] = {
            "state": self.state,
            "city": self.city,
            "tracks": str(self.tracks_per_artist),
        }
        if self.radius_miles:
            values["radius"] = str(self.radius_miles)
        if self.date_from and self.date_to:
            values.update({"from": self.date_from.isoformat(), "to": self.date_to.isoformat()})
        else:
            values["days"] = str(self.days)
        if self.genres:
            values["genre"] = list(self.genres)
        if self.headliners_only:
            values["headliners"] = "1"
        if self.known_only:
            values["known"] = "1"
        if self.mix:
            values["mix"] = self.mix
        return values


def _text(value: Any, name: str) -> str:
    text = clean_name(value or "").strip()
    if len(text) > MAX_TEXT:
        raise FormError(f"{name} is too long (at most {MAX_TEXT} characters)")
    return text


def _whole(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise FormError(f"{name} must be a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise FormError(f"{name} must be from {low} to {high}, not {number}")
    return number


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FormError(f"{name} must be a date like 2026-12-31") from None


def _dates(raw_from: str, raw_to: str, today: date) -> tuple[date, date]:
    """Read a from-to window: not past, not reversed, at most a year long, not too far ahead."""
    date_from, date_to = _day(raw_from, "From"), _day(raw_to, "To")
    if date_to < date_from:
        raise FormError("The 'to' date is before the 'from' date")
    if date_to < today:
        raise FormError("Those dates are past: pick dates from today on")
    if date_to > today + timedelta(days=MAX_DAYS_AHEAD):
        raise FormError(
            f"Those dates are too far ahead: pick dates until "
            f"{today + timedelta(days=MAX_DAYS_AHEAD):%Y-%m-%d}"
        )
    if (date_to - date_from).days >= MAX_WINDOW_DAYS:
        raise FormError(f"Pick at most {MAX_WINDOW_DAYS} days")
    return max(date_from, today), date_to


def parse_area(form: Mapping[str, Any], getlist: Any, data: ShowsData, today: date) -> AreaQuery:
    """Read the area form; FormError names the first value that cannot be used."""
    state = _text(form.get("state"), "State").upper()
    if not state:
        raise FormError("Pick a state")
    if state not in data.states:
        raise FormError(f"There are no upcoming shows in {state!r}: pick a state from the list")
    city = _text(form.get("city"), "City")
    cities = [name for name, _, _ in data.states[state].cities]
    if city and city.casefold() not in {c.casefold() for c in cities}:
        raise FormError(f"No shows are listed in {city!r}, {state}: pick a city from the list")
    radius = _whole(
        _text(form.get("radius") or "0", "Radius"), "Radius (miles)", 0, MAX_RADIUS_MILES
    )
    if radius and not city:
        raise FormError("A radius needs a city to measure from")
    tracks = _whole(_text(form.get("tracks") or "3", "Tracks"), "Tracks per artist", 1, 5)
    raw_from, raw_to = _text(form.get("from"), "From"), _text(form.get("to"), "To")
    days: int | None = None
    date_from = date_to = None
    if raw_from or raw_to:
        if not (raw_from and raw_to):
            raise FormError("Give both dates, from and to, or pick a number of days")
        date_from, date_to = _dates(raw_from, raw_to, today)
    else:
        days = _whole(_text(form.get("days") or str(DEFAULT_DAYS), "Days"), "Days", 1, 366)
        if days not in DAY_CHOICES:
            raise FormError(f"Days must be one of {', '.join(map(str, DAY_CHOICES))}")
    genres = tuple(sorted({_text(g, "Genre").lower() for g in getlist("genre") if str(g).strip()}))
    if len(genres) > 30:
        raise FormError("Pick at most 30 genres")
    mix = _text(form.get("mix"), "Mix")
    if mix not in MIXES:
        raise FormError(f"Mix must be one of: {', '.join(repr(m) for m in MIXES if m)}")
    canonical_city = next((c for c in cities if c.casefold() == city.casefold()), "")
    return AreaQuery(
        state,
        canonical_city,
        radius,
        days,
        date_from,
        date_to,
        genres,
        tracks,
        bool(form.get("headliners")),
        bool(form.get("known")),
        mix,
    )
