"""Match performers to Spotify artists and gather their tracks, spending requests sparingly."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pandas as pd

from etl.concerts import with_performer_keys
from etl.matching import (
    MEDIUM,
    ONLY_CANDIDATE,
    Match,
    ShowFacts,
    break_tie,
    lead_name,
    match_performer,
    tracks_of,
)
from shared.datasets import ARTISTS, OVERRIDES, TOP_TRACKS, load_dataset, save_dataset
from shared.names import normalize_name, performer_key
from shared.spotify import (
    BudgetExhaustedError,
    QuotaExhaustedError,
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
    SpotifyShapeError,
    SpotifyUnavailableError,
)
from shared.spotify_records import ArtistRecord, TrackRecord
from shared.storage import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
MISS_RETRY_AFTER = timedelta(days=90)
TRACKS_STALE_AFTER = timedelta(days=28)
TRACKS_PER_ARTIST = 10
TRACK_SEARCH_PAGES = 3
CHECKPOINT_EVERY = 200
CHECKPOINT_SECONDS = 60.0
PROGRESS_EVERY = 50
WORKERS = 6  # Spotify requests in flight at once
# An act on tour nearly always released something in the last three years; a namesake that did
# not is rarely the one on the bill. Used only to part namesakes nothing else told apart.
RECENT_RELEASES = timedelta(days=3 * 365)
FACTS_KEPT = 20  # titles and co-performers kept per performer as evidence
REUSED_ONLY_CANDIDATE = "only artist of the name in another search's answer"


@dataclass(frozen=True)
class PerformerTodo:
    """A performer to look up: its name, what the sources said of it, and its first show."""

    key: str
    name: str
    first_show: str
    source_artist_id: str = ""
    facts: ShowFacts = field(default_factory=ShowFacts)


@dataclass
class TracksSummary:
    """What the matching and tracks steps did, for the run report."""

    mode: str = "unknown"  # development | extended, as the probe found
    performers_new: int = 0
    performers_checked: int = 0
    performers_left: int = 0
    performers_failed: int = 0
    new_matches: Counter[str] = field(default_factory=Counter)
    reused_results: int = 0
    # high | medium (recent releases; an answer reused from another name's search) | low
    # (namesakes nothing told apart; names read from event titles)
    matches_by_confidence: Counter[str] = field(default_factory=Counter)
    artists_with_tracks_refreshed: int = 0
    tracks_written: int = 0
    checkpoints: int = 0
    stopped: str = ""  # "" | quota | budget

    @property
    def match_rate(self) -> float:
        found = sum(count for method, count in self.new_matches.items() if method != "none")
        total = sum(self.new_matches.values())
        return round(found / total, 4) if total else 0.0

    @property
    def message(self) -> str:
        if self.stopped == "quota":
            return f"quota exhausted, {self.performers_left} performers left for the next run"
        if self.stopped == "budget":
            return f"request budget spent, {self.performers_left} performers left for the next run"
        return "all performers checked"


def plan_performers(
    concerts: pd.DataFrame, artists: pd.DataFrame, overrides: dict[str, str], now: datetime
) -> list[PerformerTodo]:
    """Return the performers to look up, soonest show first: new, old misses, overridden."""
    if concerts.empty:
        return []
    cached = {row.performer_key: row for row in artists.itertuples(index=False)}
    retry_misses_before = (now - MISS_RETRY_AFTER).strftime(ISO_UTC)
    recent_since = (now - RECENT_RELEASES).strftime("%Y-%m-%d")
    frame = with_performer_keys(concerts)
    from_title = (
        frame["performer_from_title"]
        if "performer_from_title" in frame.columns
        else pd.Series(False, index=frame.index)
    )
    bills: dict[tuple[str, str], list[tuple[str, str]]] = {}  # event -> (name, key) on its bill
    for source, event_id, name, name_key in zip(
        frame["source"],
        frame["event_id"],
        frame["performer_name"],
        frame["performer_key"],
        strict=True,
    ):
        bills.setdefault((str(source), str(event_id)), []).append((str(name), str(name_key)))
    todo = []
    for key, group in frame.groupby("performer_key", sort=False):
        if not key:
            continue
        row = cached.get(key)
        override = overrides.get(str(key), "")
        if row is not None:
            overridden = bool(override) and override != row.spotify_artist_id
            stale_miss = row.match_method == "none" and str(row.checked_at) < retry_misses_before
            if not (overridden or stale_miss):
                continue
        links = [link for link in group["source_spotify_artist_id"] if link]
        name = str(group["performer_name"].mode().iloc[0])
        events = set(zip(group["source"].astype(str), group["event_id"].astype(str), strict=True))
        others = dict.fromkeys(
            other for event in events for other, other_key in bills[event] if other_key != key
        )
        facts = ShowFacts(
            genres=tuple(
                dict.fromkeys(g for cell in group["genres"] for g in str(cell).split("|") if g)
            ),
            titles=tuple(dict.fromkeys(str(t) for t in group["event_title"]))[:FACTS_KEPT],
            co_performers=tuple(others)[:FACTS_KEPT],
            from_title=bool(from_title[group.index].all()),
            recent_since=recent_since,
        )
        todo.append(
            PerformerTodo(
                key=str(key),
                name=name,
                first_show=str(group["starts_at"].min()),
                source_artist_id=links[0] if links else "",
                facts=facts,
            )
        )
    todo.sort(key=lambda performer: (performer.first_show, performer.key))
    return todo


def load_overrides(store: Store) -> dict[str, str]:
    """Return the hand-made performer → artist fixes, keyed by performer key."""
    frame, _ = load_dataset(store, OVERRIDES)
    return {
        performer_key(str(row.performer_key)): str(row.spotify_artist_id).strip()
        for row in frame.itertuples(index=False)
        if str(row.performer_key).strip() and str(row.spotify_artist_id).strip()
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]


class TrackBook:
    """artists.csv and top_tracks.csv in memory, saved whole at checkpoints."""

    def __init__(self, store: Store) -> None:
        self.store = store
        artists, self.artists_generation = load_dataset(store, ARTISTS)
        tracks, self.tracks_generation = load_dataset(store, TOP_TRACKS)
        self.artists: dict[str, dict[str, Any]] = {
            str(row["performer_key"]): row for row in _records(artists)
        }
        self.tracks: dict[str, list[dict[str, Any]]] = {}
        for row in _records(tracks):
            self.tracks.setdefault(str(row["spotify_artist_id"]), []).append(row)
        # Which performers each artist is matched to, so that stamping tracks is not a scan.
        self.performers_of: dict[str, set[str]] = {}
        for key, row in self.artists.items():
            self.performers_of.setdefault(str(row["spotify_artist_id"]), set()).add(key)
        self.dirty = False

    def artists_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.artists.values()), columns=ARTISTS.column_names)

    def record_match(self, performer: PerformerTodo, match: Match, now: datetime) -> None:
        previous = self.artists.get(performer.key, {})
        self.performers_of.get(str(previous.get("spotify_artist_id", "")), set()).discard(
            performer.key
        )
        self.performers_of.setdefault(match.spotify_artist_id, set()).add(performer.key)
        self.artists[performer.key] = {
            "performer_key": performer.key,
            "performer_name": performer.name,
            "spotify_artist_id": match.spotify_artist_id,
            "spotify_artist_name": match.spotify_artist_name,
            "match_method": match.method,
            "match_score": match.score,
            "match_confidence": match.confidence if match.found else "",
            "match_evidence": match.evidence,
            "checked_at": now.strftime(ISO_UTC),
            "tracks_checked_at": previous.get("tracks_checked_at", "")
            if previous.get("spotify_artist_id") == match.spotify_artist_id
            else "",
        }
        self.dirty = True

    def record_tracks(
        self, artist_id: str, tracks: Sequence[TrackRecord], source: str, now: datetime
    ) -> int:
        """Replace an artist's tracks; mark every performer matched to it as checked."""
        stamp = now.strftime(ISO_UTC)
        if tracks or artist_id not in self.tracks:
            self.tracks[artist_id] = [
                {
                    "spotify_artist_id": artist_id,
                    "rank": rank,
                    "track_id": track.id,
                    "track_name": track.name,
                    "album_name": track.album_name,
                    "release_date": track.release_date,
                    "duration_ms": track.duration_ms,
                    "explicit": track.explicit,
                    "isrc": track.isrc,
                    "tracks_source": source,
                    "fetched_at": stamp,
                }
                for rank, track in enumerate(tracks[:TRACKS_PER_ARTIST], start=1)
            ]
        for key in self.performers_of.get(artist_id, ()):
            self.artists[key]["tracks_checked_at"] = stamp
        self.dirty = True
        return len(self.tracks[artist_id])

    def save(self) -> None:
        """Write both datasets whole; a concurrent writer makes this fail instead of being lost."""
        if not self.dirty:
            return
        tracks = [row for rows in self.tracks.values() for row in rows]
        tracks_frame = pd.DataFrame(tracks, columns=TOP_TRACKS.column_names)
        self.artists_generation = save_dataset(
            self.store,
            ARTISTS,
            self.artists_frame(),
            if_generation_match=self.artists_generation or 0,
        )
        self.tracks_generation = save_dataset(
            self.store, TOP_TRACKS, tracks_frame, if_generation_match=self.tracks_generation or 0
        )
        self.dirty = False


class TopTracksProbe:
    """Find, once a run, whether the top-tracks endpoint answers (Extended Quota) or not."""

    def __init__(self, api: SpotifyApi) -> None:
        self.api = api
        self.mode = "unknown"

    def try_top_tracks(self, artist_id: str) -> list[TrackRecord] | None:
        """Return the artist's top tracks in extended mode; None in Development Mode."""
        if self.mode == "development":
            return None
        try:
            tracks = self.api.artist_top_tracks(artist_id)
        except SpotifyRefusedError as error:
            if error.status != 403:
                raise
            self.mode = "development"
            logger.info("top-tracks is refused: Development Mode, so tracks come from search")
            return None
        self.mode = "extended"
        return tracks


class _SeenResults:
    """This run's search answers: a performer another search already found costs nothing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.artists_by_name: dict[str, list[ArtistRecord]] = {}
        self.tracks_by_artist: dict[str, list[TrackRecord]] = {}
        self.searched_names: set[str] = set()  # artist-filter searches already made at offset 0

    def tracks_for(self, artist_id: str) -> list[TrackRecord] | None:
        with self.lock:
            return self.tracks_by_artist.get(artist_id)

    def searched(self, name: str) -> None:
        with self.lock:
            self.searched_names.add(normalize_name(name))

    def remember(self, artists: Sequence[ArtistRecord], tracks: Sequence[TrackRecord]) -> None:
        with self.lock:
            self._remember(artists, tracks)

    def _remember(self, artists: Sequence[ArtistRecord], tracks: Sequence[TrackRecord]) -> None:
        for artist in artists:
            same_name = self.artists_by_name.setdefault(normalize_name(artist.name), [])
            if artist.id not in [a.id for a in same_name]:
                same_name.append(artist)
        for track in tracks:
            for artist_id in track.artist_ids:
                known = self.tracks_by_artist.setdefault(artist_id, [])
                if track.id not in [t.id for t in known]:
                    known.append(track)

    def answer_for(
        self, performer: PerformerTodo
    ) -> tuple[list[ArtistRecord], list[TrackRecord]] | None:
        """Return candidates and tracks for a performer another search answered clearly."""
        with self.lock:
            same_name = list(self.artists_by_name.get(normalize_name(performer.name), []))
            if len(same_name) != 1 or not self.tracks_by_artist.get(same_name[0].id):
                return None
            return same_name, list(self.tracks_by_artist[same_name[0].id])


@dataclass
class _Run:
    """What one matching run works with."""

    api: SpotifyApi
    book: TrackBook
    probe: TopTracksProbe
    seen: _SeenResults
    overrides: dict[str, str]
    summary: TracksSummary
    now: datetime
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


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
) -> TracksSummary:
    """Match new performers (soonest shows first), then fill missing and stale tracks."""
    book = TrackBook(store)
    overrides = load_overrides(store)
    todo = plan_performers(concerts, book.artists_frame(), overrides, now)
    run = _Run(
        api,
        book,
        TopTracksProbe(api),
        _SeenResults(),
        overrides,
        TracksSummary(performers_new=len(todo)),
        now,
    )
    summary = run.summary
    last_checkpoint, since_checkpoint = clock(), 0
    started = clock()

    def checkpoint() -> None:
        nonlocal last_checkpoint, since_checkpoint
        since_checkpoint += 1
        if since_checkpoint >= checkpoint_every or clock() - last_checkpoint >= checkpoint_seconds:
            book.save()
            summary.checkpoints += 1
            last_checkpoint, since_checkpoint = clock(), 0

    def record(outcome: Lookup | SpotifyError) -> None:
        if isinstance(outcome, Lookup):
            _record(run, outcome)
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
            record(_guarded(run, _safely, queue.pop(0)))
        _in_parallel(run, queue, _safely, record, workers)
        _refresh_tracks(run, concerts, checkpoint, workers)
    except (QuotaExhaustedError, BudgetExhaustedError) as stop:
        summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
        logger.warning("stopped spending Spotify requests", extra={"reason": str(stop)})
    finally:
        book.save()
    summary.mode = run.probe.mode
    summary.performers_left = len(todo) - summary.performers_checked + summary.performers_failed
    logger.info(
        summary.message, extra={"requests": api.ledger.spent, "matches": dict(summary.new_matches)}
    )
    return summary


def _in_parallel(
    run: _Run,
    items: Sequence[T],
    work: Callable[[_Run, T], R | SpotifyError],
    record: Callable[[R | SpotifyError], None],
    workers: int,
) -> None:
    """Do work on items with several requests in flight; record results in order, here.

    On a stop (quota, budget, time) the work already finished is still recorded, since its
    requests were spent, and then the stop goes on up.
    """
    stop: QuotaExhaustedError | BudgetExhaustedError | None = None

    def finish(future: Future[R | SpotifyError]) -> None:
        nonlocal stop
        try:
            record(future.result())
        except (QuotaExhaustedError, BudgetExhaustedError) as error:
            stop = stop or error

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R | SpotifyError]] = deque()
        for item in items:
            if run.stopping.is_set():
                break
            pending.append(pool.submit(_guarded, run, work, item))
            while len(pending) >= 2 * workers and not run.stopping.is_set():
                finish(pending.popleft())
        for future in pending:
            finish(future)
    if stop is not None:
        raise stop


def _guarded(run: _Run, work: Callable[[_Run, T], R | SpotifyError], item: T) -> R | SpotifyError:
    """Run one piece of work; a stop also tells the other workers to stop."""
    if run.stopping.is_set():
        raise BudgetExhaustedError("stopping")
    try:
        return work(run, item)
    except (QuotaExhaustedError, BudgetExhaustedError):
        run.stopping.set()
        raise


def _safely(run: _Run, performer: PerformerTodo) -> Lookup | SpotifyError:
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


@dataclass(frozen=True)
class Lookup:
    """What looking a performer up found: the match, and its tracks."""

    performer: PerformerTodo
    match: Match
    tracks: list[TrackRecord]
    source: str


def _candidates_and_tracks(
    run: _Run, performer: PerformerTodo, known_id: str
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


def _look_up(run: _Run, performer: PerformerTodo) -> Lookup:
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


def _record(run: _Run, lookup: Lookup) -> None:
    """Keep what a look-up found (in the calling thread: the book is not shared)."""
    run.book.record_match(lookup.performer, lookup.match, run.now)
    run.summary.new_matches[lookup.match.method] += 1
    if lookup.match.found:
        run.summary.matches_by_confidence[lookup.match.confidence] += 1
    if lookup.tracks:
        run.summary.tracks_written += run.book.record_tracks(
            lookup.match.spotify_artist_id, lookup.tracks, lookup.source, run.now
        )


def _tracks_wanted(book: TrackBook, concerts: pd.DataFrame, now: datetime) -> list[tuple[str, str]]:
    """Return (artist id, name) of matched artists lacking fresh tracks, soonest show first."""
    stale_before = (now - TRACKS_STALE_AFTER).strftime(ISO_UTC)
    first_show = with_performer_keys(concerts).groupby("performer_key")["starts_at"].min()
    wanted: dict[str, tuple[str, str]] = {}
    for key, row in book.artists.items():
        artist_id = str(row["spotify_artist_id"] or "")
        if not artist_id or key not in first_show.index:
            continue
        fetched = [str(track["fetched_at"]) for track in book.tracks.get(artist_id, [])]
        missing = not fetched and str(row.get("tracks_checked_at") or "") < stale_before
        if missing or (fetched and min(fetched) < stale_before):
            show = str(first_show[key])
            if artist_id not in wanted or show < wanted[artist_id][1]:
                wanted[artist_id] = (str(row["spotify_artist_name"] or row["performer_name"]), show)
    ordered = sorted(wanted.items(), key=lambda item: item[1][1])
    return [(artist_id, name) for artist_id, (name, _) in ordered]


@dataclass(frozen=True)
class Refresh:
    """Tracks found for one matched artist."""

    artist_id: str
    tracks: list[TrackRecord]
    source: str


def _fetch_tracks(run: _Run, wanted: tuple[str, str]) -> Refresh | SpotifyError:
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


def _refresh_tracks(
    run: _Run, concerts: pd.DataFrame, checkpoint: Callable[[], None], workers: int
) -> None:
    """Fill matched artists that have no tracks, then refresh stale ones, while budget lasts."""

    def record(outcome: Refresh | SpotifyError) -> None:
        if isinstance(outcome, Refresh):
            run.summary.tracks_written += run.book.record_tracks(
                outcome.artist_id, outcome.tracks, outcome.source, run.now
            )
            run.summary.artists_with_tracks_refreshed += 1
            checkpoint()

    _in_parallel(run, _tracks_wanted(run.book, concerts, run.now), _fetch_tracks, record, workers)


def _search_artist_tracks(
    api: SpotifyApi, artist_id: str, name: str, first_page: int
) -> list[TrackRecord]:
    """Page a track search until the artist's own tracks appear (a namesake may come first)."""
    for page in range(first_page, TRACK_SEARCH_PAGES):
        found = tracks_of(artist_id, api.search_tracks(name, offset=page * 10), TRACKS_PER_ARTIST)
        if found:
            return found
    return []
