"""Keep the book of matches and tracks: artists.csv and top_tracks.csv, in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from etl.concerts import ISO_UTC
from etl.matching import Match
from etl.track_plan import PerformerTodo
from shared.datasets import ARTISTS, TOP_TRACKS, load_dataset, save_dataset
from shared.spotify_records import TrackRecord
from shared.storage import Store

TRACKS_PER_ARTIST = 10


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
