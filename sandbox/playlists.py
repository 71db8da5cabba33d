"""Playlists of the sandbox's Spotify: users' own, created ones, each user's Discover Weekly,
and the playlists that churn daily (Spotify's charts, some users' own)."""

from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.charts import ChurningChart, day_started, sandbox_day
from sandbox.listening import SandboxClock
from sandbox.world import discover_weekly_id

DISCOVER_WEEKLY_SIZE = 30


@dataclass
class Playlist:
    """A playlist, its owner and its items: a track id, an episode's or a local file's URI, or
    None for a track removed from Spotify (the world file's format)."""

    meta: dict[str, Any]
    owner_id: str
    track_ids: list[str | None]
    added_at: list[str]
    created_here: bool = False
    collaborators: set[str] = field(default_factory=set)
    snapshot: int = 1

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    def can_edit(self, user_id: str | None) -> bool:
        return user_id is not None and (user_id == self.owner_id or user_id in self.collaborators)


def spotify_time(moment: datetime) -> str:
    """Write a time as Spotify writes it: UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlaylistStore:
    """All playlists, with Discover Weekly made afresh for each sandbox week and the churning
    playlists brought to the sandbox day whenever one is read or listed.

    A churning playlist's owner or collaborators may edit it; the edits last until the next
    sandbox day, which replaces its contents with that day's, as the program behind a real
    one would.
    """

    def __init__(
        self,
        world_playlists: list[dict[str, Any]],
        track_ids: list[str],
        user_ids: list[str],
        seed: int,
        *,
        charts: dict[str, ChurningChart] | None = None,
        clock: SandboxClock | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.discover_weekly_owner = {discover_weekly_id(user_id): user_id for user_id in user_ids}
        self.seed = seed
        self.week = 0
        self.catalog_track_ids = track_ids
        self.playlists: dict[str, Playlist] = {}
        self.clock = clock or SandboxClock()
        for raw in world_playlists:
            meta = {k: v for k, v in raw.items() if k not in ("owner_id", "track_ids")}
            ids = list(raw.get("track_ids", []))
            self.playlists[meta["id"]] = Playlist(
                meta, raw["owner_id"], ids, [spotify_time(self.clock.start)] * len(ids)
            )
        self.charts = charts or {}
        self.chart_days: dict[str, int] = {}  # the sandbox day each churning playlist holds
        for chart in self.charts.values():
            spec = chart.spec
            self.playlists[spec.playlist_id] = Playlist(
                spec.meta(), spec.owner_id, [], [], collaborators=set(spec.collaborators)
            )

    def discover_weekly(self, user_id: str) -> Playlist:
        """Return this week's Discover Weekly of a user: 30 tracks, new every sandbox week."""
        playlist_id = discover_weekly_id(user_id)
        with self.lock:
            existing = self.playlists.get(playlist_id)
            if existing is not None and existing.meta.get("_week") == self.week:
                return existing
            rng = random.Random(f"{self.seed}:{user_id}:{self.week}")
            ids: list[str | None] = list(
                rng.sample(
                    self.catalog_track_ids, min(DISCOVER_WEEKLY_SIZE, len(self.catalog_track_ids))
                )
            )
            # Made early on the Monday of the sandbox week (never after the clock's now).
            week_day = (self.clock.start + timedelta(weeks=self.week)).date()
            monday = f"{week_day - timedelta(days=week_day.weekday())}T05:00:00Z"
            meta = {
                "id": playlist_id,
                "name": "Discover Weekly",
                "type": "playlist",
                "uri": f"spotify:playlist:{playlist_id}",
                "public": False,
                "collaborative": False,
                "description": "Your weekly mixtape of fresh music.",
                "_week": self.week,
            }
            playlist = Playlist(meta, "spotify", ids, [monday] * len(ids), snapshot=self.week + 1)
            self.playlists[playlist_id] = playlist
            return playlist

    def get(self, playlist_id: str) -> Playlist | None:
        """Return a playlist (a Discover Weekly as of this week), or None."""
        owner = self.discover_weekly_owner.get(playlist_id)
        if owner is not None:
            return self.discover_weekly(owner)
        if playlist_id in self.charts:
            self._bring_to_today(playlist_id)
        with self.lock:
            return self.playlists.get(playlist_id)

    def _bring_to_today(self, *playlist_ids: str) -> None:
        """Give churning playlists the contents of the sandbox day, unless they hold it."""
        day = sandbox_day(self.clock)
        for playlist_id in playlist_ids:
            with self.lock:
                if self.chart_days.get(playlist_id) == day:
                    continue
                chart_day = self.charts[playlist_id].on(day)
                playlist = self.playlists[playlist_id]
                playlist.track_ids = list(chart_day.track_ids)
                playlist.added_at = [day_started(self.clock, d) for d in chart_day.entered]
                playlist.snapshot += 1
                self.chart_days[playlist_id] = day

    def owned_or_followed(self, user_id: str) -> list[Playlist]:
        """Return a user's playlists as /me/playlists lists them: own ones, then Discover Weekly."""
        self._bring_to_today(*self.charts)
        with self.lock:
            own = [p for p in self.playlists.values() if p.can_edit(user_id)]
        return (
            [*own, self.discover_weekly(user_id)]
            if user_id in self.discover_weekly_owner.values()
            else own
        )

    def create(
        self, owner_id: str, name: str, description: str, public: bool, collaborative: bool
    ) -> Playlist:
        playlist_id = secrets.token_hex(11)
        meta = {
            "id": playlist_id,
            "name": name,
            "description": description,
            "public": public,
            "collaborative": collaborative,
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist_id}",
        }
        playlist = Playlist(meta, owner_id, [], [], created_here=True)
        with self.lock:
            self.playlists[playlist_id] = playlist
        return playlist

    def rewind_week(self) -> None:
        """Go back to the first sandbox week (with the clock's `rewind`)."""
        with self.lock:
            self.week = 0

    def advance_week(self) -> int:
        with self.lock:
            self.week += 1
            return self.week
