"""The daily catch-up: resume the matching a build left undone (quota, budget or time), wanted
performers first, then refresh the saved areas whose shows it gave new tracks to (and those the
build's refresh could not reach or write whole: they have no content hash).

Whether anything is left is decided from the datasets with the build's own planning code
(`plan_performers` and the tracks due), without a single Spotify request: on most days there is
nothing to do, and the run ends in seconds. It shares the build's lease (`locks/etl`), so a
catch-up and a build never match at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from etl.lease import DEFAULT_LEASE_DEADLINE, Heartbeat, no_beat, release_lease, take_lease
from etl.lookups import tracks_due
from etl.pipeline import new_run_id, save_report_and_alert
from etl.refresh_areas import RefreshSummary, refresh_saved_areas
from etl.report import (
    CATCH_UP,
    add_serving_report,
    add_tracks_report,
    load_latest_report,
    make_report,
)
from etl.serving import ServingSummary, serve_datasets
from etl.track_book import TrackBook
from etl.track_plan import load_overrides, plan_performers
from etl.track_run import TracksSummary
from etl.tracks import match_and_fetch_tracks
from etl.wanted import (
    AreaKey,
    active_saved_areas,
    concert_shows,
    saved_area_performers,
    wanted_from_shows,
)
from shared.config import Settings
from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, load_dataset
from shared.spotify import SpotifyApi
from shared.storage import Store

logger = logging.getLogger(__name__)

NOTHING_TO_DO = "nothing_to_do"


@dataclass(frozen=True)
class WorkLeft:
    """What matching has left: performers to look up, matched artists whose tracks are due."""

    performers: int
    tracks_due: int

    @property
    def nothing(self) -> bool:
        return not (self.performers or self.tracks_due)


@dataclass
class CatchUpSummary:
    """What a catch-up did: what it found left, and (when there was some) what it did of it."""

    left: WorkLeft
    tracks: TracksSummary | None = None
    serving: ServingSummary | None = None
    saved_areas: RefreshSummary | None = None
    areas_touched: int = 0  # their shows gained performers with tracks in this run
    areas_waiting: int = 0  # the build's refresh did not reach them (quota) or wrote them partly


def find_work_left(
    store: Store, concerts: pd.DataFrame, *, now: datetime, wanted: dict[str, int]
) -> WorkLeft:
    """Plan matching as the build would, from the datasets alone (no Spotify request)."""
    book = TrackBook(store)
    todo = plan_performers(concerts, book.artists_frame(), load_overrides(store), now, wanted)
    return WorkLeft(len(todo), len(tracks_due(book, concerts, now, wanted)))


def playable_performers(store: Store) -> set[str]:
    """Return the performer keys matched to an artist with tracks: those a playlist can hold."""
    artists, _ = load_dataset(store, ARTISTS)
    tracks, _ = load_dataset(store, TOP_TRACKS)
    with_tracks = set(tracks["spotify_artist_id"].fillna("").astype(str)) - {""}
    return {
        str(key)
        for key, artist_id in zip(
            artists["performer_key"], artists["spotify_artist_id"].fillna(""), strict=True
        )
        if str(artist_id) in with_tracks
    }


def touched_areas(
    performers_of: dict[AreaKey, set[str]], before: set[str], after: set[str]
) -> set[AreaKey]:
    """Return the saved areas with a performer that gained tracks between before and after."""
    gained = after - before
    return {area for area, performers in performers_of.items() if performers & gained}


def catch_up(
    store: Store,
    spotify: SpotifyApi,
    *,
    settings: Settings,
    now: datetime,
    beat: Callable[[], None] = no_beat,
) -> CatchUpSummary:
    """Match what is left (wanted first), rebuild the serving layout, refresh touched areas;
    `beat` renews the lease between steps, performers and people."""
    concerts, _ = load_dataset(store, CONCERTS)
    today: date = now.astimezone(UTC).date()
    shows = concert_shows(concerts)
    performers_of = saved_area_performers(store, shows, today)
    wanted = wanted_from_shows(store, shows, today, performers_of)
    left = find_work_left(store, concerts, now=now, wanted=wanted)
    waiting = areas_waiting(store)
    summary = CatchUpSummary(left)
    if left.nothing and not waiting:
        logger.info("catch-up: nothing left to match, no saved area waiting")
        return summary
    summary.areas_waiting = len(waiting)
    if left.nothing:  # the build matched everything but could not refresh every area
        del concerts
        logger.info("catch-up: refreshing the saved areas waiting", extra={"areas": len(waiting)})
        summary.saved_areas = refresh_saved_areas(
            store,
            settings,
            spotify.ledger,
            now=now,
            only=waiting,
            beat=beat,
            deadline=spotify.deadline,
        )
        return summary
    logger.info(
        "catch-up: matching resumes",
        extra={"performers": left.performers, "tracks_due": left.tracks_due},
    )
    before = playable_performers(store)
    try:
        summary.tracks = match_and_fetch_tracks(
            store, concerts, spotify, now=now, wanted=wanted, beat=beat
        )
    finally:
        del concerts
        beat()  # a run that lost its lease does not write the layout
        _, summary.serving = serve_datasets(store, now=now)
    if summary.serving.error:
        return summary
    touched = touched_areas(performers_of, before, playable_performers(store))
    summary.areas_touched, summary.areas_waiting = len(touched), len(waiting - touched)
    areas = touched | waiting
    if areas:
        beat()
        summary.saved_areas = refresh_saved_areas(
            store,
            settings,
            spotify.ledger,
            now=now,
            only=areas,
            beat=beat,
            deadline=spotify.deadline,
        )
    return summary


def areas_waiting(store: Store) -> set[AreaKey]:
    """Return the active saved areas with no content hash: a refresh that ran out of requests
    did not reach them, or wrote them only partly (their playlist is not what it should be)."""
    return {(user_id, area.area_id) for user_id, area in active_saved_areas(store)
            if not area.content_hash}  # fmt: skip


def catch_up_report(report: dict[str, Any], summary: CatchUpSummary | None) -> dict[str, Any]:
    """Add what the catch-up did to its run report (`kind: catch-up`)."""
    if summary is None:
        return report
    report["left_before"] = {
        "performers": summary.left.performers,
        "tracks_due": summary.left.tracks_due,
    }
    if summary.left.nothing and summary.saved_areas is None:
        report["status"] = NOTHING_TO_DO
        report["message"] = "nothing left to match: every performer checked, no tracks due"
        return report
    if summary.tracks is not None:
        add_tracks_report(report, summary.tracks)
    add_serving_report(report, summary.serving)
    report["saved_areas_touched"] = summary.areas_touched
    report["saved_areas_waiting"] = summary.areas_waiting
    if summary.saved_areas is not None:
        report["saved_areas"] = summary.saved_areas.as_report()
        stopped = summary.saved_areas.stopped
        if stopped and report["status"] == "ok":
            report["status"] = f"stopped_{stopped}"
            report["message"] = (
                f"{summary.saved_areas.left_waiting} saved areas still wait for a refresh: "
                f"Spotify's {stopped} ran out; the next catch-up goes on"
            )
    return report


def run_catch_up(
    store: Store,
    spotify: SpotifyApi,
    *,
    settings: Settings,
    now: datetime | None = None,
    lease_deadline: timedelta = DEFAULT_LEASE_DEADLINE,
) -> dict[str, Any]:
    """Take the build's lease, catch up, write the run report, give the lease back.

    Raises LeaseHeld (nothing done) when a build or another catch-up is active; re-raises a
    failure after its report is written.
    """
    started = now or settings.clock.now()
    run_id = new_run_id(started)
    lease = take_lease(store, run_id, now=started, deadline=lease_deadline)
    heartbeat = Heartbeat(store, lease, settings.clock)
    logger.info("catch-up started", extra={"run_id": run_id})
    previous: dict[str, Any] | None = None
    summary: CatchUpSummary | None = None
    errors: list[str] = []
    try:
        previous = load_latest_report(store)
        summary = catch_up(store, spotify, settings=settings, now=started, beat=heartbeat.beat)
    except Exception as error:
        errors = [f"{type(error).__name__}: {error}"]
        logger.exception("catch-up failed", extra={"run_id": run_id})
        raise
    finally:
        release_lease(store, heartbeat.lease)
        report = catch_up_report(
            make_report(
                run_id,
                started=started,
                ended=settings.clock.now(),
                build=None,
                ledger=spotify.ledger,
                errors=errors,
                took_over=lease.stale_holder,
                kind=CATCH_UP,
            ),
            summary,
        )
        save_report_and_alert(store, report, previous)
    logger.info(
        "catch-up finished",
        extra={"run_id": run_id, "status": report["status"], "duration_s": report["duration_s"]},
    )
    return report
