"""The shows as the area pages and playlists use them: per-state rows and tracks, read from a store.

The web keeps them in a cache (web/data.py); an ETL step reads them once with load_shows.
"""

from __future__ import annotations

import io
import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, Dataset, empty_frame, parse_csv
from shared.packed_text import CodedText
from shared.serving import (
    CONCERT_COLUMNS,
    WIDE_COLUMNS,
    Column,
    ServingLayoutError,
    StateSummary,
    as_series,
    build_layout,
    place_numbers,
    read_index,
    read_state_columns,
    summarize,
)
from shared.storage import NotFoundError, StorageError, Store

# Without these the pages would be silently empty or wrong: a version lacking one is refused.
REQUIRED_COLUMNS = {
    CONCERTS.name: [
        "event_id",
        "source",
        "starts_at",
        "starts_at_local",
        "venue_name",
        "venue_city",
        "venue_state",
        "performer_name",
    ],
    ARTISTS.name: ["performer_key", "spotify_artist_id", "spotify_artist_name"],
    TOP_TRACKS.name: ["spotify_artist_id", "rank", "track_id", "track_name"],
}


@dataclass(frozen=True, slots=True)  # slots: a state holds tens of thousands
class Track:
    """A track that may go into a playlist."""

    track_id: str
    name: str
    rank: int


class PackedTracks(Mapping[str, list[Track]]):
    """Each artist's tracks by rank, packed: ids and names in two buffers, ranks in an array.

    A state's artists have tens of thousands of tracks, and a page needs a few of a few hundred
    artists: `top` makes Track objects for those alone. As a mapping, an artist's whole list.
    """

    __slots__ = ("ids", "names", "ranks", "spans")

    def __init__(
        self, spans: dict[str, tuple[int, int]], ids: CodedText, names: CodedText, ranks: np.ndarray
    ) -> None:
        self.spans = spans  # artist id -> their tracks' rows, from and to
        self.ids, self.names, self.ranks = ids, names, ranks

    @classmethod
    def from_columns(
        cls, artists: CodedText, ids: CodedText, names: CodedText, ranks: np.ndarray
    ) -> PackedTracks:
        """Return the tracks from their columns, rows by artist and rank as the layout has
        them; ValueError when an artist's rows are apart."""
        codes = artists.codes
        changes = np.ones(len(codes), dtype=bool)
        changes[1:] = codes[1:] != codes[:-1]
        starts = np.flatnonzero(changes)
        ends = np.append(starts[1:], len(codes))[: len(starts)]
        spans = {
            artists.texts[int(codes[start])] if codes[start] >= 0 else "": (int(start), int(end))
            for start, end in zip(starts, ends, strict=True)
        }
        if len(spans) != len(starts):
            raise ValueError("an artist's tracks are not together")
        return cls(spans, ids, names, ranks.astype(np.int16, copy=False))

    @classmethod
    def of(cls, tracks: Mapping[str, Sequence[Track]]) -> PackedTracks:
        """Pack tracks given as lists by artist."""
        rows = [(artist, track) for artist, listed in tracks.items() for track in listed]
        return cls.from_columns(
            CodedText.of([artist for artist, _ in rows]),
            CodedText.of([track.track_id for _, track in rows]),
            CodedText.of([track.name for _, track in rows]),
            np.array([track.rank for _, track in rows], dtype=np.int16),
        )

    @classmethod
    def from_frame(cls, tracks: pd.DataFrame) -> PackedTracks:
        """Pack a frame of tracks (spotify_artist_id, track_id, track_name, rank)."""
        ordered = tracks.sort_values(["spotify_artist_id", "rank"], kind="stable")
        return cls.from_columns(
            CodedText.of(ordered["spotify_artist_id"].astype(str).tolist()),
            CodedText.of(ordered["track_id"].astype(str).tolist()),
            CodedText.of(ordered["track_name"].astype(str).tolist()),
            ordered["rank"].to_numpy().astype(np.int16),
        )

    def top(self, artist_id: str, count: int) -> list[Track]:
        """Return an artist's first `count` tracks by rank (none when they have none)."""
        span = self.spans.get(artist_id)
        if span is None:
            return []
        rows = range(span[0], min(span[1], span[0] + max(count, 0)))
        ids, names = self.ids.take(rows), self.names.take(rows)
        return [
            Track(track_id, name, int(self.ranks[row]))
            for track_id, name, row in zip(ids, names, rows, strict=True)
        ]

    def top_ids(self, artist_id: str, count: int) -> list[str]:
        """Return the ids of an artist's first `count` tracks by rank (what a playlist needs)."""
        span = self.spans.get(artist_id)
        if span is None:
            return []
        ids = self.ids
        codes = ids.codes[span[0] : min(span[1], span[0] + max(count, 0))]
        return ids.texts.many(int(code) for code in codes if code >= 0)

    def __getitem__(self, artist_id: str) -> list[Track]:
        span = self.spans[artist_id]
        return self.top(artist_id, span[1] - span[0])

    def __contains__(self, artist_id: object) -> bool:
        return artist_id in self.spans

    def __iter__(self) -> Iterator[str]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def nbytes(self) -> int:
        # A dict entry and a key string of about 22 characters, a tuple of two ints: ~200 bytes.
        return 200 * len(self.spans) + self.ids.nbytes + self.names.nbytes + self.ranks.nbytes


class TracksOf(Mapping[str, list[Track]]):
    """The tracks of several states' artists (a radius): the last state that has one answers
    (their tracks are the same unless a state serves its last good copy)."""

    def __init__(self, parts: Sequence[PackedTracks]) -> None:
        self.parts = list(reversed(parts))

    def top(self, artist_id: str, count: int) -> list[Track]:
        for part in self.parts:
            if artist_id in part:
                return part.top(artist_id, count)
        return []

    def top_ids(self, artist_id: str, count: int) -> list[str]:
        for part in self.parts:
            if artist_id in part:
                return part.top_ids(artist_id, count)
        return []

    def __getitem__(self, artist_id: str) -> list[Track]:
        for part in self.parts:
            if artist_id in part:
                return part[artist_id]
        raise KeyError(artist_id)

    def __contains__(self, artist_id: object) -> bool:
        return any(artist_id in part for part in self.parts)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(a for part in self.parts for a in part))

    def __len__(self) -> int:
        return sum(1 for _ in self)


Tracks = PackedTracks | TracksOf


# What a state holds of each row (one row per show and performer), narrow: numbers, and text
# with few distinct values as categories. A show's title and link, distinct nearly show by
# show, are kept packed by show number (`StateData.wide`) and made text for the shows shown.
NARROW_TEXT = [
    "starts_at_local",
    "venue_name",
    "venue_city",
    "venue_state",
    "performer_key",
    "performer_name",
    "genres",
    "spotify_artist_id",
]
NARROW_PLAIN = {  # column -> its value in rows of files written before it
    "local_day": None,
    "is_headliner": None,
    "time_tbd": False,
    "checked": True,
    "uncertain": False,
}


@dataclass
class StateData:
    """One state's rows (narrow, with matches) and its artists' tracks, as the pages use them.

    `rows["show"]` numbers the state's shows 0, 1, ... in row order (rows are by start, show and
    billing, so a show's rows are together); `wide[column]` holds each show's title and link.
    `rows["place"]` numbers the venues' coordinates: `lats[place]`, `lons[place]` (a state has
    a few hundred places and a hundred thousand rows: distances are computed per place).
    """

    rows: pd.DataFrame
    tracks_of: PackedTracks  # spotify artist id -> tracks by rank
    wide: dict[str, CodedText] = field(default_factory=dict)  # by show number
    lats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # by place number
    lons: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nbytes: int = 0
    generations: tuple[int, ...] = ()

    def center(self, where: np.ndarray) -> tuple[float, float]:
        """Return the mean coordinates of the rows where `where` is true (NaN when unknown)."""
        places = self.rows["place"].to_numpy()[where]
        return float(pd.Series(self.lats[places]).mean()), float(
            pd.Series(self.lons[places]).mean()
        )

    def near(self, lat: float, lon: float, miles: float) -> np.ndarray:
        """Say which rows lie within `miles` of a point."""
        close: np.ndarray = miles_from(lat, lon, self.lats, self.lons) <= miles
        rows: np.ndarray = close[self.rows["place"].to_numpy()]
        return rows

    @property
    def shows(self) -> int:
        """How many shows the state has (its show numbers are 0 to this, less one)."""
        return int(self.rows["show"].to_numpy()[-1]) + 1 if len(self.rows) else 0


@dataclass(frozen=True)
class ShowTexts:
    """Where the show numbers of selected rows find their titles and links.

    Rows of one state carry its own show numbers; rows merged from several states (a radius)
    carry each state's numbers shifted past the previous state's: `parts` says from which number
    on a state's shows begin.
    """

    parts: tuple[tuple[int, StateData], ...] = ()

    @classmethod
    def of(cls, state: StateData) -> ShowTexts:
        return cls(((0, state),))

    def take(self, column: str, shows: list[int]) -> list[str]:
        """Return a wide column's text for each show number."""
        firsts = [first for first, _ in self.parts]
        part_of = [bisect_right(firsts, show) - 1 for show in shows]
        found = [""] * len(shows)
        for part in set(part_of):  # each state's texts at once: a block is decompressed once
            first, state = self.parts[part]
            places = [at for at, of in enumerate(part_of) if of == part]
            texts = state.wide[column].take([shows[at] - first for at in places])
            for at, text in zip(places, texts, strict=True):
                found[at] = text
        return found


@dataclass
class ShowsData:
    """What a request sees: every state's summary, and each state's data on demand."""

    states: dict[str, StateSummary]
    load_state: Callable[[str], StateData]
    stale: bool = False  # a newer version was refused: this is the last good copy

    @property
    def state_counts(self) -> dict[str, tuple[int, int]]:
        """Return each state's numbers of upcoming shows and artists."""
        return {state: (s.shows, s.artists) for state, s in self.states.items()}

    def state(self, code: str) -> StateData:
        """Return a state's data (KeyError for a state without shows)."""
        if code not in self.states:
            raise KeyError(code)
        return self.load_state(code)

    def all_rows(self) -> pd.DataFrame:
        """Return every state's rows (reads every state: for tests and benchmarks, not pages)."""
        frames = [self.state(code).rows.astype(str) for code in sorted(self.states)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class UnusableDatasetError(ValueError):
    """A dataset version that cannot be served: unreadable, or lacking a column the pages need."""

    def __init__(self, dataset_name: str, problem: str) -> None:
        super().__init__(f"{dataset_name}: {problem}")
        self.dataset_name = dataset_name
        self.problem = problem


def state_data(
    rows: pd.DataFrame, tracks: pd.DataFrame, generations: tuple[int, ...] = ()
) -> StateData:
    """Return a state's data from its shaped rows (`shared.serving.shape_rows`) and tracks."""
    show = _show_numbers(pd.factorize(rows["show_key"].to_numpy(dtype=object))[0])
    first = _first_of_runs(show)
    columns: dict[str, Any] = {
        column: rows[column].to_numpy()
        for column in [*NARROW_PLAIN, "venue_lat", "venue_lon", "place"]
        if column in rows.columns
    }
    columns["starts"] = pd.to_datetime(rows["starts"], utc=True).dt.tz_convert(None).to_numpy()
    for column in NARROW_TEXT:
        columns[column] = rows[column].astype(str).astype("category")
    wide = {
        column: CodedText.of(rows[column].astype(str).to_numpy()[first].tolist())
        for column in WIDE_COLUMNS
    }
    return _narrow_state(show, columns, wide, PackedTracks.from_frame(tracks), generations)


# Columns a layout written before them lacks (a state then has their defaults, or numbers its
# places itself).
OPTIONAL_COLUMNS = {column for column, value in NARROW_PLAIN.items() if value is not None} | {
    "place"
}
# The serving file's columns a state is made of.
STATE_COLUMNS = [
    "show_key",
    "starts",
    "venue_lat",
    "venue_lon",
    "place",
    *NARROW_PLAIN,
    *NARROW_TEXT,
    *WIDE_COLUMNS,
]


def state_from_columns(
    columns: dict[str, Column],
    tracks: dict[str, Column],
    generations: tuple[int, ...] = (),
) -> StateData:
    """Return a state's data from its serving files' columns (`read_state_columns`), making
    text only where it is narrow: titles, links and tracks stay packed as read. ValueError or
    KeyError when they do not fit."""
    show = _show_numbers(np.asarray(columns["show_key"]))
    first = _first_of_runs(show)
    narrow: dict[str, Any] = {}
    for column in [*NARROW_PLAIN, "venue_lat", "venue_lon", "place"]:
        if column in columns:
            narrow[column] = columns[column]
    narrow["starts"] = np.asarray(columns["starts"]).astype("datetime64[ns]", copy=False)
    for column in NARROW_TEXT:
        narrow[column] = as_series(columns[column])
    wide = {}
    for column in WIDE_COLUMNS:
        text = _text(columns, column)
        wide[column] = CodedText(text.codes[first], text.texts)
    packed = PackedTracks.from_columns(
        _text(tracks, "spotify_artist_id"),
        _text(tracks, "track_id"),
        _text(tracks, "track_name"),
        np.asarray(tracks["rank"]),
    )
    return _narrow_state(show, narrow, wide, packed, generations)


def _text(columns: dict[str, Column], name: str) -> CodedText:
    column = columns[name]
    if not isinstance(column, CodedText):
        raise ValueError(f"{name} is not text")
    return column


def _show_numbers(codes: np.ndarray) -> np.ndarray:
    """Return show numbers 0, 1, ... in row order, one for each run of rows of a show.

    Rows come by start, show and billing, so a show's rows are together, and a run is a show;
    should one show's rows be apart (one event listed at two starts), each run is a show of its
    own, as the page lists it. One pass, without the hash table of a factorize.
    """
    changes = np.ones(len(codes), dtype=bool)
    changes[1:] = codes[1:] != codes[:-1]
    numbers: np.ndarray = np.cumsum(changes, dtype=np.int32) - 1
    return numbers


def _first_of_runs(show: np.ndarray) -> np.ndarray:
    """Return where each show's run of rows begins."""
    changes = np.ones(len(show), dtype=bool)
    changes[1:] = show[1:] != show[:-1]
    return np.flatnonzero(changes)


def _narrow_state(
    show: np.ndarray,
    columns: dict[str, Any],
    wide: dict[str, CodedText],
    tracks: PackedTracks,
    generations: tuple[int, ...],
) -> StateData:
    for column, value in NARROW_PLAIN.items():
        if column not in columns and value is not None:  # a file written before the column
            columns[column] = np.full(len(show), value)
    for column in ("is_headliner", "time_tbd", "checked", "uncertain"):
        columns[column] = np.asarray(columns[column]).astype(bool, copy=False)
    lats = np.asarray(columns.pop("venue_lat"), dtype=float)
    lons = np.asarray(columns.pop("venue_lon"), dtype=float)
    place = columns.pop("place", None)  # the layout numbers places; a file before it did not
    place = place_numbers(lats, lons) if place is None else np.asarray(place, dtype=np.int32)
    if len(place) and int(place.min()) < 0:
        raise ValueError("a place number below 0")
    place_lats, place_lons = _place_coordinates(place, lats, lons)
    # No copies: a big state's columns are tens of megabytes, and read just now.
    frame = pd.DataFrame({"show": show.astype(np.int32), "place": place, **columns}, copy=False)
    nbytes = (
        int(frame.memory_usage(deep=True).sum())
        + sum(text.nbytes for text in wide.values())
        + tracks.nbytes
        + place_lats.nbytes
        + place_lons.nbytes
    )
    return StateData(frame, tracks, wide, place_lats, place_lons, nbytes, generations)


def _place_coordinates(
    place: np.ndarray, lats: np.ndarray, lons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return each place's coordinates from its rows' (all alike: any row of the place will
    do); ValueError when a place's rows disagree."""
    count = int(place.max()) + 1 if len(place) else 0
    place_lats, place_lons = np.full(count, np.nan), np.full(count, np.nan)
    place_lats[place], place_lons[place] = lats, lons
    same = (place_lats[place] == lats) | (np.isnan(lats) & np.isnan(place_lats[place]))
    same &= (place_lons[place] == lons) | (np.isnan(lons) & np.isnan(place_lons[place]))
    if not bool(same.all()):
        raise ValueError("rows of one place with different coordinates")
    return place_lats, place_lons


def load_servable_dataset(
    store: Store,
    dataset: Dataset,
    *,
    columns: list[str] | None = None,
    text_as_category: bool = False,
) -> pd.DataFrame:
    """Load a dataset, refusing a version that cannot be read or lacks a required column."""
    try:
        stored = store.read(dataset.name)
    except NotFoundError:
        return empty_frame(dataset)
    except StorageError as error:
        raise UnusableDatasetError(dataset.name, f"could not be read ({error})") from error
    if not stored.data.strip():
        return empty_frame(dataset)
    try:
        header = set(pd.read_csv(io.BytesIO(stored.data), nrows=0).columns)
        frame = parse_csv(stored.data, dataset, columns=columns, text_as_category=text_as_category)
    # DatasetSchemaError (a required column absent), undecodable bytes, a CSV pandas cannot parse:
    # all are ValueErrors.
    except ValueError as error:
        raise UnusableDatasetError(dataset.name, str(error) or type(error).__name__) from error
    missing = [column for column in REQUIRED_COLUMNS[dataset.name] if column not in header]
    if missing:
        raise UnusableDatasetError(dataset.name, f"lacks the columns {', '.join(missing)}")
    return frame


def load_from_datasets(store: Store) -> tuple[dict[str, StateData], dict[str, StateSummary]]:
    """Read the three CSV datasets whole and shape them per state (no layout written yet);
    return each state's data and its summary, as the layout's index would have it."""
    concerts = load_servable_dataset(
        store, CONCERTS, columns=CONCERT_COLUMNS, text_as_category=True
    )
    artists = load_servable_dataset(store, ARTISTS)
    tracks = load_servable_dataset(store, TOP_TRACKS)
    try:
        layout = build_layout(concerts, artists, tracks)
        states = {state: state_data(rows, ranked) for state, (rows, ranked) in layout.items()}
    except (KeyError, ValueError, TypeError) as error:
        raise UnusableDatasetError(CONCERTS.name, f"could not be shaped ({error!r})") from error
    return states, {state: summarize(rows) for state, (rows, _) in layout.items()}


def load_shows(store: Store) -> ShowsData:
    """Read the shows once, for a one-off use (an ETL step): no cache, no check for changes.

    The serving layout's index is read now and a state's files when it is asked for; with no
    layout written, the CSV datasets are read whole. ServingLayoutError or UnusableDatasetError
    say what could not be read.
    """
    index = read_index(store)
    if index is None:
        states, summaries = load_from_datasets(store)
        return ShowsData(summaries, states.__getitem__)

    def load_state(code: str) -> StateData:
        summary = index.states[code]
        columns, tracks = read_state_columns(store, code, STATE_COLUMNS, OPTIONAL_COLUMNS)
        try:
            return state_from_columns(
                columns, tracks, (summary.shows_generation, summary.tracks_generation)
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ServingLayoutError(f"{code}'s serving files do not fit ({error})") from error

    return ShowsData(index.states, load_state)


def miles_from(
    lat: float, lon: float, lats: pd.Series | np.ndarray, lons: pd.Series | np.ndarray
) -> np.ndarray:
    """Return great-circle distances in miles from one point to many."""
    phi1, phi2 = np.radians(lat), np.radians(np.asarray(lats, dtype=float))
    dphi, dlambda = phi2 - phi1, np.radians(np.asarray(lons, dtype=float) - lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    result: np.ndarray = 2 * 3958.8 * np.arcsin(np.sqrt(a))
    return result


def may_reach(
    lat: float, lon: float, bbox: tuple[float, float, float, float], miles: float
) -> bool:
    """Say whether any point of a box of venues may lie within miles of a point."""
    if any(math.isnan(x) for x in bbox):
        return False
    nearest_lat = min(max(lat, bbox[0]), bbox[2])
    nearest_lon = min(max(lon, bbox[1]), bbox[3])
    distance = miles_from(lat, lon, pd.Series([nearest_lat]), pd.Series([nearest_lon]))[0]
    return bool(distance <= miles + 1)  # a mile's slack for the box's flat corners
