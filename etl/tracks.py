"""Match performers to Spotify artists and gather their tracks, spending requests sparingly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

import pandas as pd

from etl.lease import LeaseLostError, no_beat
from etl.lookups import Lookup, look_up_safely, record_lookup, refresh_tracks
from etl.parallel import guarded, in_parallel
from etl.track_book import TrackBook
from etl.track_plan import load_overrides, plan_performers
from etl.track_run import Run, SeenResults, TopTracksProbe, TracksSummary
from shared.spotify import BudgetExhaustedError, QuotaExhaustedError, SpotifyApi, SpotifyError
from shared.storage import Store

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY = 200
CHECKPOINT_SECONDS = 60.0
PROGRESS_EVERY = 50
WORKERS = 6  # Spotify requests in flight at once


def match_and_fetch_tracks(
    store: Store,
    concerts: pd.DataFrame,
    api: SpotifyApi,
    *,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
    checkpoint_every: int = CHECKPOINT_EVERY,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    workers: int = WORKERS,
    wanted: Mapping[str, int] | None = None,
    beat: Callable[[], None] = no_beat,
) -> TracksSummary:
    """Match new performers (in `order_performers` order), then fill missing and stale tracks.

    `wanted` maps performer keys to a tier (0: saved areas' performers, 1: recently previewed
    areas'); those are looked up, and their tracks refreshed, before everyone else. `beat`
    renews the run's lease after each performer and artist, before any checkpoint is written.
    """
    book = TrackBook(store)
    overrides = load_overrides(store)
    todo = plan_performers(concerts, book.artists_frame(), overrides, now, wanted)
    run = Run(
        api,
        book,
        TopTracksProbe(api),
        SeenResults(),
        overrides,
        TracksSummary(performers_new=len(todo)),
        now,
    )
    summary = run.summary
    last_checkpoint, since_checkpoint = clock(), 0
    started = clock()
    lease_lost = False

    def checkpoint() -> None:
        nonlocal last_checkpoint, since_checkpoint
        beat()
        since_checkpoint += 1
        if since_checkpoint >= checkpoint_every or clock() - last_checkpoint >= checkpoint_seconds:
            book.save()
            summary.checkpoints += 1
            last_checkpoint, since_checkpoint = clock(), 0

    def record(outcome: Lookup | SpotifyError) -> None:
        if isinstance(outcome, Lookup):
            record_lookup(run, outcome)
        else:
            summary.performers_failed += 1
        summary.performers_checked += 1
        checkpoint()
        if summary.performers_checked % PROGRESS_EVERY == 0:
            _log_progress(summary.performers_checked, len(todo), started, clock(), api)

    try:
        # The first look-ups run one at a time until the probe knows the mode; then several
        # requests are in flight at once (a request waits ~100 ms; Spotify allows more a second).
        queue = list(todo)
        while queue and run.probe.mode == "unknown":
            record(guarded(run, look_up_safely, queue.pop(0)))
        in_parallel(run, queue, look_up_safely, record, workers)
        refresh_tracks(run, concerts, checkpoint, workers, wanted)
    except (QuotaExhaustedError, BudgetExhaustedError) as stop:
        summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
        logger.warning("stopped spending Spotify requests", extra={"reason": str(stop)})
    except LeaseLostError:
        lease_lost = True  # the run that took over the lease writes the datasets now
        raise
    finally:
        if not lease_lost:
            book.save()
    summary.mode = run.probe.mode
    summary.performers_left = len(todo) - summary.performers_checked + summary.performers_failed
    logger.info(
        summary.message, extra={"requests": api.ledger.spent, "matches": dict(summary.new_matches)}
    )
    return summary


def _log_progress(done: int, total: int, started: float, now: float, api: SpotifyApi) -> None:
    elapsed = max(now - started, 1e-6)
    rate = done / elapsed
    logger.info(
        "matching progress",
        extra={
            "performers_done": done,
            "performers_total": total,
            "per_second": round(rate, 2),
            "eta_s": round((total - done) / rate) if rate else None,
            "requests": api.ledger.spent,
        },
    )
