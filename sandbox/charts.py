"""Playlists whose contents churn a day at a time: Spotify's Top 50 charts and users' own."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sandbox.listening import SandboxClock

# Spotify's own chart playlists, by their real ids. Since 2024-11-27 they answer 404 to apps in
# Development Mode (PLATFORM.md; spotipy#1175); Extended Quota apps can read them.
TOP_50_GLOBAL_ID = "37i9dQZEVXbMDoHDwVN2tF"
TOP_50_USA_ID = "37i9dQZEVXbLRQDuF5jeBp"
VIRAL_50_GLOBAL_ID = "37i9dQZEVXbLiRSasKsNU9"
CHART_SIZE = 50
DAY = timedelta(days=1)

Pool = Literal["popular", "all"]


@dataclass(frozen=True)
class Churn:
    """How much a chart changes from one day to the next.

    No published figure for the daily turnover of a Spotify Top 50 was found. What was found:
    Harris et al., "Analyzing the Spotify Top 200 Through a Point Process Lens" (Cornell,
    arXiv:1910.01445, 2019) model 20 months of the daily US Top 200 and study songs' longevity,
    without a per-day entry count in the parts we could read; Chartmetric's analysis of Today's
    Top Hits (Hypebot, 2017-12) finds most of that 50-track playlist's rotation on Fridays
    (New Music Friday); Spotify's community answer that the Viral 50 is picked by an editorial
    team on sharing, not streams (community.spotify.com, "daily top 50 and viral top 50"), which
    makes it move faster than the most-streamed chart. So the figures are a plausible choice:
    a Top 50 gains 2-5 tracks a day (and loses as many, mostly from the bottom), a Viral 50 5-10;
    about a third of a Top 50's entries are re-entries of a track that left within two months.
    Every day is alike: the Friday peak is not modelled, as a chart day is a function of the
    seed, the playlist and the sandbox day alone, whatever the calendar.
    """

    entries_low: int
    entries_high: int
    reentry_share: float  # of a day's entries, when a track that left lately can come back
    max_move: int  # a staying track's noise, in places; see `max_daily_move`
    reentry_window_days: int = 60
    pool: Pool = "popular"  # "popular": the catalogue's most popular quarter; "all": any track

    def max_daily_move(self) -> int:
        """Return the most places a track that stays on the chart can move in a day: its own
        noise passes at most 2 * max_move others, and leavers above or entries above shift it."""
        return 2 * self.max_move + self.entries_high


TOP_CHURN = Churn(entries_low=2, entries_high=5, reentry_share=0.35, max_move=2)
VIRAL_CHURN = Churn(entries_low=5, entries_high=10, reentry_share=0.15, max_move=4, pool="all")
CHURNS: dict[str, Churn] = {"top": TOP_CHURN, "viral": VIRAL_CHURN}


@dataclass(frozen=True)
class ChartSpec:
    """A churning playlist: who owns it, who may edit it, and how it changes."""

    playlist_id: str
    name: str
    description: str
    owner_id: str
    churn: Churn
    size: int = CHART_SIZE
    collaborators: frozenset[str] = field(default_factory=frozenset)
    public: bool = True
    collaborative: bool = False

    def meta(self) -> dict[str, Any]:
        """Return the playlist's metadata as the playlist store keeps it."""
        return {
            "id": self.playlist_id,
            "name": self.name,
            "description": self.description,
            "public": self.public,
            "collaborative": self.collaborative,
            "type": "playlist",
            "uri": f"spotify:playlist:{self.playlist_id}",
        }

    @classmethod
    def from_world(cls, raw: Mapping[str, Any]) -> ChartSpec:
        """Return the spec of a world file's `spotify.daily_playlists` entry."""
        return cls(
            playlist_id=str(raw["id"]),
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            owner_id=str(raw["owner_id"]),
            churn=CHURNS[str(raw.get("churn", "top"))],
            size=int(raw.get("size", CHART_SIZE)),
            collaborators=frozenset(raw.get("collaborators", [])),
            public=bool(raw.get("public", False)),
            collaborative=bool(raw.get("collaborative", False)),
        )


SPOTIFY_CHARTS = (
    ChartSpec(
        TOP_50_GLOBAL_ID,
        "Top 50 - Global",
        "Your daily update of the most played tracks right now - Global.",
        "spotify",
        TOP_CHURN,
    ),
    ChartSpec(
        TOP_50_USA_ID,
        "Top 50 - USA",
        "Your daily update of the most played tracks right now - USA.",
        "spotify",
        TOP_CHURN,
    ),
    ChartSpec(
        VIRAL_50_GLOBAL_ID,
        "Viral 50 - Global",
        "Your daily update of the most viral tracks right now - Global.",
        "spotify",
        VIRAL_CHURN,
    ),
)


@dataclass(frozen=True)
class ChartDay:
    """A chart on one sandbox day: its tracks in order, and the day each (last) entered."""

    day: int
    track_ids: tuple[str, ...]
    entered: tuple[int, ...]
    left: tuple[str, ...] = ()  # what left since the day before
    new: tuple[str, ...] = ()  # what entered since the day before (re-entries too)


def sandbox_day(clock: SandboxClock) -> int:
    """Return the sandbox day: whole days from the clock's start date to its now (UTC dates)."""
    return (clock.now().date() - clock.start.date()).days


def day_started(clock: SandboxClock, day: int) -> str:
    """Return midnight UTC of a sandbox day as Spotify writes times (a chart's `added_at`)."""
    midnight = datetime.combine(clock.start.date(), datetime.min.time(), UTC) + day * DAY
    return midnight.strftime("%Y-%m-%dT%H:%M:%SZ")


def chart_pool(tracks: Mapping[str, Mapping[str, Any]], pool: Pool) -> list[str]:
    """Return the track ids a chart draws from: the most popular quarter, or every track."""
    if pool == "all":
        return sorted(tracks)
    ranked = sorted(tracks, key=lambda t: (-int(tracks[t].get("popularity", 0)), t))
    return ranked[: max(CHART_SIZE * 4, len(ranked) // 4)]


def _rng(*key: object) -> random.Random:
    text = ":".join(str(part) for part in key)
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))


class ChurningChart:
    """A chart's days, each made from the day before and kept: the same for a seed, a playlist
    and a day, however and in whatever order they are asked for."""

    def __init__(self, spec: ChartSpec, pool: Sequence[str], seed: int) -> None:
        self.spec = spec
        self.pool = list(pool)
        self.size = spec.size
        self.seed = seed
        self.lock = threading.Lock()
        self.days: list[ChartDay] = []
        self.left_on: dict[str, int] = {}  # tracks that left lately, and the day they left

    def on(self, day: int) -> ChartDay:
        """Return the chart on a sandbox day (day 0 at the least), making the days up to it."""
        day = max(0, day)
        with self.lock:
            if not self.days:
                self.days.append(self._first_day())
            while len(self.days) <= day:
                self.days.append(self._next_day(self.days[-1]))
            return self.days[day]

    def _first_day(self) -> ChartDay:
        """Make day 0: a chart whose tracks entered up to three months ago, and some tracks
        that left in the weeks before, so that re-entries can start at once."""
        rng = _rng(self.seed, self.spec.playlist_id, 0)
        window = self.spec.churn.reentry_window_days
        picked = rng.sample(self.pool, min(len(self.pool), self.size * 3 // 2))
        track_ids = picked[: self.size]
        for track_id in picked[self.size :]:
            self.left_on[track_id] = -rng.randint(1, window)
        entered = tuple(-rng.randint(0, 90) for _ in track_ids)
        return ChartDay(0, tuple(track_ids), entered)

    def _next_day(self, before: ChartDay) -> ChartDay:
        day = before.day + 1
        churn = self.spec.churn
        rng = _rng(self.seed, self.spec.playlist_id, day)
        count = min(rng.randint(churn.entries_low, churn.entries_high), self.size - 1)
        entered_on = dict(zip(before.track_ids, before.entered, strict=True))
        # Leavers, mostly from the bottom: a weighted sample without replacement (each position
        # keyed by random ** (1 / weight), the largest keys win), weight growing with position.
        keys = [rng.random() ** (1 / (position + 1) ** 3) for position in range(self.size)]
        leaving = set(sorted(range(self.size), key=lambda p: -keys[p])[:count])
        left = tuple(t for p, t in enumerate(before.track_ids) if p in leaving)
        # The others move a few places: each keeps its place give or take some noise.
        staying = [
            (position + rng.uniform(-churn.max_move, churn.max_move), track_id)
            for position, track_id in enumerate(before.track_ids)
            if position not in leaving
        ]
        order = [track_id for _, track_id in sorted(staying)]
        new = self._entries(rng, day, count, set(before.track_ids))
        for track_id in new:
            # Most debut low, a few high (a big release).
            order.insert(int(rng.triangular(0, len(order), len(order))), track_id)
            entered_on[track_id] = day
            self.left_on.pop(track_id, None)
        for track_id in left:
            self.left_on[track_id] = day
        window = churn.reentry_window_days
        self.left_on = {t: d for t, d in self.left_on.items() if day - d <= window}
        return ChartDay(day, tuple(order), tuple(entered_on[t] for t in order), left, tuple(new))

    def _entries(self, rng: random.Random, day: int, count: int, charted: set[str]) -> list[str]:
        """Choose a day's entries: some tracks that left lately, the others new to the chart."""
        returning = [t for t in self.left_on if t not in charted and day - self.left_on[t] > 1]
        taken = set(charted)
        new: list[str] = []
        for _ in range(count):
            # A fresh pick from a small pool may have taken a track that was waiting to return.
            returning = [t for t in returning if t not in taken]
            if returning and rng.random() < self.spec.churn.reentry_share:
                track_id = returning.pop(rng.randrange(len(returning)))
            else:
                track_id = self._fresh(rng, taken)
            taken.add(track_id)
            new.append(track_id)
        return new

    def _fresh(self, rng: random.Random, taken: set[str]) -> str:
        """Return a track of the pool neither charted nor charted lately (any uncharted one in
        a small pool)."""
        for _ in range(20):
            track_id = rng.choice(self.pool)
            if track_id not in taken and track_id not in self.left_on:
                return track_id
        return rng.choice([t for t in self.pool if t not in taken])


def build_charts(
    specs: Iterable[ChartSpec], tracks: Mapping[str, Mapping[str, Any]], seed: int
) -> dict[str, ChurningChart]:
    """Return each spec's chart, drawn from its pool of the catalogue's tracks, by playlist id."""
    pools: dict[Pool, list[str]] = {}
    charts = {}
    for spec in specs:
        pool = pools.setdefault(spec.churn.pool, chart_pool(tracks, spec.churn.pool))
        # A chart needs room to churn: its tracks, a day's entries and some to spare.
        if len(pool) >= spec.size + 2 * spec.churn.entries_high:
            charts[spec.playlist_id] = ChurningChart(spec, pool, seed)
    return charts
