"""Refresh every saved area's playlist in place, with each person's stored grant (issue 16).

The playlist is planned, named and described as the web's "Make" does (`shared.area_plan`),
written with the same function (`write_area_playlist`), and its liner notes and the person's
record of playlists made are saved the same way. A refresh whose name, description and tracks
hash to what was last written makes no Spotify request at all.

One person's failure never stops another's: a refused grant pauses that person, a failed area
is counted and the next goes on; only a spent quota or budget stops the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from etl.lease import no_beat
from etl.people_run import PeopleSummary, PersonJob, PersonWork, serve_people
from etl.wanted import AreaKey, query_of
from shared import area_plan
from shared.area_playlists import (
    MadePlaylist,
    load_made,
    own_playlist,
    remember_playlist,
    write_area_playlist,
)
from shared.config import Settings
from shared.liner_notes import build_notes, save_notes
from shared.saved_areas import (
    PAUSE,
    SAVED_AREAS,
    SavedArea,
    SavedAreas,
    SavedAreasError,
    content_hash,
    playlist_identity,
    with_area,
)
from shared.shows_data import ShowsData, load_shows
from shared.spotify import (
    BudgetExhaustedError,
    QuotaExhaustedError,
    RequestLedger,
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
)
from shared.storage import StorageError, Store
from shared.taste import known_artists

logger = logging.getLogger(__name__)

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
NOT_REFRESHED = "Not refreshed this time: it is tried again after the next build."
DELETED_PAUSED_REASON = "You deleted its playlist in Spotify, so this area is paused."
WAITING = "Waiting: Spotify's requests for today ran out; it is refreshed by the next catch-up."


@dataclass
class RefreshSummary(PeopleSummary):
    """What one refresh of the saved areas did, for the run report."""

    areas: int = 0
    updated: int = 0
    unchanged: int = 0
    made_again: int = 0
    paused_areas: int = 0  # their playlist was deleted and the person chose PAUSE
    left_waiting: int = 0  # areas not reached when it stopped: the catch-up refreshes them
    error: str = ""  # the shows could not be read: nothing was refreshed


@dataclass
class _Step:
    """What every refresh of one run shares."""

    store: Store
    settings: Settings
    data: ShowsData
    now: datetime
    summary: RefreshSummary


def notes_url(settings: Settings, token: str) -> str:
    """Return a liner-notes page's public address: the site is where Spotify sends people back."""
    parts = urlsplit(settings.spotify_redirect_uri)
    return f"{parts.scheme}://{parts.netloc}/notes/{token}"


def refresh_saved_areas(
    store: Store,
    settings: Settings,
    ledger: RequestLedger,
    *,
    now: datetime,
    only: set[AreaKey] | None = None,
    beat: Callable[[], None] = no_beat,
    **api_options: Any,
) -> RefreshSummary:
    """Refresh every saved area that is not paused (or only those in `only`)."""
    summary = RefreshSummary()
    try:
        data = load_shows(store)
    except (ValueError, StorageError) as error:  # ServingLayoutError, UnusableDatasetError
        summary.error = f"{type(error).__name__}: {error}"
        logger.error("saved areas not refreshed: the shows cannot be read", extra={"error": error})
        return summary
    step = _Step(store, settings, data, now, summary)

    def areas_of(record: SavedAreas) -> list[SavedArea]:
        return [
            area
            for area in record.areas
            if not area.paused and (only is None or (record.user_id, area.area_id) in only)
        ]

    def refresh_person(work: PersonWork[SavedAreas, RefreshSummary]) -> None:
        _refresh_person(step, work.record, areas_of(work.record), work.grant.api)

    job = PersonJob(
        records=SAVED_AREAS,
        work=refresh_person,
        last_done=lambda record: "",
        due=lambda record, now: bool(areas_of(record)),
        forbidden="",  # a 403 is one playlist's: counted for its area
        who=None if only is None else lambda _store: sorted({user for user, _ in only}),
    )
    serve_people(
        job,
        store,
        settings,
        ledger,
        summary,
        now=now,
        beat=beat,
        time_budget_seconds=float("inf"),
        **api_options,
    )
    if summary.stopped:
        summary.left_waiting = _mark_waiting(step, only)
    logger.info("saved areas refreshed", extra={"summary": summary.as_report()})
    return summary


def _refresh_person(
    step: _Step, record: SavedAreas, areas: list[SavedArea], api: SpotifyApi
) -> None:
    """Refresh one person's areas; raise on a refused grant or a spent quota."""
    for area in areas:
        step.summary.areas += 1
        try:
            _refresh_area(step, api, record.user_id, area)
        except (QuotaExhaustedError, BudgetExhaustedError):
            raise
        except SpotifyRefusedError as error:
            if error.status == 401:
                raise
            _count_failure(step, record.user_id, area, error)
        except (SpotifyError, SavedAreasError, StorageError, KeyError, ValueError) as error:
            _count_failure(step, record.user_id, area, error)


def _refresh_area(step: _Step, api: SpotifyApi, user_id: str, area: SavedArea) -> None:
    """Plan the area's playlist for today's window; write it only when it changed."""
    store, data, summary = step.store, step.data, step.summary
    query = query_of(area.query)
    today = step.now.astimezone(UTC).date()
    first, last = query.window(today)
    if query.state in data.states:
        # An area of "artists I know", or with a mix, plans with the person's taste as it is now.
        known = known_artists(store, user_id) if query.uses_taste else None
        shows, uris = area_plan.plan(data, query, today, known)
    else:
        shows, uris = [], []
    name = area_plan.playlist_name(query, first, last)
    description = area_plan.playlist_description(shows, notes_url(step.settings, area.notes_token))
    digest = content_hash(name, description, uris)
    moment = step.now.astimezone(UTC).strftime(ISO_UTC)
    with_tracks = sum(1 for show in shows if any(a.in_playlist for a in show.artists))
    figures = f"{len(uris)} tracks from {with_tracks} shows"
    if digest == area.content_hash:
        summary.unchanged += 1
        _note(
            store,
            user_id,
            area.area_id,
            last_refresh_at=moment,
            last_result=f"Unchanged: {figures}",
        )
        return
    gone = area.playlist_id and own_playlist(api, user_id, area.playlist_id) is None
    if area.when_deleted == PAUSE and gone:
        summary.paused_areas += 1
        _note(
            store,
            user_id,
            area.area_id,
            last_refresh_at=moment,
            paused=DELETED_PAUSED_REASON,
            last_result=DELETED_PAUSED_REASON,
        )
        return
    result = write_area_playlist(
        api,
        user_id=user_id,
        update_id=area.playlist_id,
        name=name,
        description=description,
        plain_description=area_plan.playlist_description(shows),
        uris=uris,
    )
    earlier = load_made(store, user_id).get(area.playlist_id)
    kept = MadePlaylist(
        result.playlist.id,
        result.playlist.name,
        area_plan.name_prefix(query),
        result.playlist.url,
        area.notes_token,
        earlier.made_at if earlier and not result.recreated else moment,
        moment,
        result.written,
        playlist_identity(area.query),
    )
    save_notes(
        store,
        area.notes_token,
        build_notes(name, query.area_label, moment, shows, result.written),
        user_id,
    )
    remember_playlist(store, user_id, kept)
    if result.error is not None:
        sentence = f"Partly updated: {result.written} of {result.total} tracks written"
        digest = ""  # the next refresh writes it again
        summary.failed += 1
    elif result.recreated:
        sentence = f"Made again: you had deleted it. {figures}"
        summary.made_again += 1
    else:
        sentence = f"Updated: {figures}"
        summary.updated += 1
    _note(
        store,
        user_id,
        area.area_id,
        playlist_id=result.playlist.id,
        playlist_name=result.playlist.name,
        playlist_url=result.playlist.url,
        content_hash=digest,
        last_refresh_at=moment,
        last_result=sentence,
    )


def _note(store: Store, user_id: str, area_id: str, **changes: Any) -> None:
    """Write what a refresh did into the area (another writer's change to the rest is kept)."""
    SAVED_AREAS.update(
        store, user_id, lambda r: with_area(r, area_id, lambda a: replace(a, **changes))
    )


def _count_failure(step: _Step, user_id: str, area: SavedArea, error: Exception) -> None:
    """Count an area that failed and say so on its page; the next area goes on."""
    step.summary.failed += 1
    logger.error(
        "a saved area was not refreshed",
        extra={
            "user_id": user_id,
            "area_id": area.area_id,
            "error": f"{type(error).__name__}: {error}",
        },
    )
    moment = step.now.astimezone(UTC).strftime(ISO_UTC)
    try:
        _note(step.store, user_id, area.area_id, last_refresh_at=moment, last_result=NOT_REFRESHED)
    except (SavedAreasError, StorageError) as note_error:
        logger.error("could not note a failed refresh", extra={"error": str(note_error)})


def _mark_waiting(step: _Step, only: set[AreaKey] | None) -> int:
    """Mark the areas this run did not reach as waiting: no hash, so a catch-up writes them."""
    moment = step.now.astimezone(UTC).strftime(ISO_UTC)

    def reached(user_id: str, area: SavedArea) -> bool:
        in_scope = only is None or (user_id, area.area_id) in only
        return area.paused != "" or not in_scope or area.last_refresh_at == moment

    def waiting(record: SavedAreas) -> SavedAreas:
        return replace(
            record,
            areas=tuple(
                area
                if reached(record.user_id, area)
                else replace(area, content_hash="", last_result=WAITING)
                for area in record.areas
            ),
        )

    marked = 0
    for user_id in SAVED_AREAS.people(step.store):
        try:
            changed = SAVED_AREAS.update(step.store, user_id, waiting)
        except (SavedAreasError, StorageError) as error:
            logger.error("could not mark areas waiting", extra={"user_id": user_id, "error": error})
            continue
        if changed is not None:
            marked += sum(1 for area in changed.areas if not reached(user_id, area))
    return marked
