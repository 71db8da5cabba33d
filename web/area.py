"""An area's shows, selected once per request, and the playlist planned from them. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd

from web.area_form import DAY_CHOICES, AreaQuery
from web.data import ShowsData, Track, may_reach, miles_from
from web.places import short_day
from web.text import clean_name

MAX_TRACKS = 1000  # a playlist this long is already 60+ hours of music
DESCRIPTION_LIMIT = 300
NAME_PREFIX = "Local Shows: "


@dataclass
class Counts:
    """How many shows and artists a choice leaves."""

    shows: int
    artists: int


def count(rows: pd.DataFrame) -> Counts:
    """Count distinct shows and artists in rows."""
    return Counts(int(rows["show_key"].nunique()), int(rows["performer_key"].nunique()))


@dataclass
class Selection:
    """An area's shows, selected once: the rows chosen, and what the page's figures need."""

    query: AreaQuery
    first: date
    last: date
    rows: pd.DataFrame  # in the area, dates, billing and genres chosen; by start
    without_genres: pd.DataFrame  # the same but for genres: what the genre list counts
    window_counts: dict[int, int]  # shows each preset window would leave, the rest kept
    tracks_of: dict[str, list[Track]] = field(default_factory=dict)


def select(data: ShowsData, query: AreaQuery, today: date) -> Selection:
    """Select the area's rows once, then derive every figure of the page from them."""
    rows, tracks_of = _in_area(data, query)
    if query.headliners_only:
        rows = rows.loc[rows["is_headliner"].astype(bool)]
    genre_mask = _genre_mask(rows, query.genres)
    first, last = query.window(today)
    in_window = _window_mask(rows, first, last)
    window_counts = {}
    for days in DAY_CHOICES:
        mask = _window_mask(rows, today, today + timedelta(days=days - 1)) & genre_mask
        window_counts[days] = int(rows.loc[mask, "show_key"].nunique())
    return Selection(
        query,
        first,
        last,
        rows.loc[in_window & genre_mask],
        rows.loc[in_window],
        window_counts,
        tracks_of,
    )


def _in_area(data: ShowsData, query: AreaQuery) -> tuple[pd.DataFrame, dict[str, list[Track]]]:
    """Return the area's rows, and the tracks of their artists.

    A radius reaches into the states whose venues may lie within it (by the index's boxes):
    distances are computed for their rows only.
    """
    home = data.state(query.state)
    rows = home.rows
    if not query.city:
        return rows, home.tracks_of
    here = rows[rows["venue_city"] == query.city]
    if not query.radius_miles:
        return here, home.tracks_of
    lat, lon = float(here["venue_lat"].mean()), float(here["venue_lon"].mean())
    parts, tracks_of = [], {}
    for code, summary in sorted(data.states.items()):
        if code != query.state and not may_reach(lat, lon, summary.bbox, query.radius_miles):
            continue
        state = home if code == query.state else data.state(code)
        near = miles_from(lat, lon, state.rows["venue_lat"], state.rows["venue_lon"])
        part = state.rows[near <= query.radius_miles]
        if len(part):
            parts.append(part.astype({c: str for c in part.select_dtypes("category").columns}))
            tracks_of.update(state.tracks_of)
    if len(parts) == 1:
        return parts[0], tracks_of
    merged = pd.concat(parts, ignore_index=True)
    return merged.sort_values(["starts", "show_key", "billing_order"], kind="stable"), tracks_of


def _window_mask(rows: pd.DataFrame, first: date, last: date) -> np.ndarray:
    """Say which rows fall from first to last: by the venue's local day, within a day's slack."""
    start = pd.Timestamp(datetime.combine(first, time.min, UTC))
    end = pd.Timestamp(datetime.combine(last + timedelta(days=1), time.min, UTC)) + pd.Timedelta(
        hours=10
    )
    # Local evenings in US time zones fall on the next UTC day: compare local dates when known.
    local_day = rows["local_day"].to_numpy()
    starts = rows["starts"]
    in_days = (local_day >= int(f"{first:%Y%m%d}")) & (local_day <= int(f"{last:%Y%m%d}"))
    in_time = ((starts >= start - pd.Timedelta(hours=14)) & (starts < end)).to_numpy()
    mask: np.ndarray = in_days & in_time
    return mask


def _genre_mask(rows: pd.DataFrame, genres: tuple[str, ...]) -> np.ndarray:
    """Say which rows carry one of the genres (every row when none is chosen)."""
    if not genres:
        return np.ones(len(rows), dtype=bool)
    wanted = set(genres)
    genre_sets = rows["genres"].astype(str).str.split("|")
    return np.fromiter((bool(wanted & set(row)) for row in genre_sets), dtype=bool, count=len(rows))


def genre_counts(rows: pd.DataFrame) -> list[tuple[str, int]]:
    """Return the genres present in rows with their number of shows, most shows first."""
    exploded = rows.assign(genre=rows["genres"].astype(str).str.split("|")).explode("genre")
    exploded = exploded[exploded["genre"].astype(bool)]
    counts = exploded.groupby("genre")["show_key"].nunique().sort_values(ascending=False)
    return [(str(genre), int(n)) for genre, n in counts.items()]


def city_counts(data: ShowsData, state: str) -> list[tuple[str, int, int]]:
    """Return the cities of a state with their numbers of upcoming shows and artists."""
    summary = data.states.get(state)
    return list(summary.cities) if summary else []


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
    rows: pd.DataFrame,
    tracks_of: dict[str, list[Track]],
    tracks_per_artist: int,
    preview_shows: int | None = None,
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
        "spotify_artist_id",
    ]
    values = {column: rows[column].astype(str).tolist() for column in columns}
    time_tbd = rows["time_tbd"].tolist()
    checked = rows["checked"].tolist()
    current = ""
    for index, show_key in enumerate(values["show_key"]):
        artist_id = values["spotify_artist_id"][index]
        tracks = tracks_of.get(artist_id, [])[:tracks_per_artist] if artist_id else []
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
            artist.reason = "not found on Spotify" if checked[index] else "not matched yet"
        elif not tracks:
            artist.reason = "no tracks yet"
        shows[-1].artists.append(artist)
    return shows, uris


def plan(data: ShowsData, query: AreaQuery, today: date) -> tuple[list[PlannedShow], list[str]]:
    """Select the area's shows and plan the whole playlist (what "Make" writes)."""
    selection = select(data, query, today)
    return plan_playlist(selection.rows, selection.tracks_of, query.tracks_per_artist)


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
