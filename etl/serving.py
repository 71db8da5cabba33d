"""Build the serving layout (shared/serving.py) from the canonical datasets once they are saved."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from etl.report import iso
from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, DatasetSchemaError, load_dataset
from shared.serving import (
    CONCERT_COLUMNS,
    TRACK_COLUMNS,
    ServingIndex,
    build_layout,
    write_layout,
)
from shared.storage import StorageError, Store

logger = logging.getLogger(__name__)


class ServingBuildError(Exception):
    """The layout could not be built or written; the last one written stays."""


@dataclass(frozen=True)
class ServingSummary:
    """What building the layout did, for the run report; `error` set when it was not written."""

    states: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str = ""


def rebuild_serving_layout(store: Store, *, now: datetime) -> ServingIndex:
    """Read the three datasets, shape them per state and write the layout; return its index.

    ServingBuildError, with nothing written, when a dataset cannot be read or shaped: a layout
    built from a broken file would replace the last good one. A failure while writing leaves the
    previous index in place (it is written last), pointing at files of the same or a newer build.
    """
    started = time.monotonic()
    try:
        concerts, concerts_generation = load_dataset(
            store, CONCERTS, columns=CONCERT_COLUMNS, text_as_category=True
        )
        artists, artists_generation = load_dataset(
            store, ARTISTS, columns=["performer_key", "spotify_artist_id", "match_confidence"]
        )
        tracks, tracks_generation = load_dataset(store, TOP_TRACKS, columns=TRACK_COLUMNS)
    except (DatasetSchemaError, StorageError) as error:
        raise ServingBuildError(f"a dataset could not be read: {error}") from error
    logger.info(
        "datasets read for the serving layout",
        extra={
            "concert_rows": len(concerts),
            "artists": len(artists),
            "tracks": len(tracks),
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    try:
        layout = build_layout(concerts, artists, tracks)
    except (KeyError, ValueError, TypeError) as error:
        raise ServingBuildError(f"the datasets could not be shaped ({error!r})") from error
    del concerts, artists, tracks  # the shaped copy is what is written; free the rest
    sources = {
        CONCERTS.name: concerts_generation,
        ARTISTS.name: artists_generation,
        TOP_TRACKS.name: tracks_generation,
    }
    try:
        index = write_layout(store, layout, sources, iso(now))
    except (StorageError, ValueError) as error:
        raise ServingBuildError(f"the layout could not be written ({error})") from error
    logger.info(
        "serving layout written",
        extra={
            "states": len(index.states),
            "rows": sum(summary.rows for summary in index.states.values()),
            "bytes": sum(summary.bytes for summary in index.states.values()),
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    return index


def build_serving_layout(store: Store, *, now: datetime) -> ServingIndex | None:
    """Rebuild the layout from the datasets; None (logged as an error) when it was not written."""
    return serve_datasets(store, now=now)[0]


def serve_datasets(store: Store, *, now: datetime) -> tuple[ServingIndex | None, ServingSummary]:
    """Rebuild the layout; return its index (None when refused) and what to report of it."""
    started = time.monotonic()
    try:
        index = rebuild_serving_layout(store, now=now)
    except ServingBuildError as error:
        logger.error(
            "serving layout not written; the last one written stays", extra={"error": str(error)}
        )
        return None, ServingSummary(seconds=_since(started), error=str(error))
    return index, ServingSummary(
        states=len(index.states),
        rows=sum(summary.rows for summary in index.states.values()),
        bytes=sum(summary.bytes for summary in index.states.values()),
        seconds=_since(started),
    )


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
