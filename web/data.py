"""Read the datasets for the web, re-reading an object only when its generation has changed."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from shared.datasets import (
    ARTISTS,
    CONCERTS,
    TOP_TRACKS,
    Dataset,
    empty_frame,
    parse_csv,
)
from shared.names import performer_key
from shared.storage import NotFoundError, StorageError, Store
from web.text import clean_name

logger = logging.getLogger(__name__)

# Look at generations at most this often: a page view should not cost a Cloud Storage call.
CHECK_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Track:
    """A track that may go into a playlist."""

    track_id: str
    name: str
    rank: int


@dataclass
class ShowsData:
    """The three datasets, shaped for the pages: concerts indexed by state, matches, tracks."""

    concerts: pd.DataFrame
    by_state: dict[str, pd.DataFrame]
    artist_of: dict[str, tuple[str, str]]  # performer key -> (spotify artist id, artist name)
    tracks_of: dict[str, list[Track]]  # spotify artist id -> tracks by rank
    checked_keys: set[str] = field(default_factory=set)  # performers the ETL has looked up
    generations: tuple[int | None, ...] = ()
    state_counts: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # state -> shows, artists
    stale: bool = False  # a newer version was refused: this is the last good copy


# What the pages use of the concerts dataset; the rest stays in the bucket.
WEB_COLUMNS = [
    "event_id",
    "source",
    "event_title",
    "event_url",
    "starts_at",
    "starts_at_local",
    "time_tbd",
    "venue_name",
    "venue_city",
    "venue_state",
    "venue_lat",
    "venue_lon",
    "performer_name",
    "is_headliner",
    "billing_order",
    "genres",
    "performer_key",  # absent from files written before the ETL stored it
]
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
# Names shown on the pages and sent to Spotify: cleaned once, here.
NAME_COLUMNS = ["event_title", "venue_name", "venue_city", "performer_name", "genres"]
TEXT_COLUMNS = [
    "source",
    "event_title",
    "event_url",
    "starts_at_local",
    "venue_name",
    "venue_city",
    "venue_state",
    "performer_name",
    "genres",
    "performer_key",
    "show_key",
]


def shape_shows(concerts: pd.DataFrame, artists: pd.DataFrame, tracks: pd.DataFrame) -> ShowsData:
    """Return the datasets shaped for quick filtering, in as little memory as they fit."""
    frame = concerts[[column for column in WEB_COLUMNS if column in concerts.columns]]
    frame = frame.assign(
        performer_key=performer_keys(frame),
        **{
            column: frame[column].map(clean_name)  # a category's text is mapped once
            for column in NAME_COLUMNS
            if column in frame.columns
        },
        starts=pd.to_datetime(frame["starts_at"], utc=True, errors="coerce"),
        show_key=frame["source"].astype(str) + ":" + frame["event_id"].astype(str),
        # The day on the venue's clock, as 20261121: small, and quick to compare.
        local_day=pd.to_numeric(
            frame["starts_at_local"].astype(str).str.slice(0, 10).str.replace("-", ""),
            errors="coerce",
        )
        .fillna(0)
        .astype("int32"),
    ).drop(columns=["starts_at", "event_id"])
    bad = int(frame["starts"].isna().sum())
    if bad:
        logger.warning("concert rows with an unreadable start were left out", extra={"rows": bad})
        frame = frame[frame["starts"].notna()]
    # Most text repeats (a venue, a city, an event title for each act on the bill): categories
    # keep one copy of each.
    frame = frame.astype({column: "category" for column in TEXT_COLUMNS})
    frame = frame.sort_values(["starts", "show_key", "billing_order"], kind="stable").reset_index(
        drop=True
    )
    by_state = {
        str(state): group for state, group in frame.groupby("venue_state", observed=True, sort=True)
    }
    artist_of = {
        str(row.performer_key): (str(row.spotify_artist_id), clean_name(row.spotify_artist_name))
        for row in artists.itertuples(index=False)
        if str(row.spotify_artist_id)
    }
    tracks_of: dict[str, list[Track]] = {}
    ranked = tracks.sort_values(["spotify_artist_id", "rank"], kind="stable")
    for artist_id, track_id, name, rank in zip(
        ranked["spotify_artist_id"],
        ranked["track_id"],
        ranked["track_name"],
        ranked["rank"],
        strict=True,
    ):
        if str(track_id):
            tracks_of.setdefault(str(artist_id), []).append(
                Track(str(track_id), clean_name(name), int(rank) if not pd.isna(rank) else 99)
            )
    counts = {
        state: (int(group["show_key"].nunique()), int(group["performer_key"].nunique()))
        for state, group in by_state.items()
    }
    checked = {str(key) for key in artists["performer_key"]}
    return ShowsData(frame, by_state, artist_of, tracks_of, checked, state_counts=counts)


def performer_keys(concerts: pd.DataFrame) -> pd.Series:
    """Return each row's performer key: the stored one, computed from the name where absent."""
    names = concerts["performer_name"]
    if "performer_key" not in concerts.columns:
        return names.map(performer_key)
    stored = concerts["performer_key"]
    missing = stored.map(lambda key: not str(key).strip()).astype(bool)
    if not missing.any():
        return stored
    return stored.astype(str).where(~missing, names[missing].map(performer_key).astype(str))


class UnusableDatasetError(ValueError):
    """A dataset version that cannot be served: unreadable, or lacking a column the web needs."""

    def __init__(self, dataset_name: str, problem: str) -> None:
        super().__init__(f"{dataset_name}: {problem}")
        self.dataset_name = dataset_name
        self.problem = problem


class DataUnavailableError(ServiceUnavailable):
    """No version of the datasets could be read yet: the pages say so (503), never a 500."""

    description = "The list of shows is unavailable right now. Please try again in a few minutes."


def load_for_web(store: Store, dataset: Dataset, **options: Any) -> pd.DataFrame:
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
        frame = parse_csv(stored.data, dataset, **options)
    # DatasetSchemaError (a required column absent), undecodable bytes, a CSV pandas cannot parse:
    # all are ValueErrors.
    except ValueError as error:
        raise UnusableDatasetError(dataset.name, str(error) or type(error).__name__) from error
    missing = [column for column in REQUIRED_COLUMNS[dataset.name] if column not in header]
    if missing:
        raise UnusableDatasetError(dataset.name, f"lacks the columns {', '.join(missing)}")
    return frame


def load_shows(store: Store) -> ShowsData:
    """Read and shape the three datasets; UnusableDatasetError names the one that failed."""
    concerts = load_for_web(store, CONCERTS, columns=WEB_COLUMNS, text_as_category=True)
    artists = load_for_web(store, ARTISTS)
    tracks = load_for_web(store, TOP_TRACKS)
    try:
        return shape_shows(concerts, artists, tracks)
    except (KeyError, ValueError, TypeError) as error:
        raise UnusableDatasetError(CONCERTS.name, f"could not be shaped ({error!r})") from error


class DatasetCache:
    """Keep the shaped datasets in memory; rebuild them when a dataset's generation changes."""

    def __init__(
        self,
        store: Store,
        check_every: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.check_every = check_every
        self.clock = clock
        self.lock = threading.Lock()
        self.loads = 0
        self.problem = ""  # what was wrong with the last version refused, if it still stands
        self._data: ShowsData | None = None
        self._refused: tuple[int | None, ...] | None = None
        self._checked_at = -float("inf")

    def shows(self) -> ShowsData:
        """Return the shaped datasets, re-reading only what changed.

        A new version is read whole before it replaces the one served, and only if it reads and
        has the columns the pages need; otherwise the last good copy stays (marked stale).
        Raises DataUnavailableError when no version has been good yet.
        """
        with self.lock:
            now = self.clock()
            if now - self._checked_at >= self.check_every:
                self._checked_at = now
                self._refresh()
            if self._data is None:
                raise DataUnavailableError()
            return self._data

    def _refresh(self) -> None:
        datasets: tuple[Dataset, ...] = (CONCERTS, ARTISTS, TOP_TRACKS)
        try:
            generations = tuple(self.store.generation(dataset.name) for dataset in datasets)
        except StorageError as error:
            self._refuse(UnusableDatasetError("datasets", f"generations unknown ({error})"))
            return
        if self._data is not None and generations == self._data.generations:
            self._data.stale, self.problem = False, ""  # storage answers again; nothing new
            return
        if generations == self._refused:
            return  # the version already refused: do not read it again
        try:
            fresh = load_shows(self.store)
        except UnusableDatasetError as error:
            self._refused = generations
            self._refuse(error)
            return
        fresh.generations = generations
        self._data, self._refused, self.problem = fresh, None, ""
        self.loads += 1
        logger.info(
            "datasets loaded",
            extra={"rows": len(fresh.concerts), "generations": list(generations)},
        )

    def _refuse(self, error: UnusableDatasetError) -> None:
        self.problem = str(error)
        if self._data is not None:
            self._data.stale = True
        logger.error(
            "dataset refused; the pages keep the last good copy"
            if self._data is not None
            else "dataset refused; there is no good copy to serve",
            extra={"dataset": error.dataset_name, "problem": error.problem},
        )

    def health(self) -> dict[str, str]:
        """Say, without reading anything, whether the data is stale or unavailable (else {})."""
        with self.lock:
            if not self.problem:
                return {}
            state = "stale" if self._data is not None else "unavailable"
            return {"data": state, "problem": self.problem}


def init_app(app: Flask) -> None:
    """Give the app one dataset cache."""
    app.extensions["datasets"] = DatasetCache(
        app.extensions["store"], app.config.get("DATASET_CHECK_SECONDS", CHECK_EVERY_SECONDS)
    )


def shows_data() -> ShowsData:
    """Return the current app's shaped datasets."""
    cache: DatasetCache = current_app.extensions["datasets"]
    return cache.shows()


def miles_from(lat: float, lon: float, lats: pd.Series, lons: pd.Series) -> np.ndarray:
    """Return great-circle distances in miles from one point to many."""
    phi1, phi2 = np.radians(lat), np.radians(lats.to_numpy(dtype=float))
    dphi, dlambda = phi2 - phi1, np.radians(lons.to_numpy(dtype=float) - lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    result: np.ndarray = 2 * 3958.8 * np.arcsin(np.sqrt(a))
    return result
