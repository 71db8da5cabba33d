"""Look performers up on Spotify and fetch matched artists' tracks, spending few requests."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from etl.concerts import ISO_UTC, with_performer_keys
from etl.matching import (
    MEDIUM,
    ONLY_CANDIDATE,
    Match,
    break_tie,
    lead_name,
    match_performer,
    tracks_of,
)
from etl.parallel import in_parallel
from etl.track_book import TRACKS_PER_ARTIST, TrackBook
from etl.track_plan import PerformerTodo, wanted_first
from etl.track_run import Run
from shared.names import normalize_name
from shared.spotify import (
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
    SpotifyShapeError,
    SpotifyUnavailableError,
)
from shared.spotify_records import ArtistRecord, TrackRecord

logger = logging.getLogger(__name__)

TRACKS_STALE_AFTER = timedelta(days=28)
TRACK_SEARCH_PAGES = 3
REUSED_ONLY_CANDIDATE = "only artist of the name in another search's answer"


def look_up_safely(run: Run, performer: PerformerTodo) -> Lookup | SpotifyError:
    """Look a performer up; a failure of this one performer is returned, a stop is raised."""
    try:
        return _look_up(run, performer)
    except (SpotifyUnavailableError, SpotifyRefusedError, SpotifyShapeError) as error:
        if isinstance(error, SpotifyRefusedError) and error.status == 401:
            raise
        logger.warning(
            "performer skipped for this run",
            extra={"performer": performer.name, "error": str(error)},
        )
        return error


@dataclass(frozen=True)
class Lookup:
    """What looking a performer up found: the match, and its tracks."""

    performer: PerformerTodo
    match: Match
    tracks: list[TrackRecord]
    source: str


def _candidates_and_tracks(
    run: Run, performer: PerformerTodo, known_id: str
) -> tuple[list[ArtistRecord], list[TrackRecord], bool]:
    """Spend at most one request (Development Mode) on what a performer needs; none if seen.

    Also say whether the candidates come from a search for another name (reused).
    """
    if known_id:
        seen = run.seen.tracks_for(known_id)
        if seen is not None:
            return [], seen, False
        top = run.probe.try_top_tracks(known_id)
        if top is None:
            run.seen.searched(performer.name)
            top = run.api.search_tracks(performer.name)
        run.seen.remember([], top)
        return [], top, False
    reused = run.seen.answer_for(performer)
    if reused is not None:
        with run.lock:
            run.summary.reused_results += 1
        return reused[0], reused[1], True
    if run.probe.mode == "extended":
        return run.api.search_artists(performer.name), [], False
    candidates, tracks = run.api.search_artist_with_tracks(performer.name)
    run.seen.remember(candidates, tracks)
    run.seen.searched(performer.name)
    return candidates, tracks, False


def _look_up(run: Run, performer: PerformerTodo) -> Lookup:
    """Match one performer with at most one request in Development Mode (safe in a thread)."""
    override = run.overrides.get(performer.key, "")
    known_id = override or performer.source_artist_id
    candidates, tracks, reused = _candidates_and_tracks(run, performer, known_id)
    match = match_performer(
        performer.name,
        candidates,
        source_artist_id=performer.source_artist_id,
        override_artist_id=override,
        facts=performer.facts,
        tracks=tracks,
    )
    if match.tied and performer.facts.recent_since:
        # Namesakes nothing told apart: one more request asks which of them released lately
        # (for "X & The Y Band" matched on its lead, which of the X's).
        searched = (lead_name(performer.name) if match.method == "fuzzy" else "") or performer.name
        recent = run.api.search_recent_tracks(
            searched, int(performer.facts.recent_since[:4]), run.now.year
        )
        match = break_tie(match, candidates, recent, performer.facts)
        tracks = [*tracks, *recent]
    if reused and match.evidence == ONLY_CANDIDATE:
        # Another name's search saw one artist of this name; a search of its own might see a
        # namesake too, so this is not "the only candidate" for certain.
        match = dataclasses.replace(match, confidence=MEDIUM, evidence=REUSED_ONLY_CANDIDATE)
    if match.found and not match.spotify_artist_name:
        credited = dict(
            pair
            for track in tracks
            for pair in zip(track.artist_ids, track.artist_names, strict=False)
        )
        match = dataclasses.replace(
            match, spotify_artist_name=credited.get(match.spotify_artist_id, "")
        )
    source = "top_tracks" if run.probe.mode == "extended" else "search"
    if match.found and run.probe.mode != "development" and not known_id:
        top = run.probe.try_top_tracks(match.spotify_artist_id)
        if top is not None:
            tracks, source = top, "top_tracks"
    return Lookup(
        performer,
        match,
        tracks_of(match.spotify_artist_id, tracks, TRACKS_PER_ARTIST) if match.found else [],
        source,
    )


def record_lookup(run: Run, lookup: Lookup) -> None:
    """Keep what a look-up found (in the calling thread: the book is not shared)."""
    run.book.record_match(lookup.performer, lookup.match, run.now)
    run.summary.new_matches[lookup.match.method] += 1
    if lookup.match.found:
        run.summary.matches_by_confidence[lookup.match.confidence] += 1
    if lookup.tracks:
        run.summary.tracks_written += run.book.record_tracks(
            lookup.match.spotify_artist_id, lookup.tracks, lookup.source, run.now
        )


def tracks_due(
    book: TrackBook,
    concerts: pd.DataFrame,
    now: datetime,
    wanted: Mapping[str, int] | None = None,
) -> list[tuple[str, str]]:
    """Return (artist id, name) of matched artists lacking fresh tracks, in refresh order.

    The order is the look-ups' (`order_performers`): wanted tiers first, soonest show first;
    an artist on several performers' bills takes its best tier and its soonest show.
    """
    tier = wanted_first(wanted)
    stale_before = (now - TRACKS_STALE_AFTER).strftime(ISO_UTC)
    first_show = with_performer_keys(concerts).groupby("performer_key")["starts_at"].min()
    due: dict[str, tuple[str, tuple[tuple[bool, int], str]]] = {}  # id -> (name, sort key)
    for key, row in book.artists.items():
        artist_id = str(row["spotify_artist_id"] or "")
        if not artist_id or key not in first_show.index:
            continue
        fetched = [str(track["fetched_at"]) for track in book.tracks.get(artist_id, [])]
        missing = not fetched and str(row.get("tracks_checked_at") or "") < stale_before
        if missing or (fetched and min(fetched) < stale_before):
            order = (tier(str(key)), str(first_show[key]))
            if artist_id not in due or order < due[artist_id][1]:
                due[artist_id] = (str(row["spotify_artist_name"] or row["performer_name"]), order)
    ordered = sorted(due.items(), key=lambda item: item[1][1])
    return [(artist_id, name) for artist_id, (name, _) in ordered]


@dataclass(frozen=True)
class Refresh:
    """Tracks found for one matched artist."""

    artist_id: str
    tracks: list[TrackRecord]
    source: str


def _fetch_tracks(run: Run, wanted: tuple[str, str]) -> Refresh | SpotifyError:
    """Fetch one artist's tracks (top-tracks where it answers, else search); safe in a thread."""
    artist_id, name = wanted
    try:
        top = run.probe.try_top_tracks(artist_id)
        if top is not None:
            return Refresh(artist_id, top[:TRACKS_PER_ARTIST], "top_tracks")
        with run.seen.lock:
            first_page = 1 if normalize_name(name) in run.seen.searched_names else 0
        return Refresh(
            artist_id, _search_artist_tracks(run.api, artist_id, name, first_page), "search"
        )
    except (SpotifyUnavailableError, SpotifyRefusedError, SpotifyShapeError) as error:
        if isinstance(error, SpotifyRefusedError) and error.status == 401:
            raise
        logger.warning(
            "tracks skipped for this run", extra={"artist_id": artist_id, "error": str(error)}
        )
        return error


def refresh_tracks(
    run: Run,
    concerts: pd.DataFrame,
    checkpoint: Callable[[], None],
    workers: int,
    wanted: Mapping[str, int] | None = None,
) -> None:
    """Fill matched artists that have no tracks, then refresh stale ones, while budget lasts."""

    def record(outcome: Refresh | SpotifyError) -> None:
        if isinstance(outcome, Refresh):
            run.summary.tracks_written += run.book.record_tracks(
                outcome.artist_id, outcome.tracks, outcome.source, run.now
            )
            run.summary.artists_with_tracks_refreshed += 1
            checkpoint()

    due = tracks_due(run.book, concerts, run.now, wanted)
    in_parallel(run, due, _fetch_tracks, record, workers)


def _search_artist_tracks(
    api: SpotifyApi, artist_id: str, name: str, first_page: int
) -> list[TrackRecord]:
    """Page a track search until the artist's own tracks appear (a namesake may come first)."""
    for page in range(first_page, TRACK_SEARCH_PAGES):
        found = tracks_of(artist_id, api.search_tracks(name, offset=page * 10), TRACKS_PER_ARTIST)
        if found:
            return found
    return []
