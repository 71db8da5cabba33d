"""Simulated listening of the sandbox's users: seeded plays, made lazily a day at a time."""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.catalog import Catalog

# Spotify counts a stream at 30 s; shorter plays are not listed by recently-played.
LISTED_MS = 30_000
# GET /me/player/recently-played reaches the last 50 plays, no further (PLATFORM.md).
REACHABLE_PLAYS = 50
# How far back the sandbox's history reaches from the clock's start.
HISTORY_DAYS = 90
# time_range of /me/top: about 4 weeks, 6 months and a year (Spotify's reference).
TIME_RANGE_DAYS = {"short_term": 28, "medium_term": 182, "long_term": 365}
# One play in ten ends on a whole second and is reported without milliseconds, as in
# chekos__recently_played__2024-12-25_played_at-no-millis.json.
NO_MILLIS_SHARE = 0.1
SKIP_SHARE = 0.12
FAVOURITE_ARTISTS = 40
ERA_DAYS = 28
ERA_ARTISTS = 6
PLATFORMS = ["android", "ios", "windows", "osx", "web_player"]
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Play:
    """One play of a user: a track or a podcast episode, from its start to its end (UTC ms)."""

    user_id: str
    start_ms: int
    end_ms: int
    track_id: str | None
    episode_id: str | None
    context: tuple[str, str] | None  # ("playlist" | "album" | "artist", id)
    reason_start: str
    reason_end: str
    shuffle: bool
    platform: str
    offline: bool

    @property
    def ms_played(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def skipped(self) -> bool:
        return self.reason_end == "fwdbtn" and self.ms_played < LISTED_MS

    @property
    def listed(self) -> bool:
        """Tell whether recently-played lists the play: a track played 30 s or more."""
        return self.track_id is not None and self.ms_played >= LISTED_MS


def ms_of(moment: datetime) -> int:
    """Return a timezone-aware time as milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def played_at(end_ms: int) -> str:
    """Write a play's end as recently-played does: UTC, milliseconds unless there are none."""
    moment = datetime.fromtimestamp(end_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}Z" if end_ms % 1000 == 0 else f"{moment}.{end_ms % 1000:03d}Z"


class SandboxClock:
    """The sandbox's "now": where it started, moved forward only by its controls."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = (start or datetime.now(UTC)).replace(microsecond=0)
        self.hours = 0.0
        self.lock = threading.Lock()

    def now(self) -> datetime:
        with self.lock:
            return self.start + timedelta(hours=self.hours)

    def rewind(self) -> None:
        """Go back to where the clock started (tests give each test the same sandbox now)."""
        with self.lock:
            self.hours = 0.0

    def advance(self, hours: float) -> datetime:
        """Move the clock forward by some hours; return the new now."""
        with self.lock:
            self.hours += hours
            return self.start + timedelta(hours=self.hours)


def _rng(*key: object) -> random.Random:
    text = ":".join(str(part) for part in key)
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))


class Listening:
    """Every user's plays, the same for a seed and a catalogue, made a day at a time."""

    def __init__(
        self,
        catalog: Catalog,
        user_ids: list[str],
        playlists: dict[str, list[tuple[str, list[str]]]],
        seed: int,
    ) -> None:
        self.catalog = catalog
        self.user_ids = list(user_ids)
        self.seed = seed
        self.playlists = {
            user: [(pid, [t for t in ids if t in catalog.tracks]) for pid, ids in owned]
            for user, owned in playlists.items()
        }
        self.playlists = {
            user: [(pid, ids) for pid, ids in owned if ids]
            for user, owned in self.playlists.items()
        }
        self.artist_ids = sorted(a for a in catalog.artists if catalog.tracks_by_artist.get(a))
        albums: dict[str, list[dict[str, Any]]] = {}
        for track in catalog.tracks.values():
            albums.setdefault(track["album"]["id"], []).append(track)
        self.album_tracks = {
            album: [t["id"] for t in sorted(tracks, key=lambda t: t.get("track_number", 0))]
            for album, tracks in albums.items()
        }
        self.episode_ids = sorted(catalog.episodes)
        self.lock = threading.Lock()
        self.days: dict[tuple[str, date], list[Play]] = {}
        self.favourites: dict[str, list[str]] = {}

    @classmethod
    def from_world(cls, world: dict[str, Any], catalog: Catalog, seed: int) -> Listening:
        """Build the listening of a world file's users, with their own playlists as contexts."""
        spotify = world.get("spotify", {})
        user_ids = [user["id"] for user in spotify.get("users", [])]
        playlists: dict[str, list[tuple[str, list[str]]]] = {user: [] for user in user_ids}
        for playlist in spotify.get("playlists", []):
            if playlist.get("owner_id") in playlists:
                ids = [t for t in playlist.get("track_ids", []) if isinstance(t, str)]
                playlists[playlist["owner_id"]].append((playlist["id"], ids))
        return cls(catalog, user_ids, playlists, seed)

    def _favourites(self, user_id: str) -> list[str]:
        """Return a user's favourite artists, most loved first (seeded)."""
        with self.lock:
            if user_id not in self.favourites:
                rng = _rng(self.seed, "taste", user_id)
                count = min(FAVOURITE_ARTISTS, len(self.artist_ids))
                self.favourites[user_id] = rng.sample(self.artist_ids, count)
            return self.favourites[user_id]

    def _era_artists(self, user_id: str, day: date) -> list[str]:
        """Return the artists a user is into for a few weeks: what makes short_term differ."""
        era = day.toordinal() // ERA_DAYS
        rng = _rng(self.seed, "era", user_id, era)
        return rng.sample(self.artist_ids, min(ERA_ARTISTS, len(self.artist_ids)))

    def _pick_artist(self, rng: random.Random, user_id: str, day: date) -> str:
        favourites = self._favourites(user_id)
        if rng.random() < 0.35:
            return rng.choice(self._era_artists(user_id, day))
        weights = [1 / (rank + 1) ** 0.8 for rank in range(len(favourites))]
        return rng.choices(favourites, weights)[0]

    def _artist_track(self, rng: random.Random, artist_id: str) -> str:
        tracks = self.catalog.tracks_by_artist[artist_id]
        return str(tracks[min(int(rng.expovariate(0.4)), len(tracks) - 1)]["id"])

    def plays_on(self, user_id: str, day: date) -> list[Play]:
        """Return a user's plays that start on a UTC day, oldest first (made once, then kept)."""
        key = (user_id, day)
        with self.lock:
            cached = self.days.get(key)
        if cached is not None:
            return cached
        plays = self._make_day(user_id, day) if self.artist_ids else []
        with self.lock:
            self.days.setdefault(key, plays)
        return plays

    def _make_day(self, user_id: str, day: date) -> list[Play]:
        rng = _rng(self.seed, "day", user_id, day.isoformat())
        if rng.random() < 0.05:
            return []
        platform_rng = _rng(self.seed, "platform", user_id)
        platform = platform_rng.choice(PLATFORMS)
        midnight = ms_of(datetime(day.year, day.month, day.day, tzinfo=UTC))
        # Waking hours: sessions start between 07:00 and 23:00 UTC, one after another.
        starts = sorted(rng.randint(7 * 3600, 23 * 3600) * 1000 for _ in range(rng.randint(2, 5)))
        plays: list[Play] = []
        at = midnight
        for offset in starts:
            at = max(at + rng.randint(60_000, 600_000), midnight + offset + rng.randint(0, 999))
            session = self._session(rng, user_id, day, at, platform)
            plays.extend(session)
            if session:
                at = session[-1].end_ms
        return plays

    def _session_tracks(
        self, rng: random.Random, user_id: str, day: date, length: int
    ) -> tuple[tuple[str, str] | None, list[str]]:
        """Choose what a session plays: a playlist, an album, an artist, or tracks one by one."""
        roll = rng.random()
        owned = self.playlists.get(user_id, [])
        if roll < 0.3 and owned:
            playlist_id, ids = rng.choice(owned)
            return ("playlist", playlist_id), [rng.choice(ids) for _ in range(length)]
        if roll < 0.55:
            artist_id = self._pick_artist(rng, user_id, day)
            album_id = rng.choice(self.catalog.tracks_by_artist[artist_id])["album"]["id"]
            return ("album", album_id), list(self.album_tracks[album_id])[:length]
        if roll < 0.7:
            artist_id = self._pick_artist(rng, user_id, day)
            return ("artist", artist_id), [
                self._artist_track(rng, artist_id) for _ in range(length)
            ]
        return None, [
            self._artist_track(rng, self._pick_artist(rng, user_id, day)) for _ in range(length)
        ]

    def _session(
        self, rng: random.Random, user_id: str, day: date, at: int, platform: str
    ) -> list[Play]:
        if self.episode_ids and rng.random() < 0.08:
            episode = self.catalog.episodes[rng.choice(self.episode_ids)]
            listened = min(int(episode["duration_ms"]), rng.randint(5, 45) * 60_000)
            end = at + listened + rng.randint(0, 999)
            return [
                Play(
                    user_id=user_id,
                    start_ms=at,
                    end_ms=end,
                    track_id=None,
                    episode_id=episode["id"],
                    context=None,
                    reason_start="clickrow",
                    reason_end="endplay",
                    shuffle=False,
                    platform=platform,
                    offline=False,
                )
            ]
        context, track_ids = self._session_tracks(rng, user_id, day, rng.randint(4, 16))
        shuffle = rng.random() < 0.6
        offline = rng.random() < 0.03
        plays = []
        reason_start = rng.choice(["clickrow", "playbtn", "appload"])
        for index, track_id in enumerate(track_ids):
            duration = int(self.catalog.tracks[track_id]["duration_ms"])
            last = index == len(track_ids) - 1
            if rng.random() < SKIP_SHARE:
                listened, reason_end = rng.randint(1500, LISTED_MS - 1000), "fwdbtn"
            elif last and rng.random() < 0.5:
                listened = rng.randint(LISTED_MS + 1000, max(LISTED_MS + 2000, duration))
                reason_end = rng.choice(["endplay", "logout"])
            else:
                listened, reason_end = duration, "trackdone"
            end = at + listened
            if rng.random() < NO_MILLIS_SHARE:
                end -= end % 1000
            plays.append(
                Play(
                    user_id=user_id,
                    start_ms=at,
                    end_ms=end,
                    track_id=track_id,
                    episode_id=None,
                    context=context,
                    reason_start=reason_start,
                    reason_end=reason_end,
                    shuffle=shuffle,
                    platform=platform,
                    offline=offline,
                )
            )
            reason_start = "fwdbtn" if reason_end == "fwdbtn" else "trackdone"
            at = end + rng.randint(0, 1500)
        return plays

    def plays_between(self, user_id: str, since_ms: int, until_ms: int) -> list[Play]:
        """Return the plays that ended in [since, until], oldest end first."""
        first = datetime.fromtimestamp(since_ms / 1000, UTC).date() - timedelta(days=1)
        last = datetime.fromtimestamp(until_ms / 1000, UTC).date()
        plays = [
            play
            for day in _days(first, last)
            for play in self.plays_on(user_id, day)
            if since_ms <= play.end_ms <= until_ms
        ]
        return sorted(plays, key=lambda play: play.end_ms)

    def recent_plays(self, user_id: str, now_ms: int, count: int = REACHABLE_PLAYS) -> list[Play]:
        """Return the last `count` listed plays that ended by now, newest first."""
        found: list[Play] = []
        day = datetime.fromtimestamp(now_ms / 1000, UTC).date()
        floor = day - timedelta(days=HISTORY_DAYS + 370)
        while len(found) < count and day >= floor:
            ended = [p for p in self.plays_on(user_id, day) if p.listed and p.end_ms <= now_ms]
            found.extend(sorted(ended, key=lambda play: -play.end_ms))
            day -= timedelta(days=1)
        return found[:count]

    def top(self, user_id: str, now_ms: int, time_range: str) -> tuple[list[str], list[str]]:
        """Return a user's artist ids and track ids, most played first, over a time range."""
        since = now_ms - TIME_RANGE_DAYS[time_range] * DAY_MS
        plays = [p for p in self.plays_between(user_id, since, now_ms) if p.listed]
        tracks: Counter[str] = Counter()
        artists: Counter[str] = Counter()
        for play in plays:
            assert play.track_id is not None
            tracks[play.track_id] += 1
            for artist in self.catalog.tracks[play.track_id]["artists"]:
                artists[artist["id"]] += 1
        return (
            sorted(artists, key=lambda a: (-artists[a], a)),
            sorted(tracks, key=lambda t: (-tracks[t], t)),
        )

    def followed_artists(self, user_id: str) -> list[str]:
        """Return the artists a user follows, by id: many favourites and some others (seeded)."""
        rng = _rng(self.seed, "follows", user_id)
        favourites = self._favourites(user_id)
        chosen = set(rng.sample(favourites, len(favourites) * 3 // 5))
        others = [a for a in self.artist_ids if a not in chosen]
        chosen.update(rng.sample(others, min(len(others), rng.randint(15, 45))))
        return sorted(chosen)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
