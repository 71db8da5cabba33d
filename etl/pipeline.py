"""The ETL run, step by step: concerts (then matches, tracks and backups as they land)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from etl.alerts import alerts_for, log_alerts
from etl.backups import BackupsSummary, back_up_everyone
from etl.concerts import build_concerts, carry_over, dedupe_events, fetch_concerts
from etl.lease import DEFAULT_LEASE_DEADLINE, Heartbeat, no_beat, release_lease, take_lease
from etl.refresh_areas import RefreshSummary, refresh_saved_areas
from etl.report import load_latest_report, make_report, save_report
from etl.serving import ServingSummary, serve_datasets
from etl.sources import EventSource, StateFetch
from etl.track_run import TracksSummary
from etl.tracks import match_and_fetch_tracks
from etl.wanted import wanted_performers
from shared.clock import SystemClock
from shared.config import Settings
from shared.datasets import (
    ARTISTS,
    CONCERTS,
    OVERRIDES,
    TOP_TRACKS,
    Dataset,
    DatasetSchemaError,
    load_dataset,
    save_dataset,
)
from shared.spotify import RequestLedger, SpotifyApi
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
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)  # URLs dropped, events missed
    rows: int = 0
    performers: int = 0
    carried_over_rows: int = 0
    requests_by_source: dict[str, int] = field(default_factory=dict)
    events_by_source: dict[str, int] = field(default_factory=dict)  # as fetched, before dedupe
    rows_by_source: dict[str, int] = field(default_factory=dict)


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
        skipped_by_reason=dict(fetched.skipped_reasons()),
        notes=dict(fetched.notes()),
        requests_by_source=fetched.requests_by_source(),
        events_by_source={source.name: 0 for source in sources},
    )
    for fetch in fetched.fetches:
        summary.events_by_source[fetch.source] += len(fetch.events)
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
    summary.rows_by_source = {source.name: 0 for source in sources} | {
        str(source): int(rows) for source, rows in concerts["source"].value_counts().items()
    }
    logger.info(
        "concerts saved",
        extra={"rows": summary.rows, "events": summary.events, "failed": len(summary.failed)},
    )
    return summary


def check_datasets(store: Store, datasets: Sequence[Dataset]) -> None:
    """Read each dataset through its schema; DatasetSchemaError names the first that fails."""
    for dataset in datasets:
        try:
            load_dataset(store, dataset)
        except DatasetSchemaError as error:
            raise DatasetSchemaError(
                f"{error}; the run stopped before writing any dataset",
                dataset=error.dataset,
                columns=error.columns,
            ) from error


@dataclass
class BuildSummary:
    """What a whole build did."""

    concerts: ConcertsSummary
    tracks: TracksSummary
    backups: BackupsSummary | None = None
    serving: ServingSummary | None = None
    saved_areas: RefreshSummary | None = None


def run_build(
    store: Store,
    sources: Sequence[EventSource],
    spotify: SpotifyApi,
    states: Sequence[str],
    *,
    now: datetime,
    settings: Settings | None = None,
    on_state: Callable[[str, list[StateFetch], dict[str, str]], None] | None = None,
    beat: Callable[[], None] = no_beat,
) -> BuildSummary:
    """Run the steps: concerts, backups (with settings), artist matches and their tracks (the
    performers people want first), the serving layout the web reads, then (with settings) the
    saved areas' playlists refreshed from it.

    Backups come before matching: a week's Discover Weekly not saved this week is lost, while
    matching left undone for want of quota simply resumes next run. The datasets the steps read
    are checked first, so that one failing its schema stops the run before any is written. The
    layout is rebuilt even when matching fails: the new concerts are saved, and the web follows
    the layout, not the CSV files. `beat` renews the run's lease between steps, states,
    performers and people; it raises LeaseLostError when the lease is no longer this run's.
    """

    def state_done(state: str, fetches: list[StateFetch], failures: dict[str, str]) -> None:
        beat()
        if on_state is not None:
            on_state(state, fetches, failures)

    check_datasets(store, (CONCERTS, ARTISTS, TOP_TRACKS, OVERRIDES))
    beat()
    concerts_summary = build_concerts_dataset(store, sources, states, now=now, on_state=state_done)
    backups_summary = None
    if settings is not None:
        beat()
        backups_summary = back_up_everyone(
            store, settings, spotify.ledger, now=now, beat=beat, deadline=spotify.deadline
        )
    beat()
    concerts, _ = load_dataset(store, CONCERTS)
    try:
        wanted = wanted_performers(store, concerts, now.date())
        tracks_summary = match_and_fetch_tracks(
            store, concerts, spotify, now=now, wanted=wanted, beat=beat
        )
    finally:
        del concerts
        beat()  # a run that lost its lease does not write the layout
        _, serving_summary = serve_datasets(store, now=now)
    refresh_summary = None
    if settings is not None and not serving_summary.error:
        beat()
        refresh_summary = refresh_saved_areas(
            store, settings, spotify.ledger, now=now, beat=beat, deadline=spotify.deadline
        )
    return BuildSummary(
        concerts_summary, tracks_summary, backups_summary, serving_summary, refresh_summary
    )


def save_report_and_alert(
    store: Store, report: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    """Log an alert line for each problem the report shows next to the previous one; save it.

    The alerts go first, so that a store that fails to take the report does not hide them.
    """
    log_alerts(alerts_for(report, previous))
    save_report(store, report)


# A run stops spending before its lease's deadline, so that no second run can take over.
RUN_TIME_LIMIT = DEFAULT_LEASE_DEADLINE - timedelta(minutes=30)


def make_spotify(settings: Settings) -> SpotifyApi:
    """Return the app's Spotify client for one run: its own ledger, budget and deadline."""
    ledger = RequestLedger(budget=settings.spotify_request_budget)
    return SpotifyApi.for_app(
        settings, ledger, deadline=time.monotonic() + RUN_TIME_LIMIT.total_seconds()
    )


def new_run_id(now: datetime) -> str:
    """Return a run id that sorts by time: 20261123T060000Z-1a2b3c."""
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def run_etl(
    store: Store,
    sources: Sequence[EventSource],
    spotify: SpotifyApi,
    states: Sequence[str],
    *,
    now: datetime | None = None,
    lease_deadline: timedelta = DEFAULT_LEASE_DEADLINE,
    settings: Settings | None = None,
    on_state: Callable[[str, list[StateFetch], dict[str, str]], None] | None = None,
) -> dict[str, Any]:
    """Take the lease, build, write the run report, give the lease back; return the report.

    Raises LeaseHeld (nothing done) when another run is active; re-raises a failure after its
    report is written.
    """
    clock = settings.clock if settings else SystemClock()
    started = now or clock.now()
    run_id = new_run_id(started)
    lease = take_lease(store, run_id, now=started, deadline=lease_deadline)
    heartbeat = Heartbeat(store, lease, clock)
    logger.info("ETL run started", extra={"run_id": run_id, "states": len(states)})
    build: BuildSummary | None = None
    previous: dict[str, Any] | None = None
    try:
        previous = load_latest_report(store)  # read before this run's report replaces it
        build = run_build(
            store,
            sources,
            spotify,
            states,
            now=started,
            settings=settings,
            on_state=on_state,
            beat=heartbeat.beat,
        )
    except Exception as error:
        report = make_report(
            run_id,
            started=started,
            ended=clock.now(),
            build=build,
            ledger=spotify.ledger,
            errors=[f"{type(error).__name__}: {error}"],
            took_over=lease.stale_holder,
        )
        save_report_and_alert(store, report, previous)
        logger.exception("ETL run failed", extra={"run_id": run_id})
        raise
    finally:
        release_lease(store, heartbeat.lease)
    report = make_report(
        run_id,
        started=started,
        ended=clock.now(),
        build=build,
        ledger=spotify.ledger,
        errors=[],
        took_over=lease.stale_holder,
    )
    save_report_and_alert(store, report, previous)
    logger.info(
        "ETL run finished",
        extra={"run_id": run_id, "status": report["status"], "duration_s": report["duration_s"]},
    )
    return report
