"""The shows as the area pages and playlists use them: per-state rows and tracks, read from a store.

The web keeps them in a cache (web/data.py); an ETL step reads them once with load_shows.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, Dataset, empty_frame, parse_csv
from shared.serving import (
    CONCERT_COLUMNS,
    TEXT_COLUMNS,
    StateSummary,
    build_layout,
    read_index,
    read_state,
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


@dataclass
class StateData:
    """One state's rows (shaped, with matches) and its artists' tracks, as the pages use them."""

    rows: pd.DataFrame
    tracks_of: dict[str, list[Track]]  # spotify artist id -> tracks by rank
    nbytes: int = 0
    generations: tuple[int, ...] = ()


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
    """Return a state's data in as little memory as it fits: repeated text as categories."""
    rows = rows.astype({column: "category" for column in TEXT_COLUMNS if column in rows.columns})
    tracks_of: dict[str, list[Track]] = {}
    for artist_id, track_id, name, rank in zip(
        tracks["spotify_artist_id"],
        tracks["track_id"],
        tracks["track_name"],
        tracks["rank"],
        strict=True,
    ):
        tracks_of.setdefault(str(artist_id), []).append(Track(str(track_id), str(name), int(rank)))
    # A track: its object (56 bytes with slots), its id and its name as Python strings.
    nbytes = int(rows.memory_usage(deep=True).sum()) + 200 * len(tracks)
    return StateData(rows, tracks_of, nbytes, generations)


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


def load_from_datasets(store: Store) -> dict[str, StateData]:
    """Read the three CSV datasets whole and shape them per state (no layout written yet)."""
    concerts = load_servable_dataset(
        store, CONCERTS, columns=CONCERT_COLUMNS, text_as_category=True
    )
    artists = load_servable_dataset(store, ARTISTS)
    tracks = load_servable_dataset(store, TOP_TRACKS)
    try:
        layout = build_layout(concerts, artists, tracks)
    except (KeyError, ValueError, TypeError) as error:
        raise UnusableDatasetError(CONCERTS.name, f"could not be shaped ({error!r})") from error
    return {state: state_data(rows, ranked) for state, (rows, ranked) in layout.items()}


def load_shows(store: Store) -> ShowsData:
    """Read the shows once, for a one-off use (an ETL step): no cache, no check for changes.

    The serving layout's index is read now and a state's files when it is asked for; with no
    layout written, the CSV datasets are read whole. ServingLayoutError or UnusableDatasetError
    say what could not be read.
    """
    index = read_index(store)
    if index is None:
        states = load_from_datasets(store)
        summaries = {code: summarize(data.rows) for code, data in states.items()}
        return ShowsData(summaries, states.__getitem__)

    def load_state(code: str) -> StateData:
        summary = index.states[code]
        rows, tracks = read_state(store, code)
        return state_data(rows, tracks, (summary.shows_generation, summary.tracks_generation))

    return ShowsData(index.states, load_state)


def miles_from(lat: float, lon: float, lats: pd.Series, lons: pd.Series) -> np.ndarray:
    """Return great-circle distances in miles from one point to many."""
    phi1, phi2 = np.radians(lat), np.radians(lats.to_numpy(dtype=float))
    dphi, dlambda = phi2 - phi1, np.radians(lons.to_numpy(dtype=float) - lon)
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
