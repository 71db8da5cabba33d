"""Hold what one matching run shares: its summary, the top-tracks probe, answers seen so far."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from etl.track_book import TrackBook
from etl.track_plan import PerformerTodo
from shared.names import normalize_name
from shared.spotify import SpotifyApi, SpotifyRefusedError
from shared.spotify_records import ArtistRecord, TrackRecord

logger = logging.getLogger(__name__)


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


class SeenResults:
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
class Run:
    """What one matching run works with."""

    api: SpotifyApi
    book: TrackBook
    probe: TopTracksProbe
    seen: SeenResults
    overrides: dict[str, str]
    summary: TracksSummary
    now: datetime
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
