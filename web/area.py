"""An area and dates: read them from a form, pick the shows, and plan the playlist. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from web.data import ShowsData, Track, miles_from
from web.places import short_day, state_label
from web.text import clean_name

DAY_CHOICES = (7, 14, 30, 90)
DEFAULT_DAYS = 30
MAX_RADIUS_MILES = 250
MAX_WINDOW_DAYS = 366
# The sources list shows about a year ahead; a date past this is a typo, and far dates overflow
# both Python's datetime (year 9999) and pandas' Timestamp (year 2262).
MAX_DAYS_AHEAD = 3 * 366
MAX_TEXT = 100
MAX_TRACKS = 1000  # a playlist this long is already 60+ hours of music
DESCRIPTION_LIMIT = 300
NAME_PREFIX = "Local Shows: "


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
    if state not in data.by_state:
        raise FormError(f"There are no upcoming shows in {state!r}: pick a state from the list")
    city = _text(form.get("city"), "City")
    if city and city.casefold() not in {
        str(c).casefold() for c in data.by_state[state]["venue_city"].unique()
    }:
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
    canonical_city = next(
        (
            str(c)
            for c in data.by_state[state]["venue_city"].unique()
            if str(c).casefold() == city.casefold()
        ),
        "",
    )
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
    )


def _in_area(data: ShowsData, query: AreaQuery) -> pd.DataFrame:
    rows = data.by_state[query.state]
    if query.city and query.radius_miles:
        here = rows[rows["venue_city"] == query.city]
        lat, lon = float(here["venue_lat"].mean()), float(here["venue_lon"].mean())
        everywhere = data.concerts
        near = (
            miles_from(lat, lon, everywhere["venue_lat"], everywhere["venue_lon"])
            <= query.radius_miles
        )
        return everywhere[near]
    if query.city:
        return rows[rows["venue_city"] == query.city]
    return rows


def _in_window(rows: pd.DataFrame, query: AreaQuery, today: date) -> pd.DataFrame:
    first, last = query.window(today)
    start = pd.Timestamp(datetime.combine(first, time.min, UTC))
    end = pd.Timestamp(datetime.combine(last + timedelta(days=1), time.min, UTC)) + pd.Timedelta(
        hours=10
    )
    # Local evenings in US time zones fall on the next UTC day: compare local dates when known.
    local_day = rows["local_day"]
    in_days = (local_day >= int(f"{first:%Y%m%d}")) & (local_day <= int(f"{last:%Y%m%d}"))
    return rows[
        in_days & (rows["starts"] >= start - pd.Timedelta(hours=14)) & (rows["starts"] < end)
    ]


def select_shows(
    data: ShowsData, query: AreaQuery, today: date, *, with_genres: bool = True
) -> pd.DataFrame:
    """Return the concert rows in the area, dates, genres and billing chosen."""
    rows = _in_window(_in_area(data, query), query, today)
    if query.headliners_only:
        rows = rows.loc[rows["is_headliner"].astype(bool)]
    if with_genres and query.genres:
        wanted = set(query.genres)
        genre_sets = rows["genres"].astype(str).str.split("|")
        # A mask built by map over no rows is an empty object Series, which `rows[...]` takes
        # for a list of columns (no columns at all): say bool, and select rows with .loc.
        rows = rows.loc[genre_sets.map(lambda genres: bool(wanted & set(genres))).astype(bool)]
    return rows


@dataclass
class Counts:
    """How many shows and artists a choice leaves."""

    shows: int
    artists: int


def count(rows: pd.DataFrame) -> Counts:
    """Count distinct shows and artists in rows."""
    return Counts(int(rows["show_key"].nunique()), int(rows["performer_key"].nunique()))


def genre_counts(rows: pd.DataFrame) -> list[tuple[str, int]]:
    """Return the genres present in rows with their number of shows, most shows first."""
    exploded = rows.assign(genre=rows["genres"].astype(str).str.split("|")).explode("genre")
    exploded = exploded[exploded["genre"].astype(bool)]
    counts = exploded.groupby("genre")["show_key"].nunique().sort_values(ascending=False)
    return [(str(genre), int(n)) for genre, n in counts.items()]


def city_counts(data: ShowsData, state: str) -> list[tuple[str, int, int]]:
    """Return the cities of a state with their numbers of upcoming shows and artists."""
    rows = data.by_state.get(state)
    if rows is None:
        return []
    grouped = rows.groupby("venue_city", observed=True)
    shows, artists = grouped["show_key"].nunique(), grouped["performer_key"].nunique()
    return sorted((str(city), int(n), int(artists[city])) for city, n in shows.items() if n)


def window_counts(data: ShowsData, query: AreaQuery, today: date) -> dict[int, int]:
    """Return how many shows each preset date window would leave, the other choices kept."""
    return {
        days: count(
            select_shows(data, replace(query, days=days, date_from=None, date_to=None), today)
        ).shows
        for days in DAY_CHOICES
    }


def weekly_counts(rows: pd.DataFrame, first: date, last: date) -> list[tuple[date, int]]:
    """Return shows per week (weeks starting Monday) from first to last, zeros included."""
    shows = rows.drop_duplicates("show_key")
    days = pd.to_datetime(shows["local_day"].astype(str), format="%Y%m%d", errors="coerce").dt.date
    week_of = days.map(lambda d: d - timedelta(days=d.weekday()) if isinstance(d, date) else None)
    per_week = week_of.value_counts()
    weeks, monday = [], first - timedelta(days=first.weekday())
    while monday <= last:
        weeks.append((monday, int(per_week.get(monday, 0))))
        monday += timedelta(weeks=1)
    return weeks


@dataclass
class PlannedArtist:
    """One performer in the preview: the tracks that will go in, or why there are none."""

    name: str
    spotify_artist_id: str
    tracks: list[Track] = field(default_factory=list)
    reason: str = ""
    # The tracks that go into the playlist from this row: none when the artist already came
    # with an earlier show, a track is already in, or the playlist is full.
    in_playlist: list[Track] = field(default_factory=list)


@dataclass
class PlannedShow:
    """A show in the preview."""

    starts_at_local: str
    venue: str
    city: str
    title: str
    url: str
    artists: list[PlannedArtist]
    time_tbd: bool = False  # the start time is not announced yet: show the date alone


def plan_playlist(
    rows: pd.DataFrame, data: ShowsData, tracks_per_artist: int, preview_shows: int | None = None
) -> tuple[list[PlannedShow], list[str]]:
    """Return the shows (the first preview_shows) with their artists' tracks, and the playlist's
    track URIs in order: by show date, headliners first; each artist and track once.

    One pass over plain lists: rows come ordered by start, show and billing already.
    """
    shows: list[PlannedShow] = []
    uris: list[str] = []
    seen_tracks: set[str] = set()
    seen_artists: set[str] = set()
    columns = [
        "show_key",
        "performer_key",
        "performer_name",
        "starts_at_local",
        "venue_name",
        "venue_city",
        "event_title",
        "event_url",
    ]
    values = {column: rows[column].astype(str).tolist() for column in columns}
    # Datasets written before the column existed read it as empty (False).
    time_tbd = rows["time_tbd"].tolist() if "time_tbd" in rows else [False] * len(rows)
    current = ""
    for index, show_key in enumerate(values["show_key"]):
        key = values["performer_key"][index]
        artist_id, _ = data.artist_of.get(key, ("", ""))
        tracks = data.tracks_of.get(artist_id, [])[:tracks_per_artist] if artist_id else []
        added: list[Track] = []
        if artist_id and artist_id not in seen_artists and len(uris) < MAX_TRACKS:
            seen_artists.add(artist_id)
            for track in tracks:
                if track.track_id not in seen_tracks and len(uris) < MAX_TRACKS:
                    seen_tracks.add(track.track_id)
                    uris.append(f"spotify:track:{track.track_id}")
                    added.append(track)
        if preview_shows is not None and len(shows) >= preview_shows and show_key != current:
            continue
        if show_key != current:
            current = show_key
            shows.append(
                PlannedShow(
                    values["starts_at_local"][index],
                    values["venue_name"][index],
                    values["venue_city"][index],
                    values["event_title"][index],
                    values["event_url"][index],
                    [],
                    bool(time_tbd[index]),
                )
            )
        artist = PlannedArtist(values["performer_name"][index], artist_id, tracks, "", added)
        if not artist_id:
            artist.reason = (
                "not found on Spotify" if key in data.checked_keys else "not matched yet"
            )
        elif not tracks:
            artist.reason = "no tracks yet"
        shows[-1].artists.append(artist)
    return shows, uris


SORTS = {"date": "Date", "artist": "Artist"}


def sort_shows(shows: list[PlannedShow], order: str) -> list[PlannedShow]:
    """Return the shows by date (as planned) or by their first artist's name, A to Z."""
    if order != "artist":
        return shows
    return sorted(
        shows, key=lambda show: _artist_key(show.artists[0].name if show.artists else show.title)
    )


def _artist_key(name: str) -> tuple[str, str]:
    """Sort "The National" under N, as record shops do; the full name breaks ties."""
    folded = clean_name(name).casefold().strip()
    return folded.removeprefix("the ").lstrip(), folded


def playlist_name(query: AreaQuery, first: date, last: date) -> str:
    """Name a playlist by area and dates: "Local Shows: Brooklyn, NY · Nov 21 to Dec 20"."""
    return f"{NAME_PREFIX}{clean_name(query.area_label)} · {short_day(first)} – {short_day(last)}"


def name_prefix(query: AreaQuery) -> str:
    """Return what every playlist of this area is named with, whatever its dates."""
    return f"{NAME_PREFIX}{clean_name(query.area_label)} · "


def playlist_description(shows: list[PlannedShow], notes_url: str = "") -> str:
    """Name the next shows and link the liner notes, within Spotify's 300 characters.

    The link always fits whole: the list of shows is cut (at a show's end) to make room.
    """
    parts = []
    for show in shows:
        names = [clean_name(a.name) for a in show.artists] or [clean_name(show.title)]
        parts.append(f"{_short_local(show.starts_at_local)} {names[0]} at {clean_name(show.venue)}")
    tail = f" Shows and tickets: {notes_url}" if notes_url else " (made by Local Shows)"
    text = ("Next: " + "; ".join(parts) + "." if parts else "No shows in these dates yet.") + tail
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    room = DESCRIPTION_LIMIT - len(tail) - len(" …")
    head = ("Next: " + "; ".join(parts))[:room]
    return (head.rsplit(";", 1)[0] if ";" in head else head) + " …" + tail


def _short_local(starts_at_local: str) -> str:
    try:
        return short_day(date.fromisoformat(starts_at_local[:10]))
    except ValueError:
        return clean_name(starts_at_local[:10])
