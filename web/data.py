"""Read the shows for the web: the serving layout's index at start, a state's files on first use.

A worker keeps a bounded number of states in memory (by bytes, the least recently used leave
first) and re-reads a state only when the index says its files changed; while a state reloads,
its old copy keeps serving. Before the ETL has written a layout (a new deploy, or tests that
write datasets by hand), the canonical CSV datasets are read whole and shaped the same way.
A version that cannot be read is refused and the last good copy stays (marked stale).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, Dataset, empty_frame, parse_csv
from shared.serving import (
    CONCERT_COLUMNS,
    INDEX,
    TEXT_COLUMNS,
    ServingLayoutError,
    StateSummary,
    build_layout,
    read_index,
    read_state,
    summarize,
)
from shared.storage import NotFoundError, StorageError, Store

logger = logging.getLogger(__name__)

# Look at generations at most this often: a page view should not cost a Cloud Storage call.
CHECK_EVERY_SECONDS = 10.0
# States kept in memory per worker, by their in-memory size. An F1 instance has 384 MB, of
# which a worker's libraries take about 150.
STATE_CACHE_BYTES = 32 * 1024 * 1024

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
    """A dataset version that cannot be served: unreadable, or lacking a column the web needs."""

    def __init__(self, dataset_name: str, problem: str) -> None:
        super().__init__(f"{dataset_name}: {problem}")
        self.dataset_name = dataset_name
        self.problem = problem


class DataUnavailableError(ServiceUnavailable):
    """No version of the shows could be read yet: the pages say so (503), never a 500."""

    description = "The list of shows is unavailable right now. Please try again in a few minutes."


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


def _libc_trim() -> Callable[[], object]:
    """Return glibc's malloc_trim (give freed heap back to the system), or a no-op elsewhere."""
    found = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(found), "malloc_trim", None) if found else None
    return (lambda: trim(0)) if trim else (lambda: None)


# Reading a state frees far more than it keeps (the file, Arrow's tables, pandas' copies): give
# the freed memory back at once, so that a worker's size follows the states it holds.
give_back_memory = _libc_trim()


def load_for_web(store: Store, dataset: Dataset, **options: object) -> pd.DataFrame:
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


def load_from_datasets(store: Store) -> dict[str, StateData]:
    """Read the three CSV datasets whole and shape them per state (no layout written yet)."""
    concerts = load_for_web(store, CONCERTS, columns=CONCERT_COLUMNS, text_as_category=True)
    artists = load_for_web(store, ARTISTS)
    tracks = load_for_web(store, TOP_TRACKS)
    try:
        layout = build_layout(concerts, artists, tracks)
    except (KeyError, ValueError, TypeError) as error:
        raise UnusableDatasetError(CONCERTS.name, f"could not be shaped ({error!r})") from error
    return {state: state_data(rows, ranked) for state, (rows, ranked) in layout.items()}


class _CsvShows:
    """Every state from the CSV datasets, re-read when one of their generations changes."""

    datasets: tuple[Dataset, ...] = (CONCERTS, ARTISTS, TOP_TRACKS)

    def __init__(self, store: Store) -> None:
        self.store = store
        self.generations: tuple[int | None, ...] | None = None
        self.refused: tuple[int | None, ...] | None = None
        self.states: dict[str, StateData] = {}
        self.summaries: dict[str, StateSummary] = {}
        self.loaded = False
        self.loads = 0

    def refresh(self) -> None:
        """Read a new version if there is one; UnusableDatasetError when it cannot be served."""
        try:
            generations = tuple(self.store.generation(d.name) for d in self.datasets)
        except StorageError as error:
            raise UnusableDatasetError("datasets", f"generations unknown ({error})") from error
        if self.loaded and generations == self.generations:
            return
        if generations == self.refused:
            raise UnusableDatasetError("datasets", "the version already refused")
        try:
            states = load_from_datasets(self.store)
        except UnusableDatasetError:
            self.refused = generations
            raise
        self.states, self.generations, self.refused, self.loaded = states, generations, None, True
        self.loads += 1
        self.summaries = {state: summarize(data.rows) for state, data in states.items()}
        logger.info(
            "datasets loaded whole (no serving layout yet)",
            extra={"rows": sum(len(s.rows) for s in states.values())},
        )


class _LayoutShows:
    """The serving layout: its index, and the states in use, least recently used leave first."""

    def __init__(self, store: Store, budget_bytes: int) -> None:
        self.store = store
        self.budget_bytes = budget_bytes
        self.index_generation: int | None = None
        self.summaries: dict[str, StateSummary] = {}
        self.cache: OrderedDict[str, StateData] = OrderedDict()
        self.refused: dict[str, tuple[int, ...]] = {}
        self.lock = threading.Lock()
        self.state_locks: dict[str, threading.Lock] = {}
        self.loads = 0

    def refresh(self, generation: int) -> None:
        """Read the index when it changed; ServingLayoutError when it cannot be read."""
        if generation == self.index_generation:
            return
        index = read_index(self.store)
        if index is None:
            raise ServingLayoutError(f"{INDEX} is gone")
        self.summaries, self.index_generation = index.states, index.generation
        logger.info("serving index loaded", extra={"states": len(index.states)})

    def state(self, code: str, summary: StateSummary) -> StateData:
        """Return a state's data, reading its files on first use or when they changed."""
        wanted = (summary.shows_generation, summary.tracks_generation)
        with self.lock:
            held = self.cache.get(code)
            if held is not None:
                self.cache.move_to_end(code)
                if held.generations == wanted or self.refused.get(code) == wanted:
                    return held
            state_lock = self.state_locks.setdefault(code, threading.Lock())
        # Another request is reading this state: serve the old copy meanwhile, if there is one.
        if not state_lock.acquire(blocking=held is None):
            return held  # type: ignore[return-value]  # held is not None when not blocking
        try:
            with self.lock:
                current = self.cache.get(code)
                if current is not None and current.generations == wanted:
                    return current
            return self._read(code, wanted, held)
        finally:
            state_lock.release()

    def _read(self, code: str, wanted: tuple[int, ...], held: StateData | None) -> StateData:
        started = time.perf_counter()
        try:
            rows, tracks = read_state(self.store, code)
            fresh = state_data(rows, tracks, wanted)
        except (ServingLayoutError, KeyError, ValueError, TypeError) as error:
            logger.error(
                "state refused; the pages keep the last good copy"
                if held is not None
                else "state refused; there is no good copy to serve",
                extra={"state": code, "problem": str(error)},
            )
            with self.lock:
                self.refused[code] = wanted
            if held is None:
                raise DataUnavailableError() from error
            return held
        with self.lock:
            self.cache[code] = fresh
            self.cache.move_to_end(code)
            self.loads += 1
            self._evict(keep=code)
        give_back_memory()
        logger.info(
            "state loaded",
            extra={
                "state": code,
                "rows": len(fresh.rows),
                "mb": round(fresh.nbytes / 2**20, 1),
                "ms": round((time.perf_counter() - started) * 1000),
            },
        )
        return fresh

    def _evict(self, keep: str) -> None:
        total = sum(data.nbytes for data in self.cache.values())
        for code in list(self.cache):
            if total <= self.budget_bytes:
                return
            if code != keep:
                total -= self.cache.pop(code).nbytes

    @property
    def cached_bytes(self) -> int:
        with self.lock:
            return sum(data.nbytes for data in self.cache.values())


class DatasetCache:
    """The shows a worker serves: from the serving layout when written, else from the CSVs."""

    def __init__(
        self,
        store: Store,
        check_every: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        budget_bytes: int = STATE_CACHE_BYTES,
    ) -> None:
        self.store = store
        self.check_every = check_every
        self.clock = clock
        self.lock = threading.Lock()
        self.problem = ""  # what was wrong with the last version refused, if it still stands
        self.layout = _LayoutShows(store, budget_bytes)
        self.csv = _CsvShows(store)
        self.mode = ""  # "layout" or "datasets": what is served
        self._checked_at = -float("inf")
        self._data: ShowsData | None = None

    @property
    def loads(self) -> int:
        """How many times data was read (a state's files, or the datasets whole)."""
        return self.layout.loads + self.csv.loads

    def shows(self) -> ShowsData:
        """Return what the pages need, checking for new versions at most every check_every."""
        with self.lock:
            now = self.clock()
            if now - self._checked_at >= self.check_every:
                self._checked_at = now
                self._refresh()
            if self._data is None:
                raise DataUnavailableError()
            return self._data

    def _refresh(self) -> None:
        try:
            index_generation = self.store.generation(INDEX)
        except StorageError as error:
            self._refuse("serving", f"generation unknown ({error})")
            return
        if index_generation is not None:
            try:
                self.layout.refresh(index_generation)
            except ServingLayoutError as error:
                if self.mode == "layout":
                    self._refuse("serving", str(error))
                    return
                logger.error(
                    "serving index refused; reading the datasets", extra={"problem": str(error)}
                )
            else:
                summaries = self.layout.summaries
                self._serve(
                    "layout", summaries, lambda code: self.layout.state(code, summaries[code])
                )
                return
        try:
            self.csv.refresh()
        except UnusableDatasetError as error:
            self._refuse(error.dataset_name, error.problem)
            return
        self._serve("datasets", self.csv.summaries, self.csv.states.__getitem__)

    def _serve(
        self, mode: str, summaries: dict[str, StateSummary], load: Callable[[str], StateData]
    ) -> None:
        if mode == "layout" and self.mode == "datasets":
            self.csv = _CsvShows(self.store)  # the whole datasets leave memory
        self.mode, self.problem = mode, ""
        self._data = ShowsData(summaries, load)

    def _refuse(self, name: str, problem: str) -> None:
        self.problem = f"{name}: {problem}"
        if self._data is not None:
            self._data.stale = True
        logger.error(
            "dataset refused; the pages keep the last good copy"
            if self._data is not None
            else "dataset refused; there is no good copy to serve",
            extra={"dataset": name, "problem": problem},
        )

    def health(self) -> dict[str, str]:
        """Say, without reading anything, whether the data is stale or unavailable (else {})."""
        with self.lock:
            if not self.problem:
                return {}
            state = "stale" if self._data is not None else "unavailable"
            return {"data": state, "problem": self.problem}


def init_app(app: Flask) -> None:
    """Give the app one cache of the shows."""
    app.extensions["datasets"] = DatasetCache(
        app.extensions["store"],
        app.config.get("DATASET_CHECK_SECONDS", CHECK_EVERY_SECONDS),
        budget_bytes=app.config.get("STATE_CACHE_BYTES", STATE_CACHE_BYTES),
    )


def app_store() -> Store:
    """Return the current app's store (the bucket, or a folder in the demo and tests)."""
    found: Store = current_app.extensions["store"]
    return found


def shows_data() -> ShowsData:
    """Return the current app's shows."""
    cache: DatasetCache = current_app.extensions["datasets"]
    return cache.shows()


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
