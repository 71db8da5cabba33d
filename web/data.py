"""Read the datasets for the web, re-reading an object only when its generation has changed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from flask import Flask, current_app

from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, Dataset, load_dataset
from shared.names import performer_key
from shared.storage import Store

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
]
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
        performer_key=frame["performer_name"].map(performer_key),
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
        str(row.performer_key): (str(row.spotify_artist_id), str(row.spotify_artist_name))
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
                Track(str(track_id), str(name), int(rank) if not pd.isna(rank) else 99)
            )
    counts = {
        state: (int(group["show_key"].nunique()), int(group["performer_key"].nunique()))
        for state, group in by_state.items()
    }
    checked = {str(key) for key in artists["performer_key"]}
    return ShowsData(frame, by_state, artist_of, tracks_of, checked, state_counts=counts)


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
        self._data: ShowsData | None = None
        self._checked_at = -float("inf")

    def shows(self) -> ShowsData:
        """Return the shaped datasets, re-reading only what changed."""
        with self.lock:
            now = self.clock()
            if self._data is not None and now - self._checked_at < self.check_every:
                return self._data
            self._checked_at = now
            datasets: tuple[Dataset, ...] = (CONCERTS, ARTISTS, TOP_TRACKS)
            generations = tuple(self.store.generation(dataset.name) for dataset in datasets)
            if self._data is None or generations != self._data.generations:
                self._data = None  # let the old copy go before the new one is read
                concerts, _ = load_dataset(
                    self.store, CONCERTS, columns=WEB_COLUMNS, text_as_category=True
                )
                artists, _ = load_dataset(self.store, ARTISTS)
                tracks, _ = load_dataset(self.store, TOP_TRACKS)
                self._data = shape_shows(concerts, artists, tracks)
                del concerts, artists, tracks
                self._data.generations = generations
                self.loads += 1
                logger.info(
                    "datasets loaded",
                    extra={"rows": len(self._data.concerts), "generations": list(generations)},
                )
            return self._data


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
