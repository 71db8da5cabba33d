"""Read the shows for the web: the serving layout's index at start, a state's files on first use.

A worker keeps a bounded number of states in memory (by bytes, the least recently used leave
first) and re-reads a state only when the index says its files changed; while a state reloads,
its old copy keeps serving. Before the ETL has written a layout (a new deploy, or tests that
write datasets by hand), the canonical CSV datasets are read whole and shaped the same way.
A version that cannot be read is refused and the last good copy stays (marked stale).
The shows' types and their pure readers are in shared/shows_data.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, Dataset
from shared.serving import (
    INDEX,
    ServingLayoutError,
    StateSummary,
    read_index,
    read_state_columns,
)
from shared.shows_data import (
    OPTIONAL_COLUMNS,
    STATE_COLUMNS,
    ShowsData,
    StateData,
    UnusableDatasetError,
    load_from_datasets,
    state_from_columns,
)
from shared.storage import StorageError, Store

logger = logging.getLogger(__name__)

# Look at generations at most this often: a page view should not cost a Cloud Storage call.
CHECK_EVERY_SECONDS = 10.0
# States kept in memory per worker, by their in-memory size. An F1 instance has 384 MB, of
# which a worker's libraries take about 150.
STATE_CACHE_BYTES = 24 * 1024 * 1024


# What a state's row costs in memory, about (ids, times, places, codes, its share of titles,
# links and tracks): 100 to 110 bytes at 200,000 and at 1,000,000 rows.
ROW_BYTES = 110


def _expected_bytes(summary: StateSummary, held: StateData | None) -> int:
    """Guess a state's size before reading it: its last copy's, or by its rows."""
    return held.nbytes if held is not None else summary.rows * ROW_BYTES


class DataUnavailableError(ServiceUnavailable):
    """No version of the shows could be read yet: the pages say so (503), never a 500."""

    description = "The list of shows is unavailable right now. Please try again in a few minutes."


def _libc_trim() -> Callable[[], object]:
    """Return glibc's malloc_trim (give freed heap back to the system), or a no-op elsewhere."""
    found = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(found), "malloc_trim", None) if found else None
    return (lambda: trim(0)) if trim else (lambda: None)


# Reading a state frees far more than it keeps (the file, Arrow's tables, pandas' copies): give
# the freed memory back at once, so that a worker's size follows the states it holds.
give_back_memory = _libc_trim()


def keep_out_of_collections() -> None:
    """Move what lives long (the libraries, the states just read) out of the collector's sight.

    Python's full collection walks every object that can hold others: with the libraries and a
    state's tracks it took 60 to 100 ms, once every few dozen previews, and made the preview's
    p95 (a loaded state's, at 200,000 rows: 41.7 / 51.2 / 57.1 ms signed out, signed in, with
    taste, against 39.4 / 43.5 / 51.1 ms with this). The young generations are collected first,
    so that what is frozen is what is still in use; what is frozen is still freed by reference
    counting when a state is dropped (its frames and tracks hold no cycles).

    Only a serving worker does this (web/main.py sets FREEZE_GC): a test process, which makes
    hundreds of apps, would keep the cycles of those it is done with.
    """
    gc.collect(1)
    gc.freeze()


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
            states, summaries = load_from_datasets(self.store)
        except UnusableDatasetError:
            self.refused = generations
            raise
        self.states, self.generations, self.refused, self.loaded = states, generations, None, True
        self.loads += 1
        self.summaries = summaries
        logger.info(
            "datasets loaded whole (no serving layout yet)",
            extra={"rows": sum(len(s.rows) for s in states.values())},
        )


class _LayoutShows:
    """The serving layout: its index, and the states in use, least recently used leave first."""

    def __init__(self, store: Store, budget_bytes: int, *, freeze_after_loads: bool) -> None:
        self.store = store
        self.budget_bytes = budget_bytes
        self.freeze_after_loads = freeze_after_loads
        self.index_generation: int | None = None
        self.summaries: dict[str, StateSummary] = {}
        self.cache: OrderedDict[str, StateData] = OrderedDict()
        self.refused: dict[str, tuple[int, ...]] = {}
        self.lock = threading.Lock()
        self.state_locks: dict[str, threading.Lock] = {}
        # One state is read at a time: a read holds the file and its arrays for a moment, about
        # twice the state's size, and four threads reading four states at once would hold four.
        self.reading = threading.Lock()
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
            elif self.refused.get(code) == wanted:  # already refused: not read again, 503
                raise DataUnavailableError()
            state_lock = self.state_locks.setdefault(code, threading.Lock())
        # Another request is reading this state: serve the old copy meanwhile, if there is one.
        if not state_lock.acquire(blocking=held is None):
            return held  # type: ignore[return-value]  # held is not None when not blocking
        try:
            with self.lock:
                current = self.cache.get(code)
                if current is not None and current.generations == wanted:
                    return current
            with self.reading:
                with self.lock:  # make room first: the states left and the read never add up
                    self._evict(keep=code, room=_expected_bytes(summary, held))
                return self._read(code, wanted, held)
        finally:
            state_lock.release()

    def _read(self, code: str, wanted: tuple[int, ...], held: StateData | None) -> StateData:
        started = time.perf_counter()
        try:
            columns, tracks = read_state_columns(self.store, code, STATE_COLUMNS, OPTIONAL_COLUMNS)
            fresh = state_from_columns(columns, tracks, wanted)
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
        if self.freeze_after_loads:
            keep_out_of_collections()
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

    def _evict(self, keep: str, room: int = 0) -> None:
        """Drop the least recently used states (never `keep`) until `room` more bytes fit."""
        total = sum(data.nbytes for data in self.cache.values())
        for code in list(self.cache):
            if total + room <= self.budget_bytes:
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
        *,
        freeze_after_loads: bool = False,
    ) -> None:
        self.store = store
        self.check_every = check_every
        self.clock = clock
        self.lock = threading.Lock()
        self.problem = ""  # what was wrong with the last version refused, if it still stands
        self.layout = _LayoutShows(store, budget_bytes, freeze_after_loads=freeze_after_loads)
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
        freeze_after_loads=bool(app.config.get("FREEZE_GC")),
    )
    if app.config.get("FREEZE_GC"):
        keep_out_of_collections()  # the libraries, imported by now


def app_store() -> Store:
    """Return the current app's store (the bucket, or a folder in the demo and tests)."""
    found: Store = current_app.extensions["store"]
    return found


def shows_data() -> ShowsData:
    """Return the current app's shows."""
    cache: DatasetCache = current_app.extensions["datasets"]
    return cache.shows()
