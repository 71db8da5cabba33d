"""The ETL run, step by step: concerts (then matches, tracks and backups as they land)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from etl.concerts import build_concerts, carry_over, dedupe_events, fetch_concerts
from etl.sources import EventSource, StateFetch
from etl.tracks import TracksSummary, match_and_fetch_tracks
from shared.datasets import CONCERTS, load_dataset, save_dataset
from shared.spotify import SpotifyApi
from shared.storage import Store

logger = logging.getLogger(__name__)


class AllStatesFailedError(Exception):
    """Every state failed from every source: nothing was written."""


@dataclass
class ConcertsSummary:
    """What the concerts step did."""

    sources: list[str]
    states: list[str]
    failed: dict[str, str] = field(default_factory=dict)  # "STATE source" -> why
    events: int = 0
    duplicates: int = 0
    skipped: int = 0
    rows: int = 0
    performers: int = 0
    carried_over_rows: int = 0
    requests_by_source: dict[str, int] = field(default_factory=dict)


def build_concerts_dataset(
    store: Store,
    sources: Sequence[EventSource],
    states: Sequence[str],
    *,
    now: datetime,
    on_state: Callable[[str, list[StateFetch], dict[str, str]], None] | None = None,
) -> ConcertsSummary:
    """Fetch, dedupe and save the concerts dataset; states that failed keep their previous rows."""
    previous, generation = load_dataset(store, CONCERTS)
    fetched = fetch_concerts(sources, states, since=now, on_state=on_state)
    summary = ConcertsSummary(
        sources=[source.name for source in sources],
        states=list(states),
        failed={f"{state} {source}": why for (state, source), why in fetched.failed.items()},
        skipped=fetched.skipped,
        requests_by_source=fetched.requests_by_source(),
    )
    if len(fetched.failed) == len(states) * len(sources):
        raise AllStatesFailedError(
            f"every state failed from every source ({len(fetched.failed)} fetches); "
            "the previous concerts dataset is left as it was"
        )
    events, summary.duplicates = dedupe_events(fetched.events)
    fresh = build_concerts(events, now=now, fetched_at=now)
    concerts, summary.carried_over_rows = carry_over(
        previous, fresh, failed=fetched.failed, states_run=states, now=now
    )
    save_dataset(
        store, CONCERTS, concerts, if_generation_match=generation if generation is not None else 0
    )
    summary.events = len(events)
    summary.rows = len(concerts)
    summary.performers = int(concerts["performer_name"].nunique()) if not concerts.empty else 0
    logger.info(
        "concerts saved",
        extra={"rows": summary.rows, "events": summary.events, "failed": len(summary.failed)},
    )
    return summary


@dataclass
class BuildSummary:
    """What a whole build did."""

    concerts: ConcertsSummary
    tracks: TracksSummary


def run_build(
    store: Store,
    sources: Sequence[EventSource],
    spotify: SpotifyApi,
    states: Sequence[str],
    *,
    now: datetime,
    on_state: Callable[[str, list[StateFetch], dict[str, str]], None] | None = None,
) -> BuildSummary:
    """Run the steps in order: concerts, then artist matches and their tracks."""
    concerts_summary = build_concerts_dataset(store, sources, states, now=now, on_state=on_state)
    concerts, _ = load_dataset(store, CONCERTS)
    tracks_summary = match_and_fetch_tracks(store, concerts, spotify, now=now)
    return BuildSummary(concerts_summary, tracks_summary)
